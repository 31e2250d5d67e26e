package io.boundless.engine.sample;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Turns one sequence's logits into its next token: penalties, then greedy or temperature with
 * top-k / top-p / min-p filtering, with the sequence's own random stream (so a seeded request
 * reproduces whatever it is batched with). Log-probabilities are those of the model's distribution
 * (log-softmax of the raw logits, before penalties and logit bias), as OpenAI-style APIs report them.
 */
public final class Sampler {

    /** A sampled token, its log-probability, and the top alternatives (ids and log-probabilities, best first). */
    public record Sample(int token, float logprob, int[] topIds, float[] topLogprobs) {}

    /**
     * @param logits    this sequence's logits (a copy is modified, not the array)
     * @param counts    how often each token occurs in the output so far (presence/frequency penalties)
     * @param seen      tokens in prompt or output (repetition penalty)
     * @param suppress  tokens that may not be chosen now (EOS and stop ids before min_new_tokens)
     */
    public static Sample sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rnd,
            int[] counts, boolean[] seen, int[] suppress) {
        return sample(logits, offset, vocab, p, rnd, counts, seen, suppress, Double.NaN);
    }

    /**
     * As above with the draw's uniform number given ({@code u} in [0, 1), drawn from the sequence's
     * stream before the step so that a device could use it; NaN: draw it here). The draw uses one
     * uniform number either way, so both give the same token.
     */
    public static Sample sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rnd,
            int[] counts, boolean[] seen, int[] suppress, double u) {
        return sample(logits, offset, vocab, p, rnd, counts, seen, suppress, u, null);
    }

    /**
     * As above, choosing only among the tokens set in {@code allowed} (bit i of word i/64 for token i; null: all),
     * the mask of a constrained output. Log-probabilities stay those of the model's distribution.
     */
    public static Sample sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rnd,
            int[] counts, boolean[] seen, int[] suppress, double u, long[] allowed) {
        float[] raw = Arrays.copyOfRange(logits, offset, offset + vocab);
        float[] l = raw.clone();
        if (p.repetitionPenalty() != 1 || p.presencePenalty() != 0 || p.frequencyPenalty() != 0) {
            for (int i = 0; i < vocab; i++) {
                if (seen != null && seen[i] && p.repetitionPenalty() != 1) {
                    l[i] = l[i] > 0 ? l[i] / p.repetitionPenalty() : l[i] * p.repetitionPenalty();
                }
                if (counts != null && counts[i] > 0) {
                    l[i] -= p.presencePenalty() + p.frequencyPenalty() * counts[i];
                }
            }
        }
        for (var b : p.logitBias().entrySet()) {  // OpenAI's logit_bias: added to the logit before sampling (ids past the vocabulary were refused)
            int id = b.getKey();
            if (id < vocab) {
                l[id] += b.getValue();
            }
        }
        for (int s : suppress) {
            if (s >= 0 && s < vocab) {
                l[s] = Float.NEGATIVE_INFINITY;
            }
        }
        if (allowed != null) {
            for (int i = 0; i < vocab; i++) {
                if ((allowed[i >>> 6] & (1L << (i & 63))) == 0) {
                    l[i] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        int token = p.isGreedy() ? argmax(l) : draw(l, p, rnd, u);
        if (p.logprobs() == 0) { // the chosen token's log-probability alone: no row of them
            return new Sample(token, raw[token] - logSumExp(raw), new int[0], new float[0]);
        }
        float[] logsm = logSoftmax(raw);
        int[] topIds = topK(logsm, Math.min(p.logprobs(), vocab));
        float[] topLp = new float[topIds.length];
        for (int i = 0; i < topIds.length; i++) {
            topLp[i] = logsm[topIds[i]];
        }
        return new Sample(token, logsm[token], topIds, topLp);
    }

    /**
     * The same choice as {@link #sample} from a row's top candidates instead of the whole row, for
     * rows without penalties or suppressed tokens that are greedy or sample with top-k: the tokens
     * outside the k best can never be drawn, so the draw needs only their probabilities' sum over
     * the whole vocabulary ({@code sumAtTemperature}, for top-p's threshold). Probabilities, the
     * kept set and the draw are computed as in {@link #sample}, summing in token-id order; the
     * log-probabilities are the raw row's log-softmax (logit - log-sum-exp).
     *
     * With top-p and no top-k, the candidates suffice only when their probabilities reach top_p of the
     * whole sum (then every token after them is cut); otherwise this returns null, having used
     * nothing of the random stream, and the caller samples from the whole row.
     *
     * @param ids     candidate ids, best first (by logit, then lowest id); at least max(top_k, logprobs) of them, or 1 when greedy
     * @param logits  their logits
     */
    public static Sample fromCandidates(int[] ids, float[] logits, float max, float logSumExp, double sumAtTemperature, SamplingParams p,
            SplittableRandom rnd) {
        int n = ids.length;
        int chosen;
        if (p.isGreedy()) {
            chosen = 0;
        } else {
            boolean topPOnly = p.topK() <= 0 && p.topP() < 1;
            if (!topPOnly && (p.topK() <= 0 || p.topK() > n)) { // the engine routes top_k at or above the vocabulary as top_k 0
                throw new IllegalArgumentException("sampling from " + n + " candidates needs 0 < top_k <= " + n + " or top_p < 1, got top_k " + p.topK());
            }
            double[] prob = new double[n];
            double all = 0;
            for (int j = 0; j < n; j++) {
                prob[j] = logits[j] == Float.NEGATIVE_INFINITY ? 0 : Math.exp((logits[j] - max) / p.temperature());
                all += prob[j];
            }
            if (topPOnly && !(all >= p.topP() * sumAtTemperature)) {
                return null;
            }
            boolean[] keep = new boolean[n];
            double cum = 0;
            for (int r = 0; r < n; r++) {
                boolean inK = topPOnly || r < p.topK();
                boolean inP = cum < p.topP() * sumAtTemperature; // the token that crosses p is kept
                keep[r] = inK && inP;
                cum += prob[r];
            }
            if (p.minP() > 0) {
                for (int r = 0; r < n; r++) {
                    if (prob[r] < p.minP() * 1.0) { // the top probability is exp(0) = 1
                        keep[r] = false;
                    }
                }
            }
            // the kept tokens in id order, as the whole-row draw walks them
            Integer[] order = new Integer[n];
            for (int r = 0; r < n; r++) {
                order[r] = r;
            }
            Arrays.sort(order, (a, b) -> Integer.compare(ids[a], ids[b]));
            double total = 0;
            for (int r : order) {
                if (keep[r]) {
                    total += prob[r];
                }
            }
            double u = rnd.nextDouble() * total;
            double acc = 0;
            int last = -1;
            chosen = -1;
            for (int r : order) {
                if (keep[r] && prob[r] > 0) {
                    acc += prob[r];
                    last = r;
                    if (u < acc) {
                        chosen = r;
                        break;
                    }
                }
            }
            if (chosen < 0) {
                chosen = last >= 0 ? last : 0;
            }
        }
        int[] topIds = new int[0];
        float[] topLp = new float[0];
        if (p.logprobs() > 0) {
            int k = Math.min(p.logprobs(), n);
            topIds = Arrays.copyOf(ids, k);
            topLp = new float[k];
            for (int j = 0; j < k; j++) {
                topLp[j] = logits[j] - logSumExp;
            }
        }
        return new Sample(ids[chosen], logits[chosen] - logSumExp, topIds, topLp);
    }

    /** The log-probability of a given token under the model's distribution, and the top alternatives. */
    public static Sample score(float[] logits, int offset, int vocab, int token, int topN) {
        float[] logsm = logSoftmax(java.util.Arrays.copyOfRange(logits, offset, offset + vocab));
        int[] topIds = topN > 0 ? topK(logsm, Math.min(topN, vocab)) : new int[0];
        float[] topLp = new float[topIds.length];
        for (int i = 0; i < topIds.length; i++) {
            topLp[i] = logsm[topIds[i]];
        }
        return new Sample(token, logsm[token], topIds, topLp);
    }

    private static int draw(float[] l, SamplingParams p, SplittableRandom rnd, double uniform) {
        int n = l.length;
        float max = Float.NEGATIVE_INFINITY;
        for (float v : l) {
            max = Math.max(max, v);
        }
        double[] prob = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            prob[i] = l[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp((l[i] - max) / p.temperature());
            sum += prob[i];
        }
        if (!(p.topK() > 0 && p.topK() < n || p.topP() < 1) && p.minP() <= 0) {
            // every token is kept: the same sums as below, without the bookkeeping
            double u = (Double.isNaN(uniform) ? rnd.nextDouble() : uniform) * sum;
            double acc = 0;
            int last = -1;
            for (int i = 0; i < n; i++) {
                if (prob[i] > 0) {
                    acc += prob[i];
                    last = i;
                    if (u < acc) {
                        return i;
                    }
                }
            }
            return last >= 0 ? last : argmax(l);
        }
        Integer[] order = null;
        boolean[] keep = new boolean[n];
        Arrays.fill(keep, true);
        if (p.topK() > 0 && p.topK() < n || p.topP() < 1) {
            order = new Integer[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Double.compare(prob[b], prob[a]) != 0 ? Double.compare(prob[b], prob[a]) : Integer.compare(a, b));
            double cum = 0;
            for (int r = 0; r < n; r++) {
                int i = order[r];
                boolean inK = p.topK() <= 0 || r < p.topK();
                boolean inP = cum < p.topP() * sum; // the token that crosses p is kept
                keep[i] = inK && inP;
                cum += prob[i];
            }
        }
        if (p.minP() > 0) {
            double top = 0;
            for (double v : prob) {
                top = Math.max(top, v);
            }
            for (int i = 0; i < n; i++) {
                if (prob[i] < p.minP() * top) {
                    keep[i] = false;
                }
            }
        }
        double total = 0;
        for (int i = 0; i < n; i++) {
            if (keep[i]) {
                total += prob[i];
            }
        }
        double u = (Double.isNaN(uniform) ? rnd.nextDouble() : uniform) * total;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < n; i++) {
            if (keep[i] && prob[i] > 0) {
                acc += prob[i];
                last = i;
                if (u < acc) {
                    return i;
                }
            }
        }
        return last >= 0 ? last : argmax(l);
    }

    public static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    /** log(sum(exp(x))), as logSoftmax computes it (so that x[i] minus it is logSoftmax(x)[i] exactly). */
    static float logSumExp(float[] x) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : x) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : x) {
            sum += Math.exp(v - max);
        }
        return (float) (max + Math.log(sum));
    }

    static float[] logSoftmax(float[] x) {
        float lse = logSumExp(x);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] - lse;
        }
        return out;
    }

    static int[] topK(float[] x, int k) {
        int[] best = new int[k];
        Arrays.fill(best, -1);
        for (int i = 0; i < x.length; i++) {
            int j = k - 1;
            if (best[j] != -1 && x[i] <= x[best[j]]) {
                continue;
            }
            while (j > 0 && (best[j - 1] == -1 || x[i] > x[best[j - 1]])) {
                best[j] = best[j - 1];
                j--;
            }
            best[j] = i;
        }
        return best;
    }

    private Sampler() {}
}
