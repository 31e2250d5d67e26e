package io.boundless.engine.cpu;

import io.boundless.engine.kv.KvCache;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/** Attention of one query head over a sequence's cached keys and values, read through its block table. */
public final class Attention {

    /**
     * out[oOff, oOff + hd) = softmax(q · K[p] / sqrt(hd) for p in [first, last]) · V, where K[p] and V[p]
     * are key/value head {@code kvHead} at position p's slot in the paged cache.
     *
     * @param scores scratch of at least last - first + 1 floats
     */
    public static void head(float[] q, int qOff, MemorySegment keys, MemorySegment values, KvCache cache, int[] blockTable, int first, int last,
            int kvHead, int hd, int kvDim, float[] scores, float[] out, int oOff) {
        float scale = (float) (1.0 / Math.sqrt(hd));
        int n = last - first + 1;
        for (int p = first; p <= last; p++) {
            long kOff = ((long) cache.slot(blockTable, p) * kvDim + kvHead * hd) * Float.BYTES;
            scores[p - first] = MatMul.dotF32(keys, kOff, q, qOff, hd) * scale;
        }
        Ops.softmax(scores, 0, n);
        java.util.Arrays.fill(out, oOff, oOff + hd, 0f);
        for (int p = first; p <= last; p++) {
            float a = scores[p - first];
            long vOff = ((long) cache.slot(blockTable, p) * kvDim + kvHead * hd) * Float.BYTES;
            int d = 0;
            for (int bound = hd - hd % MatMul.F.length(); d < bound; d += MatMul.F.length()) {
                FloatVector.fromMemorySegment(MatMul.F, values, vOff + 4L * d, ByteOrder.LITTLE_ENDIAN)
                        .fma(FloatVector.broadcast(MatMul.F, a), FloatVector.fromArray(MatMul.F, out, oOff + d)).intoArray(out, oOff + d);
            }
            for (; d < hd; d++) {
                out[oOff + d] = Math.fma(values.get(ValueLayout.JAVA_FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN), vOff + 4L * d), a, out[oOff + d]);
            }
        }
    }

    private Attention() {}
}
