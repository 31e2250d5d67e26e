package io.boundless.engine.sample;

import io.boundless.engine.backend.StepOutput;

/**
 * What the CUDA sampling kernel (sample.cu: sample_rows) computes from a logits row, written plainly
 * on the CPU: argmax (lowest id among maxima), log-sum-exp accumulated in double, the k best
 * (logit desc, id asc), and the sum of exp((logit - max) / T) in double. Sums here go in id order,
 * so the reduced sample equals the whole-row sample bit for bit; the kernel sums in its own fixed
 * order, which moves the last bits.
 */
public final class RowReduction {

    public static int argmax(float[] row) {
        return Sampler.argmax(row);
    }

    public static float logSumExp(float[] row) {
        float max = row[argmax(row)];
        double s = 0;
        for (float v : row) {
            s += Math.exp(v - max);
        }
        return (float) (max + Math.log(s));
    }

    public static StepOutput.Candidates candidates(float[] row, int k, float temperature) {
        int[] ids = new int[k];
        float[] logits = new float[k];
        float pv = Float.POSITIVE_INFINITY;
        int pi = -1;
        for (int j = 0; j < k; j++) {
            float v = Float.NEGATIVE_INFINITY;
            int vi = Integer.MAX_VALUE;
            for (int i = 0; i < row.length; i++) {
                if (before(pv, pi, row[i], i) && before(row[i], i, v, vi)) {
                    v = row[i];
                    vi = i;
                }
            }
            ids[j] = vi;
            logits[j] = v;
            pv = v;
            pi = vi;
        }
        float max = row[argmax(row)];
        double sumT = 0;
        if (temperature > 0) {
            for (float v : row) {
                sumT += Math.exp((v - max) / temperature);
            }
        }
        return new StepOutput.Candidates(ids, logits, max, logSumExp(row), sumT);
    }

    /** The token Sampler draws with temperature and min-p alone, given its uniform number (ids walked in order). */
    public static int draw(float[] row, float temperature, float minP, double u) {
        float max = row[argmax(row)];
        double[] prob = new double[row.length];
        double total = 0;
        for (int i = 0; i < row.length; i++) {
            prob[i] = row[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp((row[i] - max) / temperature);
            if (!(minP > 0 && prob[i] < minP)) {
                total += prob[i];
            }
        }
        double target = u * total;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < row.length; i++) {
            if (!(minP > 0 && prob[i] < minP) && prob[i] > 0) {
                acc += prob[i];
                last = i;
                if (target < acc) {
                    return i;
                }
            }
        }
        return last >= 0 ? last : argmax(row);
    }

    private static boolean before(float v, int i, float w, int j) {
        return v > w || (v == w && i < j);
    }

    private RowReduction() {}
}
