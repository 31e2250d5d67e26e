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
    /**
     * A batch converts this many rows to floats at a time and runs every batch row against them:
     * the rows stay in the core's L2 cache, and each pair of activation rows is read from the shared
     * cache once per group instead of once per pair of rows.
     */
    private static final int GROUP = 8;

    private final Parallel parallel;
    private final ThreadLocal<float[]> rowBuffer = ThreadLocal.withInitial(() -> new float[0]);
    private final ThreadLocal<float[][]> groupBuffer = ThreadLocal.withInitial(() -> {
        float[][] g = new float[GROUP][];
        java.util.Arrays.fill(g, new float[0]);
        return g;
    });

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
        matmul(new Tensor[] {w}, x, new float[][] {out}, batch);
    }

    /**
     * The products of several matrices with the same input (Q, K and V; gate and up) in one parallel
     * call over all their rows: the input is prepared (quantized) once and the threads are handed
     * work once. Each result is exactly what {@link #matmul(Tensor, float[], float[], int)} gives.
     */
    public void matmul(Tensor[] ws, float[] x, float[][] outs, int batch) {
        int n = ws.length;
        for (int i = 1; i < n; i++) {
            if (ws[i].dtype() != ws[0].dtype()) {  // mixed-precision files: one call per matrix
                for (int j = 0; j < n; j++) {
                    matmul(ws[j], x, outs[j], batch);
                }
                return;
            }
        }
        int[] rows = new int[n];
        int[] firstRow = new int[n + 1];
        int cols = -1;
        DType dt = ws[0].dtype();
        for (int i = 0; i < n; i++) {
            long[] shape = ws[i].shape();
            if (shape.length != 2) {
                throw new IllegalArgumentException(ws[i] + " is not a matrix");
            }
            rows[i] = Math.toIntExact(shape[0]);
            int c = Math.toIntExact(shape[1]);
            if (cols >= 0 && c != cols) {
                throw new IllegalArgumentException(ws[i] + " does not take inputs of " + cols);
            }
            cols = c;
            if (ws[i].dtype() != dt) {
                throw new IllegalArgumentException(ws[i] + " is not " + dt);
            }
            if (outs[i].length < batch * rows[i]) {
                throw new IllegalArgumentException("result buffer too small for " + batch + " × " + ws[i]);
            }
            firstRow[i + 1] = firstRow[i] + rows[i];
        }
        if (x.length < batch * cols) {
            throw new IllegalArgumentException("input buffer too small for " + batch + " × " + cols);
        }
        int k = cols;
        RowKernel kernel = switch (dt) {
            case Q8_0, Q4_0 -> quantizedKernel(dt, x, k, batch);
            default -> floatKernel(dt, x, k, batch);
        };
        parallel.forRange(firstRow[n], ROW_CHUNK, (from, to) -> {
            int i = 0;
            while (firstRow[i + 1] <= from) {
                i++;
            }
            for (int r = from; r < to; ) {
                int end = Math.min(to, firstRow[i + 1]);
                kernel.rows(ws[i].data(), dt.byteSize(k), rows[i], r - firstRow[i], end - firstRow[i], outs[i]);
                r = end;
                i++;
            }
        });
    }

    /** Rows [from, to) of one matrix with {@code rows} rows into out[b * rows + r]. */
    @FunctionalInterface
    private interface RowKernel {
        void rows(MemorySegment data, long rowBytes, int rows, int from, int to, float[] out);
    }

    /**
     * Float weights (F32, F16, BF16). Decode (batch 1) streams each row once through {@link #dot};
     * a batch converts each row to floats once and works on 2 rows × 2 batch rows at a time, which
     * loads each vector once per two multiply-adds instead of twice; every result is still exactly
     * what {@link #dot} gives for its pair, so results do not depend on the batch.
     */
    private RowKernel floatKernel(DType dt, float[] x, int cols, int batch) {
        return (data, rowBytes, rows, from, to, out) -> {
            if (batch == 1) {
                if (dt == DType.F32) {
                    for (int r = from; r < to; r++) {
                        out[r] = dotF32(data, r * rowBytes, x, 0, cols);
                    }
                } else {
                    float[] piece = buffer(4 * PIECE);
                    int q = (to - from) / 4;
                    for (int r = from; r < from + q; r++) {
                        dotHalf4(dt, data, rowBytes, r, q, x, cols, piece, out);
                    }
                    for (int r = from + 4 * q; r < to; r++) {
                        out[r] = dotHalf(dt, data, r * rowBytes, x, cols, piece);
                    }
                }
                return;
            }
            float[][] group = group(cols);
            for (int r0 = from; r0 < to; r0 += GROUP) {
                int n = Math.min(GROUP, to - r0);
                for (int i = 0; i < n; i++) {
                    decodeRow(dt, data, (r0 + i) * rowBytes, cols, group[i]);
                }
                int b = 0;
                for (; b + 1 < batch; b += 2) {
                    int i = 0;
                    for (; i + 1 < n; i += 2) {
                        dot2x2(group[i], group[i + 1], x, b * cols, (b + 1) * cols, cols, out, b * rows + r0 + i, (b + 1) * rows + r0 + i);
                    }
                    if (i < n) {
                        out[b * rows + r0 + i] = dot(group[i], x, b * cols, cols);
                        out[(b + 1) * rows + r0 + i] = dot(group[i], x, (b + 1) * cols, cols);
                    }
                }
                if (b < batch) {
                    for (int i = 0; i < n; i++) {
                        out[b * rows + r0 + i] = dot(group[i], x, b * cols, cols);
                    }
                }
            }
        };
    }

    /**
     * Block-quantized weights, computed as llama.cpp computes them: the activations are quantized to
     * Q8_0 blocks (an int8 per element and an f16 scale per 32), and each block's product is an integer
     * dot product scaled by both f16 scales. This is both llama.cpp's numerics and the fast path: one
     * int8 multiply-add per weight instead of a dequantize and a float multiply-add.
     */
    private RowKernel quantizedKernel(DType dt, float[] x, int cols, int batch) {
        int blocks = cols / 32;
        short[] qx = new short[batch * cols];    // activations as int8 values widened to 16 bits once, [batch, cols]
        float[] dx = new float[batch * blocks];  // their per-block scales (f16-rounded), [batch, blocks]
        quantizeActivations(x, batch, cols, qx, dx);
        float[] qf = batch > 1 ? permutedFloats(qx, dx, batch, cols) : null;
        boolean q4 = dt == DType.Q4_0;
        return (data, rowBytes, rows, from, to, out) -> {
            if (batch == 1) {
                if (q4) {
                    for (int r = from; r < to; r++) {
                        out[r] = rowDotQ4(data, r * rowBytes, qx, dx, 0, 0, blocks);
                    }
                } else {
                    int half = (to - from + 1) / 2;  // two rows far apart per pass: two memory streams in flight
                    for (int r = from; r < from + half; r++) {
                        if (r + half < to) {
                            rowDotQ8x2(data, r * rowBytes, (r + half) * rowBytes, qx, dx, blocks, out, r, r + half);
                        } else {
                            out[r] = rowDotQ8(data, r * rowBytes, qx, dx, 0, 0, blocks);
                        }
                    }
                }
                return;
            }
            float[][] group = group(cols + blocks);  // each: integer weights as floats, then the block scales
            for (int r0 = from; r0 < to; r0 += GROUP) {
                int n = Math.min(GROUP, to - r0);
                for (int i = 0; i < n; i++) {
                    widenRow(q4, data, (r0 + i) * rowBytes, blocks, group[i]);
                }
                int b = 0;
                for (; b + 1 < batch; b += 2) {
                    int i = 0;
                    for (; i + 1 < n; i += 2) {
                        widened2x2(group[i], group[i + 1], qf, b, b + 1, blocks, out, b * rows + r0 + i, (b + 1) * rows + r0 + i);
                    }
                    if (i < n) {
                        out[b * rows + r0 + i] = rowDotWidened(group[i], qf, b, blocks);
                        out[(b + 1) * rows + r0 + i] = rowDotWidened(group[i], qf, b + 1, blocks);
                    }
                }
                if (b < batch) {
                    for (int i = 0; i < n; i++) {
                        out[b * rows + r0 + i] = rowDotWidened(group[i], qf, b, blocks);
                    }
                }
            }
        };
    }

    /** x [batch, cols] to Q8_0 blocks as llama.cpp's quantize_row_q8_0 makes them (round half away from zero). */
    private static void quantizeActivations(float[] x, int batch, int cols, short[] qx, float[] dx) {
        int blocks = cols / 32;
        for (int b = 0; b < batch; b++) {
            for (int k = 0; k < blocks; k++) {
                int base = b * cols + k * 32;
                FloatVector v0 = FloatVector.fromArray(F256, x, base).abs();
                FloatVector v1 = FloatVector.fromArray(F256, x, base + 8).abs();
                FloatVector v2 = FloatVector.fromArray(F256, x, base + 16).abs();
                FloatVector v3 = FloatVector.fromArray(F256, x, base + 24).abs();
                float amax = v0.max(v1).max(v2.max(v3)).reduceLanes(VectorOperators.MAX);
                float d = amax / 127f;
                float id = d != 0 ? 1f / d : 0f;
                for (int j = 0; j < 32; j++) {
                    float v = x[base + j] * id;
                    qx[base + j] = (short) (v < 0 ? -Math.round(-v) : Math.round(v));
                }
                dx[b * blocks + k] = Float.float16ToFloat(Float.floatToFloat16(d));
            }
        }
    }

    /*
     * The batched path computes with floats: the int8 values of weights and activations are exact in
     * float, so are their products and sums of four, so a lane of four products added in float is
     * exactly the int lane of blockSum. Weights and activations are stored permuted, block by block,
     * so that float lane j of the four 8-lane chunks holds elements 2j, 2j+1, 2j+16, 2j+17: the same
     * grouping as blockSum. Each block's lanes are then scaled into one accumulator per result, in
     * block order, in every kernel; so every result is bit for bit rowDotQ8's or rowDotQ4's, whatever
     * the batch. (One accumulator, not two: a 2 × 2 tile then fits the 16 vector registers, and in
     * decode the chain's latency hides behind each block's integer work.)
     */

    /**
     * Quantized activations [batch, cols] as permuted integer floats with each row's block scales
     * appended: [batch, cols + blocks], the same layout as a widened weight row.
     */
    private static float[] permutedFloats(short[] q, float[] dx, int batch, int cols) {
        int blocks = cols / 32;
        int stride = cols + blocks;
        float[] f = new float[batch * stride];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < cols; i += 16) {
                splitPairs(ShortVector.fromArray(S256, q, b * cols + i), f, b * stride + i);
            }
            System.arraycopy(dx, b * blocks, f, b * stride + cols, blocks);
        }
        return f;
    }

    /** A Q8_0 or Q4_0 row as permuted integer floats (Q4_0 unpacked and offset by -8), then its block scales. */
    private static void widenRow(boolean q4, MemorySegment w, long at, int blocks, float[] row) {
        int scales = 32 * blocks;
        for (int k = 0; k < blocks; k++) {
            long b = at + (long) (q4 ? 18 : 34) * k;
            row[scales + k] = Float.float16ToFloat(w.get(I16, b));
            ByteVector lo;
            ByteVector hi;
            if (q4) {
                ByteVector packed = ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN);
                lo = packed.and((byte) 0x0F).sub((byte) 8);
                hi = packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8);
            } else {
                lo = ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN);
                hi = ByteVector.fromMemorySegment(B128, w, b + 18, ByteOrder.LITTLE_ENDIAN);
            }
            splitPairs((ShortVector) lo.convertShape(VectorOperators.B2S, S256, 0), row, 32 * k);
            splitPairs((ShortVector) hi.convertShape(VectorOperators.B2S, S256, 0), row, 32 * k + 16);
        }
    }

    /**
     * Sixteen 16-bit elements e0..e15 to two float chunks: [e0, e2, ..., e14] at off and
     * [e1, e3, ..., e15] at off + 8 (the permuted layout, for elements 0-15 or 16-31 of a block).
     */
    private static void splitPairs(ShortVector v, float[] out, int off) {
        IntVector pairs = v.reinterpretAsInts();
        ((FloatVector) pairs.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, F256, 0))
                .intoArray(out, off);
        ((FloatVector) pairs.lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, F256, 0)).intoArray(out, off + 8);
    }

    /** One widened row against batch row t of the permuted activations (rows of cols + blocks floats). */
    static float rowDotWidened(float[] w, float[] qf, int t, int blocks) {
        int cols = 32 * blocks;
        int xOff = t * (cols + blocks);
        FloatVector acc = FloatVector.zero(F256);
        for (int k = 0; k < blocks; k++) {
            acc = blockProducts(w, qf, 32 * k, xOff + 32 * k).fma(FloatVector.broadcast(F256, w[cols + k] * qf[xOff + cols + k]), acc);
        }
        return Lanes.sum(acc);
    }

    private static FloatVector blockProducts(float[] w, float[] x, int wo, int xo) {
        FloatVector p = FloatVector.fromArray(F256, w, wo).mul(FloatVector.fromArray(F256, x, xo));
        p = FloatVector.fromArray(F256, w, wo + 8).fma(FloatVector.fromArray(F256, x, xo + 8), p);
        p = FloatVector.fromArray(F256, w, wo + 16).fma(FloatVector.fromArray(F256, x, xo + 16), p);
        return FloatVector.fromArray(F256, w, wo + 24).fma(FloatVector.fromArray(F256, x, xo + 24), p);
    }

    /** rowDotWidened for rows w0, w1 × batch rows t0, t1 at once, each vector loaded once for two products. */
    static void widened2x2(float[] w0, float[] w1, float[] qf, int t0, int t1, int blocks, float[] out, int o0, int o1) {
        int cols = 32 * blocks;
        int x0 = t0 * (cols + blocks);
        int x1 = t1 * (cols + blocks);
        FloatVector e00 = FloatVector.zero(F256);
        FloatVector e01 = FloatVector.zero(F256);
        FloatVector e10 = FloatVector.zero(F256);
        FloatVector e11 = FloatVector.zero(F256);
        for (int k = 0; k < blocks; k++) {
            // the block's four 8-lane chunks written out: an inner loop carrying four vectors through
            // its back edge made C2 keep them in memory
            int o = 32 * k;
            FloatVector a = FloatVector.fromArray(F256, w0, o);
            FloatVector b = FloatVector.fromArray(F256, w1, o);
            FloatVector u = FloatVector.fromArray(F256, qf, x0 + o);
            FloatVector v = FloatVector.fromArray(F256, qf, x1 + o);
            FloatVector p00 = a.mul(u);
            FloatVector p01 = a.mul(v);
            FloatVector p10 = b.mul(u);
            FloatVector p11 = b.mul(v);
            a = FloatVector.fromArray(F256, w0, o + 8);
            b = FloatVector.fromArray(F256, w1, o + 8);
            u = FloatVector.fromArray(F256, qf, x0 + o + 8);
            v = FloatVector.fromArray(F256, qf, x1 + o + 8);
            p00 = a.fma(u, p00);
            p01 = a.fma(v, p01);
            p10 = b.fma(u, p10);
            p11 = b.fma(v, p11);
            a = FloatVector.fromArray(F256, w0, o + 16);
            b = FloatVector.fromArray(F256, w1, o + 16);
            u = FloatVector.fromArray(F256, qf, x0 + o + 16);
            v = FloatVector.fromArray(F256, qf, x1 + o + 16);
            p00 = a.fma(u, p00);
            p01 = a.fma(v, p01);
            p10 = b.fma(u, p10);
            p11 = b.fma(v, p11);
            a = FloatVector.fromArray(F256, w0, o + 24);
            b = FloatVector.fromArray(F256, w1, o + 24);
            u = FloatVector.fromArray(F256, qf, x0 + o + 24);
            v = FloatVector.fromArray(F256, qf, x1 + o + 24);
            p00 = a.fma(u, p00);
            p01 = a.fma(v, p01);
            p10 = b.fma(u, p10);
            p11 = b.fma(v, p11);
            float s0 = w0[cols + k];
            float s1 = w1[cols + k];
            float d0 = qf[x0 + cols + k];
            float d1 = qf[x1 + cols + k];
            e00 = p00.fma(FloatVector.broadcast(F256, s0 * d0), e00);
            e01 = p01.fma(FloatVector.broadcast(F256, s0 * d1), e01);
            e10 = p10.fma(FloatVector.broadcast(F256, s1 * d0), e10);
            e11 = p11.fma(FloatVector.broadcast(F256, s1 * d1), e11);
        }
        out[o0] = Lanes.sum(e00);
        out[o1] = Lanes.sum(e01);
        out[o0 + 1] = Lanes.sum(e10);
        out[o1 + 1] = Lanes.sum(e11);
    }

    /**
     * One Q8_0 row against Q8_0 activations: per block, int8 products widened and summed exactly in
     * int lanes, then scaled by both f16 scales into float lanes; one reduction per row.
     */
    static float rowDotQ8(MemorySegment w, long at, short[] qx, float[] dx, int xOff, int dOff, int blocks) {
        FloatVector acc = FloatVector.zero(F256);
        MemorySegment row = w.asSlice(at, 34L * blocks);
        for (int k = 0; k < blocks; k++) {
            long b = 34L * k;
            float scale = Float.float16ToFloat(row.get(I16, b)) * dx[dOff + k];
            ByteVector w0 = ByteVector.fromMemorySegment(B128, row, b + 2, ByteOrder.LITTLE_ENDIAN);
            ByteVector w1 = ByteVector.fromMemorySegment(B128, row, b + 18, ByteOrder.LITTLE_ENDIAN);
            acc = scaled(blockSum(w0, w1, qx, xOff + 32 * k), scale, acc);
        }
        return Lanes.sum(acc);
    }

    /** rowDotQ8 for two rows at once (the same arithmetic for each), sharing the activation loads. */
    static void rowDotQ8x2(MemorySegment w, long at0, long at1, short[] qx, float[] dx, int blocks, float[] out, int o0, int o1) {
        FloatVector acc0 = FloatVector.zero(F256);
        FloatVector acc1 = FloatVector.zero(F256);
        MemorySegment row0 = w.asSlice(at0, 34L * blocks);
        MemorySegment row1 = w.asSlice(at1, 34L * blocks);
        for (int k = 0; k < blocks; k++) {
            long b = 34L * k;
            float d = dx[k];
            ShortVector x0 = ShortVector.fromArray(S256, qx, 32 * k);
            ShortVector x1 = ShortVector.fromArray(S256, qx, 32 * k + 16);
            float s0 = Float.float16ToFloat(row0.get(I16, b)) * d;
            ShortVector p0 = ((ShortVector) ByteVector.fromMemorySegment(B128, row0, b + 2, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2S, S256, 0)).mul(x0)
                    .add(((ShortVector) ByteVector.fromMemorySegment(B128, row0, b + 18, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2S, S256, 0)).mul(x1));
            acc0 = scaled(pairSums(p0), s0, acc0);
            float s1 = Float.float16ToFloat(row1.get(I16, b)) * d;
            ShortVector p1 = ((ShortVector) ByteVector.fromMemorySegment(B128, row1, b + 2, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2S, S256, 0)).mul(x0)
                    .add(((ShortVector) ByteVector.fromMemorySegment(B128, row1, b + 18, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2S, S256, 0)).mul(x1));
            acc1 = scaled(pairSums(p1), s1, acc1);
        }
        out[o0] = Lanes.sum(acc0);
        out[o1] = Lanes.sum(acc1);
    }

    /** One Q4_0 row: nibbles unpacked in vector registers (low nibbles are elements 0-15, high 16-31), minus 8. */
    static float rowDotQ4(MemorySegment w, long at, short[] qx, float[] dx, int xOff, int dOff, int blocks) {
        FloatVector acc = FloatVector.zero(F256);
        for (int k = 0; k < blocks; k++) {
            acc = q4Block(w, at, qx, dx, xOff, dOff, k, acc);
        }
        return Lanes.sum(acc);
    }

    private static FloatVector q4Block(MemorySegment w, long at, short[] qx, float[] dx, int xOff, int dOff, int k, FloatVector acc) {
        long b = at + 18L * k;
        float scale = Float.float16ToFloat(w.get(I16, b)) * dx[dOff + k];
        ByteVector packed = ByteVector.fromMemorySegment(B128, w, b + 2, ByteOrder.LITTLE_ENDIAN);
        ByteVector lo = packed.and((byte) 0x0F).sub((byte) 8);
        ByteVector hi = packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8);
        return scaled(blockSum(lo, hi, qx, xOff + 32 * k), scale, acc);
    }

    private static FloatVector scaled(IntVector blockSum, float scale, FloatVector acc) {
        return ((FloatVector) blockSum.convertShape(VectorOperators.I2F, F256, 0)).fma(FloatVector.broadcast(F256, scale), acc);
    }

    /**
     * One block's 32 products: weights w0 (elements 0-15) and w1 (16-31) widened to 16 bits, times the
     * pre-widened activations. A product is at most 127·128 in magnitude, so the two halves add in
     * 16 bits without overflow (2 · 16256 < 32768); then each pair of adjacent 16-bit lanes is summed
     * into one int lane by sign-extending shifts (cheaper than two widening conversions), so int lane j
     * holds the products of elements 2j, 2j+1, 2j+16 and 2j+17, exactly.
     */
    private static IntVector blockSum(ByteVector w0, ByteVector w1, short[] x, int off) {
        ShortVector p = ((ShortVector) w0.convertShape(VectorOperators.B2S, S256, 0)).mul(ShortVector.fromArray(S256, x, off))
                .add(((ShortVector) w1.convertShape(VectorOperators.B2S, S256, 0)).mul(ShortVector.fromArray(S256, x, off + 16)));
        return pairSums(p);
    }

    private static IntVector pairSums(ShortVector p) {
        IntVector i = p.reinterpretAsInts();
        return i.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(i.lanewise(VectorOperators.ASHR, 16));
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

    /** GROUP row buffers of at least n floats each, one set per thread. */
    private float[][] group(int n) {
        float[][] g = groupBuffer.get();
        if (g[0].length < n) {
            for (int i = 0; i < GROUP; i++) {
                g[i] = new float[n];
            }
        }
        return g;
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

    /*
     * Float dot products: 8-lane chunks alternate between two accumulators (two chains of fused
     * multiply-adds hide their latency), one fixed-order lane sum, then the scalar tail in order.
     * dotF32, dot and dot2x2 do exactly this arithmetic.
     */

    static float dotF32(MemorySegment w, long at, float[] x, int xOff, int n) {
        int len = F.length();
        FloatVector even = FloatVector.zero(F);
        FloatVector odd = FloatVector.zero(F);
        int i = 0;
        for (int pairs = n - n % (2 * len); i < pairs; i += 2 * len) {  // i < bound: a counted loop, range checks hoisted
            even = FloatVector.fromMemorySegment(F, w, at + 4L * i, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i), even);
            odd = FloatVector.fromMemorySegment(F, w, at + 4L * (i + len), ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i + len), odd);
        }
        if (i + len <= n) {
            even = FloatVector.fromMemorySegment(F, w, at + 4L * i, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + i), even);
            i += len;
        }
        float sum = Lanes.sum(even.add(odd));
        for (; i < n; i++) {
            sum += w.get(F32, at + 4L * i) * x[xOff + i];
        }
        return sum;
    }

    static float dot(float[] a, float[] x, int xOff, int n) {
        return dot(a, 0, x, xOff, n);
    }

    static float dot(float[] a, int aOff, float[] x, int xOff, int n) {
        int len = F.length();
        FloatVector even = FloatVector.zero(F);
        FloatVector odd = FloatVector.zero(F);
        int i = 0;
        for (int pairs = n - n % (2 * len); i < pairs; i += 2 * len) {  // i < bound: a counted loop, range checks hoisted
            even = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, x, xOff + i), even);
            odd = FloatVector.fromArray(F, a, aOff + i + len).fma(FloatVector.fromArray(F, x, xOff + i + len), odd);
        }
        if (i + len <= n) {
            even = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, x, xOff + i), even);
            i += len;
        }
        float sum = Lanes.sum(even.add(odd));
        for (; i < n; i++) {
            sum += a[aOff + i] * x[xOff + i];
        }
        return sum;
    }

    /** Elements a 16-bit row is converted in at a time by dotHalf: small enough to stay in L1, a multiple of two vectors. */
    private static final int PIECE = 256;

    /**
     * dot(decodeRow(w), x) for an F16 or BF16 row, exactly, but converting it piece by piece: each
     * piece's multiply-adds overlap the loads of the next, where converting the whole row first
     * would leave the memory idle while the products run.
     */
    static float dotHalf(DType dt, MemorySegment w, long at, float[] x, int n, float[] piece) {
        int len = F.length();
        FloatVector even = FloatVector.zero(F);
        FloatVector odd = FloatVector.zero(F);
        int i = 0;
        while (n - i >= 2 * len) {
            int m = Math.min(PIECE, (n - i) / (2 * len) * (2 * len));
            convertHalves(dt, w, at + 2L * i, m, piece);
            for (int j = 0; j < m; j += 2 * len) {
                even = FloatVector.fromArray(F, piece, j).fma(FloatVector.fromArray(F, x, i + j), even);
                odd = FloatVector.fromArray(F, piece, j + len).fma(FloatVector.fromArray(F, x, i + j + len), odd);
            }
            i += m;
        }
        int rest = n - i;
        convertHalves(dt, w, at + 2L * i, rest, piece);
        int j = 0;
        if (rest >= len) {
            even = FloatVector.fromArray(F, piece, 0).fma(FloatVector.fromArray(F, x, i), even);
            j = len;
        }
        float sum = Lanes.sum(even.add(odd));
        for (; j < rest; j++) {
            sum += piece[j] * x[i + j];
        }
        return sum;
    }

    /**
     * dotHalf for rows r, r + q, r + 2q, r + 3q at once: their pieces are converted in one loop (four
     * memory streams in flight per thread) and multiplied with one load of the activations.
     */
    static void dotHalf4(DType dt, MemorySegment w, long rowBytes, int r, int q, float[] x, int n, float[] piece, float[] out) {
        int len = F.length();
        if (n % (2 * len) != 0) {
            for (int i = 0; i < 4; i++) {
                out[r + i * q] = dotHalf(dt, w, (r + (long) i * q) * rowBytes, x, n, piece);
            }
            return;
        }
        FloatVector e0 = FloatVector.zero(F);
        FloatVector d0 = FloatVector.zero(F);
        FloatVector e1 = FloatVector.zero(F);
        FloatVector d1 = FloatVector.zero(F);
        FloatVector e2 = FloatVector.zero(F);
        FloatVector d2 = FloatVector.zero(F);
        FloatVector e3 = FloatVector.zero(F);
        FloatVector d3 = FloatVector.zero(F);
        long a0 = r * rowBytes;
        long a1 = (r + (long) q) * rowBytes;
        long a2 = (r + 2L * q) * rowBytes;
        long a3 = (r + 3L * q) * rowBytes;
        for (int i = 0; i < n; ) {
            int m = Math.min(PIECE, n - i);
            long o = 2L * i;
            if (dt == DType.F16) {
                for (int c = 0; c < m; c++) {
                    piece[c] = Float.float16ToFloat(w.get(I16, a0 + o + 2L * c));
                    piece[PIECE + c] = Float.float16ToFloat(w.get(I16, a1 + o + 2L * c));
                    piece[2 * PIECE + c] = Float.float16ToFloat(w.get(I16, a2 + o + 2L * c));
                    piece[3 * PIECE + c] = Float.float16ToFloat(w.get(I16, a3 + o + 2L * c));
                }
            } else {
                for (int c = 0; c < m; c++) {
                    piece[c] = Float.intBitsToFloat((w.get(I16, a0 + o + 2L * c) & 0xFFFF) << 16);
                    piece[PIECE + c] = Float.intBitsToFloat((w.get(I16, a1 + o + 2L * c) & 0xFFFF) << 16);
                    piece[2 * PIECE + c] = Float.intBitsToFloat((w.get(I16, a2 + o + 2L * c) & 0xFFFF) << 16);
                    piece[3 * PIECE + c] = Float.intBitsToFloat((w.get(I16, a3 + o + 2L * c) & 0xFFFF) << 16);
                }
            }
            for (int j = 0; j < m; j += 2 * len) {
                FloatVector u = FloatVector.fromArray(F, x, i + j);
                FloatVector v = FloatVector.fromArray(F, x, i + j + len);
                e0 = FloatVector.fromArray(F, piece, j).fma(u, e0);
                d0 = FloatVector.fromArray(F, piece, j + len).fma(v, d0);
                e1 = FloatVector.fromArray(F, piece, PIECE + j).fma(u, e1);
                d1 = FloatVector.fromArray(F, piece, PIECE + j + len).fma(v, d1);
                e2 = FloatVector.fromArray(F, piece, 2 * PIECE + j).fma(u, e2);
                d2 = FloatVector.fromArray(F, piece, 2 * PIECE + j + len).fma(v, d2);
                e3 = FloatVector.fromArray(F, piece, 3 * PIECE + j).fma(u, e3);
                d3 = FloatVector.fromArray(F, piece, 3 * PIECE + j + len).fma(v, d3);
            }
            i += m;
        }
        out[r] = Lanes.sum(e0.add(d0));
        out[r + q] = Lanes.sum(e1.add(d1));
        out[r + 2 * q] = Lanes.sum(e2.add(d2));
        out[r + 3 * q] = Lanes.sum(e3.add(d3));
    }

    private static void convertHalves(DType dt, MemorySegment w, long at, int n, float[] out, int off) {
        if (dt == DType.F16) {
            for (int c = 0; c < n; c++) {
                out[off + c] = Float.float16ToFloat(w.get(I16, at + 2L * c));
            }
        } else {
            for (int c = 0; c < n; c++) {
                out[off + c] = Float.intBitsToFloat((w.get(I16, at + 2L * c) & 0xFFFF) << 16);
            }
        }
    }

    private static void convertHalves(DType dt, MemorySegment w, long at, int n, float[] out) {
        if (dt == DType.F16) {
            for (int c = 0; c < n; c++) {
                out[c] = Float.float16ToFloat(w.get(I16, at + 2L * c));
            }
        } else {
            for (int c = 0; c < n; c++) {
                out[c] = Float.intBitsToFloat((w.get(I16, at + 2L * c) & 0xFFFF) << 16);
            }
        }
    }

    /** dot for rows a, b × vectors x at x0 and x1: out[o0] = a·x0, out[o1] = a·x1, out[o0 + 1] = b·x0, out[o1 + 1] = b·x1. */
    static void dot2x2(float[] a, float[] b, float[] x, int x0, int x1, int n, float[] out, int o0, int o1) {
        int len = F.length();
        FloatVector e00 = FloatVector.zero(F);
        FloatVector e01 = FloatVector.zero(F);
        FloatVector e10 = FloatVector.zero(F);
        FloatVector e11 = FloatVector.zero(F);
        FloatVector d00 = FloatVector.zero(F);
        FloatVector d01 = FloatVector.zero(F);
        FloatVector d10 = FloatVector.zero(F);
        FloatVector d11 = FloatVector.zero(F);
        int i = 0;
        for (int pairs = n - n % (2 * len); i < pairs; i += 2 * len) {  // i < bound: a counted loop, range checks hoisted
            FloatVector av = FloatVector.fromArray(F, a, i);
            FloatVector bv = FloatVector.fromArray(F, b, i);
            FloatVector u = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v = FloatVector.fromArray(F, x, x1 + i);
            e00 = av.fma(u, e00);
            e01 = av.fma(v, e01);
            e10 = bv.fma(u, e10);
            e11 = bv.fma(v, e11);
            av = FloatVector.fromArray(F, a, i + len);
            bv = FloatVector.fromArray(F, b, i + len);
            u = FloatVector.fromArray(F, x, x0 + i + len);
            v = FloatVector.fromArray(F, x, x1 + i + len);
            d00 = av.fma(u, d00);
            d01 = av.fma(v, d01);
            d10 = bv.fma(u, d10);
            d11 = bv.fma(v, d11);
        }
        if (i + len <= n) {
            FloatVector av = FloatVector.fromArray(F, a, i);
            FloatVector bv = FloatVector.fromArray(F, b, i);
            FloatVector u = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v = FloatVector.fromArray(F, x, x1 + i);
            e00 = av.fma(u, e00);
            e01 = av.fma(v, e01);
            e10 = bv.fma(u, e10);
            e11 = bv.fma(v, e11);
            i += len;
        }
        float s00 = Lanes.sum(e00.add(d00));
        float s01 = Lanes.sum(e01.add(d01));
        float s10 = Lanes.sum(e10.add(d10));
        float s11 = Lanes.sum(e11.add(d11));
        for (; i < n; i++) {
            s00 += a[i] * x[x0 + i];
            s01 += a[i] * x[x1 + i];
            s10 += b[i] * x[x0 + i];
            s11 += b[i] * x[x1 + i];
        }
        out[o0] = s00;
        out[o1] = s01;
        out[o0 + 1] = s10;
        out[o1 + 1] = s11;
    }
}
