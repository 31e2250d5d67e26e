package io.boundless.engine.train;

import io.boundless.engine.cpu.Lanes;
import io.boundless.engine.cpu.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The matrix products of training, in float32 on the Vector API. Every product is one kernel,
 * {@code c = a · bᵀ} over contiguous rows (the forward's x·Wᵀ as it is); the backward's two other
 * products are that kernel on transposed operands: dx = dy · W is dy · (Wᵀ)ᵀ, and dW = dyᵀ · x is
 * (dyᵀ) · (xᵀ)ᵀ. A transpose costs one pass over its operand, the product a pass per row of the other,
 * so one well-tuned kernel beats three half-tuned ones.
 *
 * <p>Each output element is computed by one thread in a fixed order, so results do not depend on the
 * thread count: training is deterministic for a seed.
 */
public final class Gemm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int TILE = 4;

    private final Parallel parallel;

    public Gemm(Parallel parallel) {
        this.parallel = parallel;
    }

    public Parallel parallel() {
        return parallel;
    }

    /**
     * c[m × n] (+)= a[m × k] · b[n × k]ᵀ.
     *
     * @param accumulate add into c instead of overwriting it
     */
    public void nt(float[] a, float[] b, float[] c, int m, int n, int k, boolean accumulate) {
        // hot spot of training: nearly all FLOPs are here. Tiles of 4 rows of a by 4 rows of b keep 16
        // accumulators in registers, so each loaded vector is used four times.
        int mt = (m + TILE - 1) / TILE;
        int nt = (n + TILE - 1) / TILE;
        if (mt >= nt) {
            parallel.forRange(mt, 1, (from, to) -> {
                for (int it = from; it < to; it++) {
                    for (int jt = 0; jt < nt; jt++) {
                        tile(a, b, c, it * TILE, jt * TILE, m, n, k, accumulate);
                    }
                }
            });
        } else {
            parallel.forRange(nt, 1, (from, to) -> {
                for (int jt = from; jt < to; jt++) {
                    for (int it = 0; it < mt; it++) {
                        tile(a, b, c, it * TILE, jt * TILE, m, n, k, accumulate);
                    }
                }
            });
        }
    }

    private static void tile(float[] a, float[] b, float[] c, int i0, int j0, int m, int n, int k, boolean accumulate) {
        if (i0 + TILE > m || j0 + TILE > n) {
            for (int i = i0; i < Math.min(m, i0 + TILE); i++) {
                for (int j = j0; j < Math.min(n, j0 + TILE); j++) {
                    float d = dot(a, i * k, b, j * k, k);
                    c[i * n + j] = accumulate ? c[i * n + j] + d : d;
                }
            }
            return;
        }
        int a0 = i0 * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        int b0 = j0 * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int bound = F.loopBound(k);
        int p = 0;
        for (; p < bound; p += F.length()) {
            FloatVector x0 = FloatVector.fromArray(F, a, a0 + p);
            FloatVector x1 = FloatVector.fromArray(F, a, a1 + p);
            FloatVector x2 = FloatVector.fromArray(F, a, a2 + p);
            FloatVector x3 = FloatVector.fromArray(F, a, a3 + p);
            FloatVector y = FloatVector.fromArray(F, b, b0 + p);
            c00 = x0.fma(y, c00);
            c10 = x1.fma(y, c10);
            c20 = x2.fma(y, c20);
            c30 = x3.fma(y, c30);
            y = FloatVector.fromArray(F, b, b1 + p);
            c01 = x0.fma(y, c01);
            c11 = x1.fma(y, c11);
            c21 = x2.fma(y, c21);
            c31 = x3.fma(y, c31);
            y = FloatVector.fromArray(F, b, b2 + p);
            c02 = x0.fma(y, c02);
            c12 = x1.fma(y, c12);
            c22 = x2.fma(y, c22);
            c32 = x3.fma(y, c32);
            y = FloatVector.fromArray(F, b, b3 + p);
            c03 = x0.fma(y, c03);
            c13 = x1.fma(y, c13);
            c23 = x2.fma(y, c23);
            c33 = x3.fma(y, c33);
        }
        float[] s = {
            Lanes.sum(c00), Lanes.sum(c01), Lanes.sum(c02), Lanes.sum(c03),
            Lanes.sum(c10), Lanes.sum(c11), Lanes.sum(c12), Lanes.sum(c13),
            Lanes.sum(c20), Lanes.sum(c21), Lanes.sum(c22), Lanes.sum(c23),
            Lanes.sum(c30), Lanes.sum(c31), Lanes.sum(c32), Lanes.sum(c33)};
        for (; p < k; p++) {
            for (int i = 0; i < TILE; i++) {
                float av = a[a0 + i * k + p];
                for (int j = 0; j < TILE; j++) {
                    s[i * TILE + j] += av * b[b0 + j * k + p];
                }
            }
        }
        for (int i = 0; i < TILE; i++) {
            int row = (i0 + i) * n + j0;
            for (int j = 0; j < TILE; j++) {
                c[row + j] = accumulate ? c[row + j] + s[i * TILE + j] : s[i * TILE + j];
            }
        }
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
