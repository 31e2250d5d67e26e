package io.boundless.engine.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.Seeds;
import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.cpu.Rope;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every backward of the training graph against central finite differences of a plain float64
 * forward, on random inputs. The loss is L = Σ y ⊙ r for a random r (so dy = r); the analytic
 * gradient (float32) must be within a relative L2 error of 1e-4 of the numeric one (float64, step
 * 1e-6), which a wrong term or a missing factor misses by orders of magnitude.
 */
class TrainOpsTest {
    private static final double TOL = 1e-4;
    private static final double STEP = 1e-6;
    private static final Parallel PARALLEL = new Parallel(2);

    @AfterAll
    static void close() {
        PARALLEL.close();
    }

    static long[] seeds() {
        return Seeds.both();
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void gemmComputesABTransposedOnEdgeSizesAndTransposes(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Gemm gemm = new Gemm(PARALLEL);
        for (int[] mnk : new int[][] {{7, 5, 37}, {16, 64, 48}, {3, 130, 17}, {65, 9, 128}, {9, 200, 33}, {12, 128, 64}}) {
            int m = mnk[0], n = mnk[1], k = mnk[2];
            float[] a = random(rnd, m * k);
            float[] b = random(rnd, n * k);
            float[] c = random(rnd, m * n);
            float[] before = c.clone();
            gemm.nt(a, b, c, m, n, k, true);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double ref = before[i * n + j];
                    for (int p = 0; p < k; p++) {
                        ref += (double) a[i * k + p] * b[j * k + p];
                    }
                    assertThat(c[i * n + j]).as("c[%d,%d] of %dx%dx%d seed %d", i, j, m, n, k, seed).isCloseTo((float) ref,
                            org.assertj.core.data.Offset.offset((float) (1e-5 * (Math.abs(ref) + k))));
                }
            }
            float[] t = new float[m * k];
            gemm.transpose(a, m, k, t);
            for (int i = 0; i < m; i++) {
                for (int p = 0; p < k; p++) {
                    assertThat(t[p * m + i]).isEqualTo(a[i * k + p]);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void rmsNormBackwardMatchesFiniteDifferences(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 3, n = 37;
        float eps = 1e-5f;
        float[] x = random(rnd, rows * n);
        float[] w = random(rnd, n);
        float[] r = random(rnd, rows * n);
        float[] y = new float[rows * n];
        float[] rstd = new float[rows];
        TrainOps.rmsNorm(x, w, eps, y, rstd, rows, n);
        float[] dx = new float[rows * n];
        float[] dw = new float[n];
        TrainOps.rmsNormBackward(r, x, w, rstd, dx, dw, rows, n);
        Function<double[][], double[]> f = in -> rmsRef(in[0], in[1], eps, rows, n);
        check("rmsNorm dx", dx, numeric(f, new double[][] {d(x), d(w)}, 0, d(r)));
        check("rmsNorm dw", dw, numeric(f, new double[][] {d(x), d(w)}, 1, d(r)));
        checkForward("rmsNorm", y, rmsRef(d(x), d(w), eps, rows, n));
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void layerNormBackwardMatchesFiniteDifferences(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 3, n = 29;
        float eps = 1e-5f;
        float[] x = random(rnd, rows * n);
        float[] w = random(rnd, n);
        float[] b = random(rnd, n);
        float[] r = random(rnd, rows * n);
        float[] y = new float[rows * n];
        float[] mean = new float[rows];
        float[] rstd = new float[rows];
        TrainOps.layerNorm(x, w, b, eps, y, mean, rstd, rows, n);
        float[] dx = new float[rows * n];
        float[] dw = new float[n];
        float[] db = new float[n];
        TrainOps.layerNormBackward(r, x, w, mean, rstd, dx, dw, db, rows, n);
        Function<double[][], double[]> f = in -> lnRef(in[0], in[1], in[2], eps, rows, n);
        double[][] in = {d(x), d(w), d(b)};
        check("layerNorm dx", dx, numeric(f, in, 0, d(r)));
        check("layerNorm dw", dw, numeric(f, in, 1, d(r)));
        check("layerNorm db", db, numeric(f, in, 2, d(r)));
        checkForward("layerNorm", y, lnRef(d(x), d(w), d(b), eps, rows, n));
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void swigluAndGeluBackwardsMatchFiniteDifferences(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 50;
        float[] g = random(rnd, n, 3);
        float[] u = random(rnd, n, 3);
        float[] r = random(rnd, n);
        float[] dg = new float[n];
        float[] du = new float[n];
        TrainOps.swigluBackward(r, g, u, dg, du, n);
        Function<double[][], double[]> sw = in -> {
            double[] y = new double[n];
            for (int i = 0; i < n; i++) {
                y[i] = in[0][i] / (1 + Math.exp(-in[0][i])) * in[1][i];
            }
            return y;
        };
        check("swiglu dg", dg, numeric(sw, new double[][] {d(g), d(u)}, 0, d(r)));
        check("swiglu du", du, numeric(sw, new double[][] {d(g), d(u)}, 1, d(r)));
        float[] dx = new float[n];
        TrainOps.geluBackward(r, g, dx, n);
        Function<double[][], double[]> ge = in -> {
            double[] y = new double[n];
            for (int i = 0; i < n; i++) {
                double v = in[0][i];
                y[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
            }
            return y;
        };
        check("gelu dx", dx, numeric(ge, new double[][] {d(g)}, 0, d(r)));
        float[] y = new float[n];
        TrainOps.gelu(g, y, n);
        checkForward("gelu", y, ge.apply(new double[][] {d(g)}));
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void ropeBackwardMatchesFiniteDifferences(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 4, heads = 2, hd = 8;
        int[] pos = {0, 3, 17, 250};
        float[] inv = Rope.inverseFrequencies(hd, 10000, null);
        float[] x = random(rnd, rows * heads * hd);
        float[] r = random(rnd, rows * heads * hd);
        float[] dx = r.clone();
        TrainOps.ropeBackward(dx, rows, heads, hd, pos, inv);
        Function<double[][], double[]> f = in -> {
            double[] y = in[0].clone();
            int half = hd / 2;
            for (int row = 0; row < rows; row++) {
                for (int h = 0; h < heads; h++) {
                    int base = (row * heads + h) * hd;
                    for (int i = 0; i < half; i++) {
                        double a = pos[row] * (double) inv[i];
                        double x0 = in[0][base + i];
                        double x1 = in[0][base + i + half];
                        y[base + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
                        y[base + i + half] = x0 * Math.sin(a) + x1 * Math.cos(a);
                    }
                }
            }
            return y;
        };
        check("rope dx", dx, numeric(f, new double[][] {d(x)}, 0, d(r)));
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void groupedQueryAttentionBackwardMatchesFiniteDifferencesWithDocumentMasks(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int batch = 2, seq = 5, heads = 4, kvHeads = 2, hd = 6;
        // row 0: one document; row 1: documents at 0..1 and 2..4
        int[] docStart = {0, 0, 0, 0, 0, 0, 0, 2, 2, 2};
        TrainOps.AttnShape s = new TrainOps.AttnShape(batch, seq, heads, kvHeads, hd, docStart);
        int t = batch * seq;
        float[] q = random(rnd, t * heads * hd);
        float[] k = random(rnd, t * kvHeads * hd);
        float[] v = random(rnd, t * kvHeads * hd);
        float[] r = random(rnd, t * heads * hd);
        float[] out = new float[t * heads * hd];
        float[] p = new float[s.probSize()];
        TrainOps.attention(PARALLEL, q, k, v, out, p, s);
        float[] dq = new float[q.length];
        float[] dk = new float[k.length];
        float[] dv = new float[v.length];
        TrainOps.attentionBackward(PARALLEL, r, q, k, v, p, dq, dk, dv, s);
        Function<double[][], double[]> f = in -> attentionRef(in[0], in[1], in[2], s);
        double[][] in = {d(q), d(k), d(v)};
        checkForward("attention", out, attentionRef(d(q), d(k), d(v), s));
        check("attention dq", dq, numeric(f, in, 0, d(r)));
        check("attention dk", dk, numeric(f, in, 1, d(r)));
        check("attention dv", dv, numeric(f, in, 2, d(r)));
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void crossEntropyGradientMatchesFiniteDifferencesAndSkipsRowsWithoutTargets(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 4, vocab = 11;
        float[] logits = random(rnd, rows * vocab, 3);
        int[] targets = {3, -1, 10, 0};
        float[] dl = new float[rows * vocab];
        double loss = TrainOps.crossEntropy(PARALLEL, logits, targets, rows, vocab, dl);
        Function<double[][], double[]> f = in -> {
            double total = 0;
            int count = 0;
            for (int r = 0; r < rows; r++) {
                if (targets[r] < 0) {
                    continue;
                }
                double max = Double.NEGATIVE_INFINITY;
                for (int i = 0; i < vocab; i++) {
                    max = Math.max(max, in[0][r * vocab + i]);
                }
                double sum = 0;
                for (int i = 0; i < vocab; i++) {
                    sum += Math.exp(in[0][r * vocab + i] - max);
                }
                total += Math.log(sum) + max - in[0][r * vocab + targets[r]];
                count++;
            }
            return new double[] {total / count};
        };
        assertThat(loss).isCloseTo(f.apply(new double[][] {d(logits)})[0], org.assertj.core.data.Offset.offset(1e-5));
        check("cross-entropy dlogits", dl, numeric(f, new double[][] {d(logits)}, 0, new double[] {1}));
        for (int i = 0; i < vocab; i++) {
            assertThat(dl[vocab + i]).isZero();
        }
    }

    // ---- float64 references

    static double[] rmsRef(double[] x, double[] w, double eps, int rows, int n) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < n; i++) {
                ss += x[r * n + i] * x[r * n + i];
            }
            double s = 1 / Math.sqrt(ss / n + eps);
            for (int i = 0; i < n; i++) {
                y[r * n + i] = x[r * n + i] * s * w[i];
            }
        }
        return y;
    }

    static double[] lnRef(double[] x, double[] w, double[] b, double eps, int rows, int n) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int i = 0; i < n; i++) {
                m += x[r * n + i];
            }
            m /= n;
            double var = 0;
            for (int i = 0; i < n; i++) {
                var += (x[r * n + i] - m) * (x[r * n + i] - m);
            }
            double s = 1 / Math.sqrt(var / n + eps);
            for (int i = 0; i < n; i++) {
                y[r * n + i] = (x[r * n + i] - m) * s * w[i] + b[i];
            }
        }
        return y;
    }

    static double[] attentionRef(double[] q, double[] k, double[] v, TrainOps.AttnShape s) {
        int hd = s.headDim();
        int group = s.heads() / s.kvHeads();
        double[] out = new double[s.batch() * s.seq() * s.heads() * hd];
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < s.heads(); h++) {
                int kvh = h / group;
                for (int i = 0; i < s.seq(); i++) {
                    int t = b * s.seq() + i;
                    int first = s.docStart()[t];
                    double[] sc = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = first; j <= i; j++) {
                        double dot = 0;
                        for (int e = 0; e < hd; e++) {
                            dot += q[(t * s.heads() + h) * hd + e] * k[((b * s.seq() + j) * s.kvHeads() + kvh) * hd + e];
                        }
                        sc[j] = dot / Math.sqrt(hd);
                        max = Math.max(max, sc[j]);
                    }
                    double sum = 0;
                    for (int j = first; j <= i; j++) {
                        sc[j] = Math.exp(sc[j] - max);
                        sum += sc[j];
                    }
                    for (int j = first; j <= i; j++) {
                        for (int e = 0; e < hd; e++) {
                            out[(t * s.heads() + h) * hd + e] += sc[j] / sum * v[((b * s.seq() + j) * s.kvHeads() + kvh) * hd + e];
                        }
                    }
                }
            }
        }
        return out;
    }

    // ---- finite differences

    /** ∂(Σ f(inputs) ⊙ r)/∂inputs[which] by central differences in float64. */
    static double[] numeric(Function<double[][], double[]> f, double[][] inputs, int which, double[] r) {
        double[] x = inputs[which];
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + STEP;
            double plus = dotR(f.apply(inputs), r);
            x[i] = keep - STEP;
            double minus = dotR(f.apply(inputs), r);
            x[i] = keep;
            g[i] = (plus - minus) / (2 * STEP);
        }
        return g;
    }

    private static double dotR(double[] y, double[] r) {
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += y[i] * r[i];
        }
        return s;
    }

    static void check(String what, float[] analytic, double[] numeric) {
        assertThat(relativeError(analytic, numeric)).as(what + ": relative L2 error of the analytic gradient").isLessThan(TOL);
    }

    private static void checkForward(String what, float[] ours, double[] ref) {
        assertThat(relativeError(ours, ref)).as(what + " forward against float64").isLessThan(1e-5);
    }

    static double relativeError(float[] a, double[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - ref[i]) * (a[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    static float[] random(SplittableRandom rnd, int n) {
        return random(rnd, n, 1);
    }

    static float[] random(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * scale);
        }
        return a;
    }

    static double[] d(float[] a) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }
}
