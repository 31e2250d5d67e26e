package io.boundless.engine.cuda;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Halfs;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Turns a model's matrices into the bytes the device keeps, on the host: which {@link WeightType}
 * each one becomes, and the conversion (BF16 rounding, Q8_0 repacking into aligned int8 rows plus
 * a float scale per block). Several matrices with the same input width can become one (q | k | v,
 * gate | up) so that one kernel reads them in one pass.
 */
public final class HostWeights {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A matrix ready for upload: values [rows × cols] of {@code type}, and Q8's scales [rows × cols / 32] (else null). */
    public record Prepared(WeightType type, int rows, int cols, MemorySegment values, MemorySegment scales) {}

    /** The device type of a matrix stored as {@code source}. */
    public static WeightType target(DType source, Precision precision) {
        if (precision == Precision.F32) {
            return WeightType.F32;
        }
        return switch (source) {
            case F16 -> WeightType.F16;
            case Q8_0 -> WeightType.Q8;
            case F32, BF16, Q4_0 -> WeightType.BF16;
        };
    }

    /** One device type for matrices stacked into one: their common type, or BF16 when they differ. */
    public static WeightType target(Precision precision, Tensor... parts) {
        WeightType t = target(parts[0].dtype(), precision);
        for (Tensor p : parts) {
            if (target(p.dtype(), precision) != t) {
                return precision == Precision.F32 ? WeightType.F32 : WeightType.BF16;
            }
        }
        return t;
    }

    /** Stacks the parts' rows (all with the same number of columns) and converts them to {@code type}. */
    public static Prepared prepare(WeightType type, Arena arena, Tensor... parts) {
        int cols = Math.toIntExact(parts[0].shape()[1]);
        long rows = 0;
        for (Tensor p : parts) {
            long[] s = p.shape();
            if (s.length != 2 || s[1] != cols) {
                throw new IllegalArgumentException("cannot stack " + p + " under a matrix of " + cols + " columns");
            }
            rows += s[0];
        }
        MemorySegment values = arena.allocate(rows * cols * type.bytes, 16);
        MemorySegment scales = type == WeightType.Q8 ? arena.allocate(rows * cols / 32 * 4, 16) : null;
        long rowAt = 0;
        for (Tensor p : parts) {
            Prepared part = prepare(type, p, 0, p.shape()[0], arena);
            MemorySegment.copy(part.values(), 0, values, rowAt * cols * type.bytes, part.values().byteSize());
            if (scales != null) {
                MemorySegment.copy(part.scales(), 0, scales, rowAt * cols / 32 * 4, part.scales().byteSize());
            }
            rowAt += p.shape()[0];
        }
        return new Prepared(type, Math.toIntExact(rows), cols, values, scales);
    }

    /** Rows [from, to) of one matrix, converted to {@code type} (uploads go a slice at a time to bound host memory). */
    public static Prepared prepare(WeightType type, Tensor t, long from, long to, Arena arena) {
        int cols = Math.toIntExact(t.shape()[1]);
        if (t.shape().length != 2 || from < 0 || to > t.shape()[0] || from > to) {
            throw new IllegalArgumentException("rows " + from + ".." + to + " of " + t);
        }
        if (cols % t.dtype().blockSize != 0 || (type == WeightType.Q8 && cols % 32 != 0)) {
            throw new IllegalArgumentException(t + ": rows of " + cols + " are not whole blocks");
        }
        long rowBytes = t.dtype().byteSize(cols);
        long n = (to - from) * cols;
        MemorySegment src = t.data().asSlice(from * rowBytes, (to - from) * rowBytes);
        MemorySegment values = arena.allocate(Math.max(1, n * type.bytes), 16);
        MemorySegment scales = type == WeightType.Q8 ? arena.allocate(Math.max(1, n / 32 * 4), 16) : null;
        if (type == WeightType.Q8) {
            if (t.dtype() != DType.Q8_0) {
                throw new IllegalArgumentException("only Q8_0 tensors become Q8, not " + t);
            }
            // GGUF block: f16 scale, then 32 int8 values
            for (long b = 0; b < n / 32; b++) {
                long at = b * DType.Q8_0.blockBytes;
                scales.set(F32, b * 4, Float.float16ToFloat(src.get(I16, at)));
                MemorySegment.copy(src, at + 2, values, b * 32, 32);
            }
        } else if (type.bytes == 2 && t.dtype() == (type == WeightType.BF16 ? DType.BF16 : DType.F16)
                || type == WeightType.F32 && t.dtype() == DType.F32) {
            MemorySegment.copy(src, 0, values, 0, n * type.bytes);
        } else {
            float[] f = new Tensor(t.name(), t.dtype(), new long[] {to - from, cols}, src).toFloatArray();
            for (int i = 0; i < f.length; i++) {
                switch (type) {
                    case F32 -> values.set(F32, i * 4L, f[i]);
                    case BF16 -> values.set(I16, i * 2L, Halfs.floatToBf16(f[i]));
                    case F16 -> values.set(I16, i * 2L, Float.floatToFloat16(f[i]));
                    case Q8 -> throw new AssertionError();
                }
            }
        }
        return new Prepared(type, Math.toIntExact(to - from), cols, values, scales);
    }

    /** Element (row, col) of a prepared matrix as a float (for tests and checks). */
    public static float get(Prepared p, int row, int col) {
        long i = (long) row * p.cols() + col;
        return switch (p.type()) {
            case F32 -> p.values().get(F32, i * 4);
            case BF16 -> Halfs.bf16ToFloat(p.values().get(I16, i * 2));
            case F16 -> Float.float16ToFloat(p.values().get(I16, i * 2));
            case Q8 -> p.scales().get(F32, i / 32 * 4) * p.values().get(ValueLayout.JAVA_BYTE, i);
        };
    }

    /** Concatenation of vectors (biases of stacked matrices); null when all are null, zeros for a missing one. */
    public static float[] concat(float[][] parts, int[] lengths) {
        if (Arrays.stream(parts).allMatch(p -> p == null)) {
            return null;
        }
        float[] out = new float[Arrays.stream(lengths).sum()];
        int at = 0;
        for (int i = 0; i < parts.length; i++) {
            if (parts[i] != null) {
                System.arraycopy(parts[i], 0, out, at, lengths[i]);
            }
            at += lengths[i];
        }
        return out;
    }

    private HostWeights() {}
}
