package io.boundless.engine.cpu;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Products of a weight matrix W [rows, cols] (any dtype, row-major, usually a mapped file) with
 * activations. By far the most time of a forward pass is spent here: decode is bound by how fast W
 * streams from memory, so each row is read once per call and applied to every vector of the batch.
 */
public final class MatMul {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int ROW_CHUNK = 16;

    private final Parallel parallel;
    private final ThreadLocal<float[]> rowBuffer = ThreadLocal.withInitial(() -> new float[0]);

    public MatMul(Parallel parallel) {
        this.parallel = parallel;
    }

    /**
     * out[b, r] = sum_c W[r, c] * x[b, c] for b in [0, batch).
     *
     * @param x   activations, batch × cols, row-major (x[b * cols + c])
     * @param out results, batch × rows (out[b * rows + r])
     */
    public void matmul(Tensor w, float[] x, float[] out, int batch) {
        long[] shape = w.shape();
        if (shape.length != 2) {
            throw new IllegalArgumentException(w + " is not a matrix");
        }
        int rows = Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(shape[1]);
        if (x.length < batch * cols || out.length < batch * rows) {
            throw new IllegalArgumentException("buffers too small for " + batch + " × " + w);
        }
        DType dt = w.dtype();
        MemorySegment data = w.data();
        long rowBytes = dt.byteSize(cols);
        if (dt == DType.Q8_0 || dt == DType.Q4_0) {
            quantizedMatmul(dt, data, rowBytes, rows, cols, x, out, batch);
            return;
        }
        parallel.forRange(rows, ROW_CHUNK, (from, to) -> {
            float[] row = dt == DType.F32 ? null : buffer(cols);
            for (int r = from; r < to; r++) {
                long at = r * rowBytes;
                if (dt == DType.F32) {
                    for (int b = 0; b < batch; b++) {
                        out[b * rows + r] = dotF32(data, at, x, b * cols, cols);
                    }
                } else {
                    decodeRow(dt, data, at, cols, row);
                    for (int b = 0; b < batch; b++) {
                        out[b * rows + r] = dot(row, x, b * cols, cols);
                    }
                }
            }
        });
    }

    /**
     * Block-quantized weights, computed as llama.cpp computes them: the activations are quantized to
     * Q8_0 blocks (an int8 per element and an f16 scale per 32), and each block's product is an integer
     * dot product scaled by both f16 scales. This is both llama.cpp's numerics and the fast path: one
     * int8 multiply-add per weight instead of a dequantize and a float multiply-add.
     */
    private void quantizedMatmul(DType dt, MemorySegment data, long rowBytes, int rows, int cols, float[] x, float[] out, int batch) {
        int blocks = cols / 32;
        short[] qx = new short[batch * cols];    // activations as int8 values widened to 16 bits once, [batch, cols]
        float[] dx = new float[batch * blocks];  // their per-block scales (f16-rounded), [batch, blocks]
        for (int b = 0; b < batch; b++) {
            for (int k = 0; k < blocks; k++) {
                int base = b * cols + k * 32;
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x[base + j]));
                }
                float d = amax / 127f;
                float id = d != 0 ? 1f / d : 0f;
                for (int j = 0; j < 32; j++) {
                    float v = x[base + j] * id;
                    qx[base + j] = (short) (v < 0 ? -Math.round(-v) : Math.round(v));
                }
                dx[b * blocks + k] = Float.float16ToFloat(Float.floatToFloat16(d));
            }
        }
        int blockBytes = dt.blockBytes;
        boolean q4 = dt == DType.Q4_0;
        parallel.forRange(rows, ROW_CHUNK, (from, to) -> {
            short[] wrow = batch > 1 ? new short[cols] : null;  // the row's weights widened once, for every batch row
            float[] wd = batch > 1 ? new float[blocks] : null;
            for (int r = from; r < to; r++) {
                long at = r * rowBytes;
                if (batch == 1) {
                    out[r] = q4 ? rowDotQ4(data, at, qx, dx, 0, 0, blocks) : rowDotQ8(data, at, qx, dx, 0, 0, blocks);
                    continue;
                }
                widenRow(q4, data, at, blocks, wrow, wd);
                for (int b = 0; b < batch; b++) {
                    out[b * rows + r] = rowDotWidened(wrow, wd, qx, dx, b * cols, b * blocks, blocks);
                }
            }
        });
    }

    /** A Q8_0 or Q4_0 row as 16-bit weights (Q4_0 unpacked and offset by -8) and its block scales. */
    private static void widenRow(boolean q4, MemorySegment w, long at, int blocks, short[] row, float[] scales) {
        for (int k = 0; k < blocks; k++) {
            long b = at + (long) (q4 ? 18 : 34) * k;
            scales[k] = Float.float16ToFloat(w.get(I16, b));
            if (q4) {
                ByteVector packed = ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN);
                ((ShortVector) packed.and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2S, S256, 0)).intoArray(row, 32 * k);
                ((ShortVector) packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2S, S256, 0))
                        .intoArray(row, 32 * k + 16);
            } else {
                ((ShortVector) ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2S, S256, 0))
                        .intoArray(row, 32 * k);
                ((ShortVector) ByteVector.fromMemorySegment(B128, w, b + 18, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2S, S256, 0))
                        .intoArray(row, 32 * k + 16);
            }
        }
    }

    /** The same arithmetic as rowDotQ8/rowDotQ4 lane for lane (so results do not depend on the batch), on a widened row. */
    static float rowDotWidened(short[] w, float[] wd, short[] qx, float[] dx, int xOff, int dOff, int blocks) {
        FloatVector acc = FloatVector.zero(F256);
        for (int k = 0; k < blocks; k++) {
            float scale = wd[k] * dx[dOff + k];
            int o = 32 * k;
            ShortVector p = ShortVector.fromArray(S256, w, o).mul(ShortVector.fromArray(S256, qx, xOff + o))
                    .add(ShortVector.fromArray(S256, w, o + 16).mul(ShortVector.fromArray(S256, qx, xOff + o + 16)));
            IntVector s = ((IntVector) p.convertShape(VectorOperators.S2I, I256, 0)).add((IntVector) p.convertShape(VectorOperators.S2I, I256, 1));
            acc = ((FloatVector) s.convertShape(VectorOperators.I2F, F256, 0)).fma(FloatVector.broadcast(F256, scale), acc);
        }
        return Lanes.sum(acc);
    }

    /**
     * One Q8_0 row against Q8_0 activations: per block, int8 products widened and summed exactly in
     * int lanes, then scaled by both f16 scales into float lanes; one reduction per row.
     */
    static float rowDotQ8(MemorySegment w, long at, short[] qx, float[] dx, int xOff, int dOff, int blocks) {
        FloatVector acc = FloatVector.zero(F256);
        for (int k = 0; k < blocks; k++) {
            long b = at + 34L * k;
            float scale = Float.float16ToFloat(w.get(I16, b)) * dx[dOff + k];
            ByteVector w0 = ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN);
            ByteVector w1 = ByteVector.fromMemorySegment(B128, w, b + 18, ByteOrder.LITTLE_ENDIAN);
            IntVector s = blockSum(w0, w1, qx, xOff + 32 * k);
            acc = ((FloatVector) s.convertShape(VectorOperators.I2F, F256, 0)).fma(FloatVector.broadcast(F256, scale), acc);
        }
        return Lanes.sum(acc);
    }

    /** One Q4_0 row: nibbles unpacked in vector registers (low nibbles are elements 0-15, high 16-31), minus 8. */
    static float rowDotQ4(MemorySegment w, long at, short[] qx, float[] dx, int xOff, int dOff, int blocks) {
        FloatVector acc = FloatVector.zero(F256);
        for (int k = 0; k < blocks; k++) {
            long b = at + 18L * k;
            float scale = Float.float16ToFloat(w.get(I16, b)) * dx[dOff + k];
            ByteVector packed = ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN);
            ByteVector lo = packed.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi = packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8);
            IntVector s = blockSum(lo, hi, qx, xOff + 32 * k);
            acc = ((FloatVector) s.convertShape(VectorOperators.I2F, F256, 0)).fma(FloatVector.broadcast(F256, scale), acc);
        }
        return Lanes.sum(acc);
    }

    /**
     * One block's 32 products: weights w0 (elements 0-15) and w1 (16-31) widened to 16 bits, times the
     * pre-widened activations. A product is at most 127·128 in magnitude, so the two halves add in
     * 16 bits without overflow (2 · 16256 < 32768) before widening to 8 int lanes.
     */
    private static IntVector blockSum(ByteVector w0, ByteVector w1, short[] x, int off) {
        ShortVector p = ((ShortVector) w0.convertShape(VectorOperators.B2S, S256, 0)).mul(ShortVector.fromArray(S256, x, off))
                .add(((ShortVector) w1.convertShape(VectorOperators.B2S, S256, 0)).mul(ShortVector.fromArray(S256, x, off + 16)));
        return ((IntVector) p.convertShape(VectorOperators.S2I, I256, 0)).add((IntVector) p.convertShape(VectorOperators.S2I, I256, 1));
    }

    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I256 = IntVector.SPECIES_256;
    private static final VectorSpecies<Float> F256 = FloatVector.SPECIES_256;

    /** out = W x for one vector. */
    public void matvec(Tensor w, float[] x, float[] out) {
        matmul(w, x, out, 1);
    }

    private float[] buffer(int n) {
        float[] b = rowBuffer.get();
        if (b.length < n) {
            b = new float[n];
            rowBuffer.set(b);
        }
        return b;
    }

    /** Converts one row of W to floats (dequantizing blocks). */
    static void decodeRow(DType dt, MemorySegment data, long at, int cols, float[] row) {
        switch (dt) {
            case F32 -> MemorySegment.copy(data, F32, at, row, 0, cols);
            case F16 -> {
                for (int c = 0; c < cols; c++) {
                    row[c] = Float.float16ToFloat(data.get(I16, at + 2L * c));
                }
            }
            case BF16 -> {
                for (int c = 0; c < cols; c++) {
                    row[c] = Float.intBitsToFloat((data.get(I16, at + 2L * c) & 0xFFFF) << 16);
                }
            }
            case Q8_0 -> {
                for (int blk = 0; blk < cols / 32; blk++) {
                    long b = at + 34L * blk;
                    float d = Float.float16ToFloat(data.get(I16, b));
                    for (int j = 0; j < 32; j++) {
                        row[blk * 32 + j] = d * data.get(ValueLayout.JAVA_BYTE, b + 2 + j);
                    }
                }
            }
            case Q4_0 -> {
                for (int blk = 0; blk < cols / 32; blk++) {
                    long b = at + 18L * blk;
                    float d = Float.float16ToFloat(data.get(I16, b));
                    for (int j = 0; j < 16; j++) {
                        int q = data.get(ValueLayout.JAVA_BYTE, b + 2 + j) & 0xFF;
                        row[blk * 32 + j] = d * ((q & 0x0F) - 8);
                        row[blk * 32 + j + 16] = d * ((q >>> 4) - 8);
                    }
                }
            }
        }
    }

    static float dotF32(MemorySegment w, long at, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector a = FloatVector.fromMemorySegment(F, w, at + 4L * i, ByteOrder.LITTLE_ENDIAN);
            FloatVector b = FloatVector.fromArray(F, x, xOff + i);
            acc = a.fma(b, acc);
        }
        float sum = Lanes.sum(acc);
        for (; i < n; i++) {
            sum += w.get(F32, at + 4L * i) * x[xOff + i];
        }
        return sum;
    }

    static float dot(float[] a, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, x, xOff + i), acc);
        }
        float sum = Lanes.sum(acc);
        for (; i < n; i++) {
            sum += a[i] * x[xOff + i];
        }
        return sum;
    }
}
