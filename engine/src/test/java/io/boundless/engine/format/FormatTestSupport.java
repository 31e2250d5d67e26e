package io.boundless.engine.format;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Halfs;
import io.boundless.engine.tensor.Quant;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Random tensors for format tests. */
final class FormatTestSupport {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static Tensor random(Arena arena, String name, DType dtype, SplittableRandom rnd, long... shape) {
        int n = (int) Tensor.numel(shape);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        MemorySegment seg = arena.allocate(dtype.byteSize(n), 8);
        switch (dtype) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    seg.set(F32, 4L * i, x[i]);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    seg.set(I16, 2L * i, Float.floatToFloat16(x[i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    seg.set(I16, 2L * i, Halfs.floatToBf16(x[i]));
                }
            }
            case Q8_0, Q4_0 -> Quant.quantize(dtype, x, seg);
        }
        return new Tensor(name, dtype, shape, seg);
    }

    private FormatTestSupport() {}
}
