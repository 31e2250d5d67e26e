package io.boundless.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Element-wise and normalization kernels on float activations. All work in place or into out. */
public final class Ops {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** out[i] = x[i] / sqrt(mean(x²) + eps) * w[i], for one vector of n at offset. */
    public static void rmsNorm(float[] x, int off, float[] w, float eps, float[] out, int outOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, off + i);
            acc = v.fma(v, acc);
        }
        float ss = Lanes.sum(acc);
        for (; i < n; i++) {
            ss += x[off + i] * x[off + i];
        }
        float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
        i = 0;
        for (; i < bound; i += F.length()) {
            FloatVector.fromArray(F, x, off + i).mul(scale).mul(FloatVector.fromArray(F, w, i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = x[off + i] * scale * w[i];
        }
    }

    /** out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i] (GPT-2). */
    public static void layerNorm(float[] x, int off, float[] w, float[] b, float eps, float[] out, int outOff, int n) {
        double mean = 0;
        for (int i = 0; i < n; i++) {
            mean += x[off + i];
        }
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) {
            double d = x[off + i] - mean;
            var += d * d;
        }
        var /= n;
        float inv = (float) (1.0 / Math.sqrt(var + eps));
        float m = (float) mean;
        for (int i = 0; i < n; i++) {
            out[outOff + i] = (x[off + i] - m) * inv * w[i] + b[i];
        }
    }

    /** Numerically stable softmax of x[off, off+n) in place. */
    public static void softmax(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, x[off + i]);
        }
        float sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < n; i++) {
            x[off + i] *= inv;
        }
    }

    /** gate[i] = silu(gate[i]) * up[i] (SwiGLU), in place in gate. */
    public static void swiglu(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** GELU with the tanh approximation GPT-2 uses ("gelu_new"), in place. */
    public static void gelu(float[] x, int n) {
        final float c = (float) Math.sqrt(2.0 / Math.PI);
        for (int i = 0; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1f + (float) Math.tanh(c * (v + 0.044715f * v * v * v)));
        }
    }

    /**
     * GELU as ggml's CPU backend evaluates it, for comparing with llama.cpp only: below -10 zero, from 10 the
     * identity, between them a table indexed by f16(x) holding f16(gelu(x)) (ggml-cpu/vec.h, GGML_GELU_FP16).
     */
    public static void geluGgml(float[] x, int n) {
        float[] table = GgmlGelu.TABLE;
        for (int i = 0; i < n; i++) {
            float v = x[i];
            x[i] = v <= -10f ? 0f : v >= 10f ? v : table[Float.floatToFloat16(v) & 0xffff];
        }
    }

    private static final class GgmlGelu {
        static final float[] TABLE = new float[1 << 16];

        static {
            for (int i = 0; i < TABLE.length; i++) {
                float f = Float.float16ToFloat((short) i);
                float g = 0.5f * f * (1f + (float) Math.tanh(0.79788456080286535587989211986876f * f * (1f + 0.044715f * f * f)));
                TABLE[i] = Float.float16ToFloat(Float.floatToFloat16(g));
            }
        }
    }

    /** a[i] += b[i]. */
    public static void add(float[] a, float[] b, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector.fromArray(F, a, i).add(FloatVector.fromArray(F, b, i)).intoArray(a, i);
        }
        for (; i < n; i++) {
            a[i] += b[i];
        }
    }

    private Ops() {}
}
