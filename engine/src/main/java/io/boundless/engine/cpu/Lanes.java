package io.boundless.engine.cpu;

import jdk.incubator.vector.FloatVector;

/**
 * A float vector's lane sum in a fixed order. {@code FloatVector.reduceLanes(ADD)} may add lanes in
 * any order, and the order can differ between interpreted and compiled code, so the same inputs
 * could give different last bits at different times: results would then depend on the batch and
 * on JIT timing, and a seeded request would not reproduce.
 */
public final class Lanes {
    public static float sum(FloatVector v) {
        if (v.length() == 8) {  // constant lane indices: each lane() is one extract, not a trip through memory
            return 0f + v.lane(0) + v.lane(1) + v.lane(2) + v.lane(3) + v.lane(4) + v.lane(5) + v.lane(6) + v.lane(7);
        }
        if (v.length() == 16) {  // AVX-512: the same, in two halves
            float lo = 0f + v.lane(0) + v.lane(1) + v.lane(2) + v.lane(3) + v.lane(4) + v.lane(5) + v.lane(6) + v.lane(7);
            float hi = 0f + v.lane(8) + v.lane(9) + v.lane(10) + v.lane(11) + v.lane(12) + v.lane(13) + v.lane(14) + v.lane(15);
            return lo + hi;
        }
        float s = 0;
        for (int i = 0; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }

    private Lanes() {}
}
