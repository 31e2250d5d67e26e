package io.boundless.engine.train;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.cpu.Rope;

/**
 * Forward and backward of each operation of the training graph, on float32 rows. A forward writes
 * what its backward needs (a norm's 1/σ, attention's probabilities); a backward takes the gradient of
 * the output and writes (or, for weights, adds) the gradients of the inputs. Each backward is checked
 * against central finite differences of a float64 forward in {@code TrainOpsTest}.
 */
public final class TrainOps {
    private TrainOps() {}

    // ---- RMSNorm (Llama): y = x / sqrt(mean(x²) + eps) · w

    /** x, y: [rows, n]; rstd: [rows] (1/σ per row, saved for the backward). */
    public static void rmsNorm(float[] x, float[] w, float eps, float[] y, float[] rstd, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                ss += (double) x[o + i] * x[o + i];
            }
            float s = (float) (1.0 / Math.sqrt(ss / n + eps));
            rstd[r] = s;
            for (int i = 0; i < n; i++) {
                y[o + i] = x[o + i] * s * w[i];
            }
        }
    }

    /** dx = (written) ∂L/∂x; dw += ∂L/∂w (dw may be null: frozen weights). */
    public static void rmsNormBackward(float[] dy, float[] x, float[] w, float[] rstd, float[] dx, float[] dw, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            float s = rstd[r];
            double dot = 0;
            for (int i = 0; i < n; i++) {
                dot += (double) dy[o + i] * w[i] * x[o + i];
            }
            float k = (float) (dot * s * s * s / n);
            for (int i = 0; i < n; i++) {
                dx[o + i] = s * dy[o + i] * w[i] - k * x[o + i];
            }
            if (dw != null) {
                for (int i = 0; i < n; i++) {
                    dw[i] += dy[o + i] * x[o + i] * s;
                }
            }
        }
    }

    // ---- LayerNorm (GPT-2): y = (x - μ) / sqrt(var + eps) · w + b

    public static void layerNorm(float[] x, float[] w, float[] b, float eps, float[] y, float[] mean, float[] rstd, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            double m = 0;
            for (int i = 0; i < n; i++) {
                m += x[o + i];
            }
            m /= n;
            double var = 0;
            for (int i = 0; i < n; i++) {
                double d = x[o + i] - m;
                var += d * d;
            }
            float s = (float) (1.0 / Math.sqrt(var / n + eps));
            float mf = (float) m;
            mean[r] = mf;
            rstd[r] = s;
            for (int i = 0; i < n; i++) {
                y[o + i] = (x[o + i] - mf) * s * w[i] + b[i];
            }
        }
    }

    public static void layerNormBackward(float[] dy, float[] x, float[] w, float[] mean, float[] rstd, float[] dx, float[] dw, float[] db,
            int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            float s = rstd[r];
            float m = mean[r];
            double sumG = 0;
            double sumGx = 0;
            for (int i = 0; i < n; i++) {
                float g = dy[o + i] * w[i];
                float xhat = (x[o + i] - m) * s;
                sumG += g;
                sumGx += g * xhat;
            }
            float mg = (float) (sumG / n);
            float mgx = (float) (sumGx / n);
            for (int i = 0; i < n; i++) {
                float xhat = (x[o + i] - m) * s;
                dx[o + i] = s * (dy[o + i] * w[i] - mg - xhat * mgx);
                if (dw != null) {
                    dw[i] += dy[o + i] * xhat;
                    db[i] += dy[o + i];
                }
            }
        }
    }

    // ---- SwiGLU (Llama's MLP): h = silu(g) · u

    public static void swiglu(float[] g, float[] u, float[] h, int n) {
        for (int i = 0; i < n; i++) {
            float s = sigmoid(g[i]);
            h[i] = g[i] * s * u[i];
        }
    }

    public static void swigluBackward(float[] dh, float[] g, float[] u, float[] dg, float[] du, int n) {
        for (int i = 0; i < n; i++) {
            float s = sigmoid(g[i]);
            float silu = g[i] * s;
            du[i] = dh[i] * silu;
            dg[i] = dh[i] * u[i] * s * (1f + g[i] * (1f - s));
        }
    }

    private static float sigmoid(float x) {
        return 1f / (1f + (float) Math.exp(-x));
    }

    // ---- GELU, tanh approximation (GPT-2's "gelu_new")

    private static final float GELU_C = (float) Math.sqrt(2.0 / Math.PI);

    public static void gelu(float[] x, float[] y, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1f + (float) Math.tanh(GELU_C * (v + 0.044715f * v * v * v)));
        }
    }

    public static void geluBackward(float[] dy, float[] x, float[] dx, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[i];
            float t = (float) Math.tanh(GELU_C * (v + 0.044715f * v * v * v));
            float dt = (1f - t * t) * GELU_C * (1f + 3 * 0.044715f * v * v);
            dx[i] = dy[i] * (0.5f * (1f + t) + 0.5f * v * dt);
        }
    }

    // ---- RoPE: a rotation per position; its backward is the rotation by the opposite angle

    /** x: [rows, heads · headDim], rotated in place at positions[row] (Hugging Face's rotate-half layout). */
    public static void rope(float[] x, int rows, int heads, int headDim, int[] positions, float[] invFreq) {
        for (int r = 0; r < rows; r++) {
            Rope.apply(x, r * heads * headDim, heads, headDim, positions[r], invFreq, Rope.Layout.ROTATE_HALF);
        }
    }

    /** dx in place: the transpose of {@link #rope}. */
    public static void ropeBackward(float[] dx, int rows, int heads, int headDim, int[] positions, float[] invFreq) {
        for (int r = 0; r < rows; r++) {
            Rope.apply(dx, r * heads * headDim, heads, headDim, -positions[r], invFreq, Rope.Layout.ROTATE_HALF);
        }
    }

    // ---- Causal grouped-query attention over packed rows, masked to each token's document

    /**
     * The shape of one batch's attention: {@code batch} rows of {@code seq} tokens; a token attends to
     * the tokens of its own document up to itself. docStart[t] is the index within its row where t's
     * document begins (all 0: one document per row).
     */
    public record AttnShape(int batch, int seq, int heads, int kvHeads, int headDim, int[] docStart) {
        int qDim() {
            return heads * headDim;
        }

        int kvDim() {
            return kvHeads * headDim;
        }

        /** Floats of the saved probabilities: [batch, heads, seq, seq]. */
        public int probSize() {
            return batch * heads * seq * seq;
        }
    }

    /**
     * out[t, head] = Σ_j softmax_j(q[t,head] · k[j,kv] / sqrt(d)) v[j,kv] over j in t's document up to t.
     * q, out: [batch · seq, heads · d]; k, v: [batch · seq, kvHeads · d]; p: [batch, heads, seq, seq]
     * (the probabilities, saved for the backward; entries outside the mask are left as they were).
     */
    public static void attention(Parallel parallel, float[] q, float[] k, float[] v, float[] out, float[] p, AttnShape s) {
        int hd = s.headDim();
        int qDim = s.qDim();
        int kvDim = s.kvDim();
        int group = s.heads() / s.kvHeads();
        float scale = (float) (1.0 / Math.sqrt(hd));
        parallel.forRange(s.batch() * s.heads(), 1, (from, to) -> {
            for (int bh = from; bh < to; bh++) {
                int b = bh / s.heads();
                int h = bh % s.heads();
                int kvh = h / group;
                for (int i = 0; i < s.seq(); i++) {
                    int t = b * s.seq() + i;
                    int first = s.docStart() == null ? 0 : s.docStart()[t];
                    int pr = (bh * s.seq() + i) * s.seq();
                    float max = Float.NEGATIVE_INFINITY;
                    for (int j = first; j <= i; j++) {
                        float sc = Gemm.dot(q, t * qDim + h * hd, k, (b * s.seq() + j) * kvDim + kvh * hd, hd) * scale;
                        p[pr + j] = sc;
                        max = Math.max(max, sc);
                    }
                    double sum = 0;
                    for (int j = first; j <= i; j++) {
                        float e = (float) Math.exp(p[pr + j] - max);
                        p[pr + j] = e;
                        sum += e;
                    }
                    float inv = (float) (1.0 / sum);
                    int oo = t * qDim + h * hd;
                    java.util.Arrays.fill(out, oo, oo + hd, 0f);
                    for (int j = first; j <= i; j++) {
                        p[pr + j] *= inv;
                        Gemm.axpy(p[pr + j], v, (b * s.seq() + j) * kvDim + kvh * hd, out, oo, hd);
                    }
                }
            }
        });
    }

    /**
     * The backward of {@link #attention}: dq, dk, dv written (zeroed here). Work is split by (row,
     * key/value head), so the heads that share a key/value head add into it from one thread.
     */
    public static void attentionBackward(Parallel parallel, float[] dout, float[] q, float[] k, float[] v, float[] p,
            float[] dq, float[] dk, float[] dv, AttnShape s) {
        int hd = s.headDim();
        int qDim = s.qDim();
        int kvDim = s.kvDim();
        int group = s.heads() / s.kvHeads();
        float scale = (float) (1.0 / Math.sqrt(hd));
        parallel.forRange(s.batch() * s.kvHeads(), 1, (from, to) -> {
            float[] ds = new float[s.seq()];
            for (int bk = from; bk < to; bk++) {
                int b = bk / s.kvHeads();
                int kvh = bk % s.kvHeads();
                for (int i = 0; i < s.seq(); i++) {
                    int t = b * s.seq() + i;
                    java.util.Arrays.fill(dk, t * kvDim + kvh * hd, t * kvDim + kvh * hd + hd, 0f);
                    java.util.Arrays.fill(dv, t * kvDim + kvh * hd, t * kvDim + kvh * hd + hd, 0f);
                }
                for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                    int bh = b * s.heads() + h;
                    for (int i = 0; i < s.seq(); i++) {
                        int t = b * s.seq() + i;
                        int first = s.docStart() == null ? 0 : s.docStart()[t];
                        int pr = (bh * s.seq() + i) * s.seq();
                        int oo = t * qDim + h * hd;
                        double rowdot = 0;
                        for (int j = first; j <= i; j++) {
                            int kv = (b * s.seq() + j) * kvDim + kvh * hd;
                            float dp = Gemm.dot(dout, oo, v, kv, hd);
                            ds[j] = dp;
                            rowdot += (double) dp * p[pr + j];
                            Gemm.axpy(p[pr + j], dout, oo, dv, kv, hd);
                        }
                        java.util.Arrays.fill(dq, oo, oo + hd, 0f);
                        float rd = (float) rowdot;
                        for (int j = first; j <= i; j++) {
                            int kv = (b * s.seq() + j) * kvDim + kvh * hd;
                            float d = p[pr + j] * (ds[j] - rd) * scale;
                            Gemm.axpy(d, k, kv, dq, oo, hd);
                            Gemm.axpy(d, q, oo, dk, kv, hd);
                        }
                    }
                }
            }
        });
    }

    // ---- Cross-entropy over the vocabulary

    /**
     * Mean of -log softmax(logits[t])[targets[t]] over the rows whose target is not negative; writes
     * dlogits = (softmax - onehot) / count (zero for the other rows). Returns the mean loss (0 when no
     * row has a target).
     */
    public static double crossEntropy(Parallel parallel, float[] logits, int[] targets, int rows, int vocab, float[] dlogits) {
        int count = 0;
        for (int r = 0; r < rows; r++) {
            if (targets[r] >= 0) {
                count++;
            }
        }
        double[] loss = new double[rows];
        float inv = count == 0 ? 0f : 1f / count;
        parallel.forRange(rows, 8, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * vocab;
                if (targets[r] < 0) {
                    java.util.Arrays.fill(dlogits, o, o + vocab, 0f);
                    continue;
                }
                float max = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < vocab; i++) {
                    max = Math.max(max, logits[o + i]);
                }
                double sum = 0;
                for (int i = 0; i < vocab; i++) {
                    float e = (float) Math.exp(logits[o + i] - max);
                    dlogits[o + i] = e;
                    sum += e;
                }
                loss[r] = Math.log(sum) + max - logits[o + targets[r]];
                float norm = (float) (1.0 / sum) * inv;
                for (int i = 0; i < vocab; i++) {
                    dlogits[o + i] *= norm;
                }
                dlogits[o + targets[r]] -= inv;
            }
        });
        double total = 0;
        for (double l : loss) {
            total += l;
        }
        return count == 0 ? 0 : total / count;
    }
}
