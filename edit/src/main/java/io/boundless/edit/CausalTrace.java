package io.boundless.edit;

import io.boundless.engine.train.Intervention;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Causal tracing (Meng et al. 2022): where a model holds a fact. The subject's token embeddings are corrupted with
 * Gaussian noise of noise × σ (σ the standard deviation of the subject's embedding values; noise 3), over samples
 * noisy runs; then one state of the clean run is restored at a time and the probability of the answer's first token
 * measured again. The indirect effect of a state is P(o | corrupted, restored) − P(o | corrupted). Three kinds:
 * the residual stream after each layer at each token, and the MLP and attention outputs over a window of layers
 * centred on each layer. All restorations of one (kind, layer) go in one batch, samples rows per token.
 */
public final class CausalTrace {
    public enum Kind { RESIDUAL, MLP, ATTENTION }

    /**
     * @param tokens      the prompt's tokens as text
     * @param subject     [first, last] token indexes of the subject
     * @param answer      the answer token's text (the model's own greedy next token, or the given target's first)
     * @param clean       P(answer) on the clean run
     * @param corrupted   P(answer) with the subject corrupted, mean over samples
     * @param effects     per kind: [layer][token] P(answer | corrupted, restored) (the indirect effect plus corrupted)
     */
    public record Trace(List<String> tokens, int[] subject, String answer, int answerId, double clean, double corrupted, double sigma,
            int samples, int window, java.util.Map<Kind, double[][]> effects) {
        /** The indirect effect of restoring kind at (layer, token). */
        public double indirect(Kind kind, int layer, int token) {
            return effects.get(kind)[layer][token] - corrupted;
        }
    }

    private CausalTrace() {}

    public static Trace trace(Lm lm, String prompt, String subject, String target, int samples, double noise, int window, long seed,
            List<Kind> kinds, Progress progress) {
        String template = Contexts.normalize(prompt, subject);
        String text = EditRequest.render(template, subject);
        int[] ids = lm.codec().encode(text);
        int[] subj = EditRequest.subjectTokens(lm.codec(), template, subject);
        int layers = lm.layers();
        int hidden = lm.model().config().hidden();
        int vocab = lm.model().config().vocabSize();
        int t = ids.length;
        // the clean run: its states and the answer
        Lm.Packed one = Lm.pack(List.of(ids));
        float[] logits = lm.forward(one, null);
        double[] lp = Lm.logSoftmax(logits, t - 1, vocab);
        int answer;
        if (target != null && !target.isBlank()) {
            int[] a = lm.codec().encode(Target.spaced(target));
            answer = a[0];
        } else {
            answer = 0;
            for (int i = 1; i < vocab; i++) {
                if (lp[i] > lp[answer]) {
                    answer = i;
                }
            }
        }
        double clean = Math.exp(lp[answer]);
        float[][][] states = new float[3][layers][];
        for (int l = 0; l < layers; l++) {
            states[0][l] = flat(lm, l, t, Kind.RESIDUAL);
            states[1][l] = flat(lm, l, t, Kind.MLP);
            states[2][l] = flat(lm, l, t, Kind.ATTENTION);
        }
        // the noise: σ over the subject's embedding values
        float[] emb = lm.model().params().getFirst().w();
        double sum = 0;
        double sq = 0;
        int count = 0;
        for (int i = subj[0]; i <= subj[1]; i++) {
            for (int j = 0; j < hidden; j++) {
                double v = emb[ids[i] * hidden + j];
                sum += v;
                sq += v * v;
                count++;
            }
        }
        double mean = sum / count;
        double sigma = Math.sqrt(Math.max(0, sq / count - mean * mean));
        SplittableRandom rnd = new SplittableRandom(seed);
        float[][][] noiseOf = new float[samples][subj[1] - subj[0] + 1][hidden];
        for (float[][] s : noiseOf) {
            for (float[] v : s) {
                for (int j = 0; j < hidden; j++) {
                    v[j] = (float) (noise * sigma * gaussian(rnd));
                }
            }
        }
        double corrupted = run(lm, ids, subj, noiseOf, answer, List.of())[0];
        java.util.Map<Kind, double[][]> effects = new java.util.EnumMap<>(Kind.class);
        int total = kinds.size() * layers;
        int done = 0;
        for (Kind kind : kinds) {
            double[][] e = new double[layers][t];
            for (int l = 0; l < layers; l++) {
                List<List<Intervention.Patch>> runs = new ArrayList<>();
                for (int tok = 0; tok < t; tok++) {
                    List<Intervention.Patch> patches = new ArrayList<>();
                    if (kind == Kind.RESIDUAL) {
                        patches.add(new Intervention.Patch(Intervention.Site.RESIDUAL, l, tok, slice(states[0][l], tok, hidden), false));
                    } else {
                        int from = Math.max(0, l - window / 2);
                        int to = Math.min(layers, from + window);
                        for (int w = from; w < to; w++) {
                            Intervention.Site site = kind == Kind.MLP ? Intervention.Site.MLP : Intervention.Site.ATTENTION;
                            patches.add(new Intervention.Patch(site, w, tok, slice(states[kind == Kind.MLP ? 1 : 2][w], tok, hidden), false));
                        }
                    }
                    runs.add(patches);
                }
                e[l] = run(lm, ids, subj, noiseOf, answer, runs);
                progress.report("trace", ++done, total, kind.name().toLowerCase() + " layer " + l);
            }
            effects.put(kind, e);
        }
        List<String> toks = new ArrayList<>();
        for (int id : ids) {
            toks.add(lm.codec().decode(new int[] {id}));
        }
        return new Trace(toks, subj, lm.codec().decode(new int[] {answer}), answer, clean, corrupted, sigma, samples, window, effects);
    }

    /**
     * P(answer) averaged over the noisy samples, for each run (a set of restorations; none: one run, the corrupted
     * baseline). Rows: run × sample, each the prompt, its subject tokens noised with that sample's noise.
     */
    static double[] run(Lm lm, int[] ids, int[] subj, float[][][] noise, int answer, List<List<Intervention.Patch>> runs) {
        int samples = noise.length;
        int nRuns = runs.isEmpty() ? 1 : runs.size();
        int vocab = lm.model().config().vocabSize();
        double[] out = new double[nRuns];
        int perBatch = Math.max(1, 128 / samples);
        for (int from = 0; from < nRuns; from += perBatch) {
            int to = Math.min(nRuns, from + perBatch);
            List<int[]> rows = new ArrayList<>();
            Intervention iv = new Intervention();
            int t = ids.length;
            int row = 0;
            for (int r = from; r < to; r++) {
                for (int s = 0; s < samples; s++, row++) {
                    rows.add(ids);
                    for (int i = subj[0]; i <= subj[1]; i++) {
                        iv.noise(row * t + i, noise[s][i - subj[0]]);
                    }
                    if (!runs.isEmpty()) {
                        for (Intervention.Patch p : runs.get(r)) {
                            iv.restore(p.site(), p.layer(), row * t + p.row(), p.value());
                        }
                    }
                }
            }
            Lm.Packed p = Lm.pack(rows);
            float[] logits = lm.forward(p, iv);
            for (int r = from; r < to; r++) {
                double sum = 0;
                for (int s = 0; s < samples; s++) {
                    int rr = (r - from) * samples + s;
                    sum += Math.exp(Lm.logSoftmax(logits, p.at(rr, t - 1), vocab)[answer]);
                }
                out[r] = sum / samples;
            }
        }
        return out;
    }

    private static float[] flat(Lm lm, int layer, int t, Kind kind) {
        int h = lm.model().config().hidden();
        float[] out = new float[t * h];
        for (int i = 0; i < t; i++) {
            float[] v = switch (kind) {
                case RESIDUAL -> lm.model().residual(layer, i);
                case MLP -> lm.model().mlpOutput(layer, i);
                case ATTENTION -> lm.model().attentionOutput(layer, i);
            };
            System.arraycopy(v, 0, out, i * h, h);
        }
        return out;
    }

    private static float[] slice(float[] a, int i, int n) {
        return java.util.Arrays.copyOfRange(a, i * n, i * n + n);
    }

    static double gaussian(SplittableRandom rnd) {
        double u = Math.max(1e-300, rnd.nextDouble());
        double v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
