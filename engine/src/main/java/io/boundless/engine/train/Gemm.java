package io.boundless.engine.train;

import io.boundless.engine.cpu.Lanes;
import io.boundless.engine.cpu.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The matrix products of training, in float32 on the Vector API. Every product is one kernel,
 * {@code c = a · b} over row-major operands; the three products of a linear layer are that kernel
 * with at most one operand transposed first: y = x · Wᵀ, dx = dy · W (as it is), dW = dyᵀ · x. A
 * transpose costs one pass over its operand, the product a pass per row of the other, so one
 * well-tuned kernel beats three half-tuned ones.
 *
 * <p>Each output element is computed by one thread in a fixed order, so results do not depend on the
 * thread count: training is deterministic for a seed.
 */
public final class Gemm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private final Parallel parallel;

    public Gemm(Parallel parallel) {
        this.parallel = parallel;
    }

    public Parallel parallel() {
        return parallel;
    }

    /**
     * c[m × n] (+)= a[m × k] · b[n × k]ᵀ: b transposed into scratch, then {@link #nn}.
     *
     * @param accumulate add into c instead of overwriting it
     */
    public void nt(float[] a, float[] b, float[] c, int m, int n, int k, boolean accumulate) {
        float[] bt = scratch(n * k);
        transpose(b, n, k, bt);
        nn(a, bt, c, m, n, k, accumulate);
    }

    private final ThreadLocal<float[]> scratch = new ThreadLocal<>();

    private float[] scratch(int size) {
        float[] s = scratch.get();
        if (s == null || s.length < size) {
            s = new float[size];
            scratch.set(s);
        }
        return s;
    }

    private static final int ROWS = 4;   // rows of a per micro-tile
    private static final int VECS = 4;   // vectors of c's columns per micro-tile

    /**
     * c[m × n] (+)= a[m × k] · b[k × n], all row-major.
     *
     * @param accumulate add into c instead of overwriting it
     */
    public void nn(float[] a, float[] b, float[] c, int m, int n, int k, boolean accumulate) {
        // hot spot of training: nearly all FLOPs are here. A micro-tile of 4 rows by 4 vectors of
        // columns keeps 16 accumulators in registers; each step broadcasts 4 values of a and loads 4
        // vectors of one row of b, so there is no horizontal sum at all. Column blocks go to threads
        // (or row blocks when c is tall and narrow), and each thread walks down the rows of a with
        // its block of b staying in cache.
        int width = F.length() * VECS;
        int colBlocks = (n + width - 1) / width;
        int rowBlocks = (m + ROWS - 1) / ROWS;
        if (colBlocks >= 2 * parallel.threads() || colBlocks >= rowBlocks) {
            parallel.forRange(colBlocks, 1, (from, to) -> {
                for (int jb = from; jb < to; jb++) {
                    for (int ib = 0; ib < rowBlocks; ib++) {
                        block(a, b, c, ib * ROWS, jb * width, m, n, k, accumulate);
                    }
                }
            });
        } else {
            parallel.forRange(rowBlocks, 1, (from, to) -> {
                for (int ib = from; ib < to; ib++) {
                    for (int jb = 0; jb < colBlocks; jb++) {
                        block(a, b, c, ib * ROWS, jb * width, m, n, k, accumulate);
                    }
                }
            });
        }
    }

    private static void block(float[] a, float[] b, float[] c, int i0, int j0, int m, int n, int k, boolean accumulate) {
        int L = F.length();
        if (i0 + ROWS <= m && j0 + VECS * L <= n) {
            tile(a, b, c, i0, j0, n, k, accumulate);
            return;
        }
        for (int i = i0; i < Math.min(m, i0 + ROWS); i++) {
            int j = j0;
            int jEnd = Math.min(n, j0 + VECS * L);
            for (; j + L <= jEnd; j += L) {
                FloatVector acc = accumulate ? FloatVector.fromArray(F, c, i * n + j) : FloatVector.zero(F);
                for (int p = 0; p < k; p++) {
                    acc = FloatVector.fromArray(F, b, p * n + j).fma(FloatVector.broadcast(F, a[i * k + p]), acc);
                }
                acc.intoArray(c, i * n + j);
            }
            for (; j < jEnd; j++) {
                float s = accumulate ? c[i * n + j] : 0f;
                for (int p = 0; p < k; p++) {
                    s += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = s;
            }
        }
    }

    private static void tile(float[] a, float[] b, float[] c, int i0, int j0, int n, int k, boolean accumulate) {
        int L = F.length();
        int r0 = i0 * n + j0, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
        FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        if (accumulate) {
            c00 = FloatVector.fromArray(F, c, r0); c01 = FloatVector.fromArray(F, c, r0 + L);
            c02 = FloatVector.fromArray(F, c, r0 + 2 * L); c03 = FloatVector.fromArray(F, c, r0 + 3 * L);
            c10 = FloatVector.fromArray(F, c, r1); c11 = FloatVector.fromArray(F, c, r1 + L);
            c12 = FloatVector.fromArray(F, c, r1 + 2 * L); c13 = FloatVector.fromArray(F, c, r1 + 3 * L);
            c20 = FloatVector.fromArray(F, c, r2); c21 = FloatVector.fromArray(F, c, r2 + L);
            c22 = FloatVector.fromArray(F, c, r2 + 2 * L); c23 = FloatVector.fromArray(F, c, r2 + 3 * L);
            c30 = FloatVector.fromArray(F, c, r3); c31 = FloatVector.fromArray(F, c, r3 + L);
            c32 = FloatVector.fromArray(F, c, r3 + 2 * L); c33 = FloatVector.fromArray(F, c, r3 + 3 * L);
        } else {
            c00 = FloatVector.zero(F); c01 = c00; c02 = c00; c03 = c00;
            c10 = c00; c11 = c00; c12 = c00; c13 = c00;
            c20 = c00; c21 = c00; c22 = c00; c23 = c00;
            c30 = c00; c31 = c00; c32 = c00; c33 = c00;
        }
        int a0 = i0 * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        for (int p = 0; p < k; p++) {
            int bp = p * n + j0;
            FloatVector y0 = FloatVector.fromArray(F, b, bp);
            FloatVector y1 = FloatVector.fromArray(F, b, bp + L);
            FloatVector y2 = FloatVector.fromArray(F, b, bp + 2 * L);
            FloatVector y3 = FloatVector.fromArray(F, b, bp + 3 * L);
            FloatVector x = FloatVector.broadcast(F, a[a0 + p]);
            c00 = y0.fma(x, c00); c01 = y1.fma(x, c01); c02 = y2.fma(x, c02); c03 = y3.fma(x, c03);
            x = FloatVector.broadcast(F, a[a1 + p]);
            c10 = y0.fma(x, c10); c11 = y1.fma(x, c11); c12 = y2.fma(x, c12); c13 = y3.fma(x, c13);
            x = FloatVector.broadcast(F, a[a2 + p]);
            c20 = y0.fma(x, c20); c21 = y1.fma(x, c21); c22 = y2.fma(x, c22); c23 = y3.fma(x, c23);
            x = FloatVector.broadcast(F, a[a3 + p]);
            c30 = y0.fma(x, c30); c31 = y1.fma(x, c31); c32 = y2.fma(x, c32); c33 = y3.fma(x, c33);
        }
        c00.intoArray(c, r0); c01.intoArray(c, r0 + L); c02.intoArray(c, r0 + 2 * L); c03.intoArray(c, r0 + 3 * L);
        c10.intoArray(c, r1); c11.intoArray(c, r1 + L); c12.intoArray(c, r1 + 2 * L); c13.intoArray(c, r1 + 3 * L);
        c20.intoArray(c, r2); c21.intoArray(c, r2 + L); c22.intoArray(c, r2 + 2 * L); c23.intoArray(c, r2 + 3 * L);
        c30.intoArray(c, r3); c31.intoArray(c, r3 + L); c32.intoArray(c, r3 + 2 * L); c33.intoArray(c, r3 + 3 * L);
    }

    /** Σ a[ai + p] · b[bi + p] for p in [0, k), lanes summed in a fixed order. */
    public static float dot(float[] a, int ai, float[] b, int bi, int k) {
        FloatVector acc = FloatVector.zero(F);
        int bound = F.loopBound(k);
        int p = 0;
        for (; p < bound; p += F.length()) {
            acc = FloatVector.fromArray(F, a, ai + p).fma(FloatVector.fromArray(F, b, bi + p), acc);
        }
        float s = Lanes.sum(acc);
        for (; p < k; p++) {
            s += a[ai + p] * b[bi + p];
        }
        return s;
    }

    /** y[yi + p] += alpha · x[xi + p] for p in [0, n). */
    public static void axpy(float alpha, float[] x, int xi, float[] y, int yi, int n) {
        FloatVector va = FloatVector.broadcast(F, alpha);
        int bound = F.loopBound(n);
        int p = 0;
        for (; p < bound; p += F.length()) {
            FloatVector.fromArray(F, x, xi + p).fma(va, FloatVector.fromArray(F, y, yi + p)).intoArray(y, yi + p);
        }
        for (; p < n; p++) {
            y[yi + p] += alpha * x[xi + p];
        }
    }

    /** out[cols × rows] = in[rows × cols]ᵀ, in cache-sized blocks. */
    public void transpose(float[] in, int rows, int cols, float[] out) {
        final int blk = 32;
        int rb = (rows + blk - 1) / blk;
        parallel.forRange(rb, 1, (from, to) -> {
            for (int bi = from; bi < to; bi++) {
                int r0 = bi * blk;
                int r1 = Math.min(rows, r0 + blk);
                for (int c0 = 0; c0 < cols; c0 += blk) {
                    int c1 = Math.min(cols, c0 + blk);
                    for (int r = r0; r < r1; r++) {
                        for (int c = c0; c < c1; c++) {
                            out[c * rows + r] = in[r * cols + c];
                        }
                    }
                }
            }
        });
    }
}
