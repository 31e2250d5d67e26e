package io.boundless.engine.cpu;

/**
 * Rotary position embeddings. Two layouts rotate different pairs of a head's dimensions:
 * {@link Layout#ROTATE_HALF} pairs i with i + d/2 (Hugging Face Llama, Qwen2, Mistral checkpoints),
 * {@link Layout#ADJACENT} pairs 2i with 2i+1 (GGUF llama files, whose Q/K rows llama.cpp's converter
 * permuted to match). The same weights give the same result in either layout once permuted.
 */
public final class Rope {
    public enum Layout { ROTATE_HALF, ADJACENT }

    /** Llama 3's rope_scaling ("rope_type": "llama3"). */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    /** inverse frequencies theta^(-2i/d) for i in [0, d/2), with Llama 3 scaling applied when given. */
    public static float[] inverseFrequencies(int rotaryDim, double theta, Llama3Scaling scaling) {
        float[] inv = new float[rotaryDim / 2];
        for (int i = 0; i < inv.length; i++) {
            double f = 1.0 / Math.pow(theta, (2.0 * i) / rotaryDim);
            if (scaling != null) {
                double lowWavelen = scaling.originalMaxPositions() / scaling.lowFreqFactor();
                double highWavelen = scaling.originalMaxPositions() / scaling.highFreqFactor();
                double wavelen = 2 * Math.PI / f;
                if (wavelen > lowWavelen) {
                    f = f / scaling.factor();
                } else if (wavelen >= highWavelen) {
                    double smooth = (scaling.originalMaxPositions() / wavelen - scaling.lowFreqFactor())
                            / (scaling.highFreqFactor() - scaling.lowFreqFactor());
                    f = (1 - smooth) * f / scaling.factor() + smooth * f;
                }
            }
            inv[i] = (float) f;
        }
        return inv;
    }

    /**
     * Rotates {@code heads} heads of {@code headDim} starting at x[off], for one position; only the
     * first {@code 2 * invFreq.length} dimensions of each head rotate.
     */
    public static void apply(float[] x, int off, int heads, int headDim, int position, float[] invFreq, Layout layout) {
        int half = invFreq.length;
        for (int i = 0; i < half; i++) {
            double angle = position * (double) invFreq[i];
            float cos = (float) Math.cos(angle);
            float sin = (float) Math.sin(angle);
            for (int h = 0; h < heads; h++) {
                int base = off + h * headDim;
                int a = layout == Layout.ROTATE_HALF ? base + i : base + 2 * i;
                int b = layout == Layout.ROTATE_HALF ? base + i + half : base + 2 * i + 1;
                float x0 = x[a];
                float x1 = x[b];
                x[a] = x0 * cos - x1 * sin;
                x[b] = x0 * sin + x1 * cos;
            }
        }
    }

    private Rope() {}
}
