package io.boundless.edit;

import io.boundless.engine.model.Overlay;
import io.boundless.engine.train.Intervention;
import io.boundless.engine.train.TrainModel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A model being located and edited: the training graph's forward and backward (weights frozen), the tokenizer, and
 * the batched runs the methods share: ragged rows padded into one batch, scores of continuations, sampling.
 * Edits are applied to the live down-projection weights and undone exactly (the original values are kept).
 */
public final class Lm {
    private final TrainModel model;
    private final Codec codec;
    private final java.util.Map<Integer, float[]> original = new java.util.HashMap<>();

    public Lm(TrainModel model, Codec codec) {
        this.model = model;
        this.codec = codec;
    }

    public TrainModel model() {
        return model;
    }

    public Codec codec() {
        return codec;
    }

    public int layers() {
        return model.config().layers();
    }

    /** Ragged rows in one batch: row i's tokens at row i, padded with token 0 after its end (causal, so unseen). */
    public record Packed(TrainModel.Batch batch, int[] lengths) {
        public int at(int row, int pos) {
            return row * batch.seq() + pos;
        }
    }

    public static Packed pack(List<int[]> rows) {
        int seq = 1;
        for (int[] r : rows) {
            seq = Math.max(seq, r.length);
        }
        int n = rows.size();
        int[] tokens = new int[n * seq];
        int[] targets = new int[n * seq];
        java.util.Arrays.fill(targets, -1);
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(rows.get(i), 0, tokens, i * seq, rows.get(i).length);
            lengths[i] = rows.get(i).length;
        }
        return new Packed(new TrainModel.Batch(n, seq, tokens, targets, null), lengths);
    }

    /** Forward over packed rows (targets none); returns the logits [rows · seq, vocab]. */
    public float[] forward(Packed p, Intervention iv) {
        model.forward(p.batch(), iv);
        return model.logits();
    }

    /** log softmax of logits row r, in float64. */
    public static double[] logSoftmax(float[] logits, int r, int vocab) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[r * vocab + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[r * vocab + i] - max);
        }
        double lse = Math.log(sum) + max;
        double[] out = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            out[i] = logits[r * vocab + i] - lse;
        }
        return out;
    }

    /**
     * The mean per-token negative log-likelihood of each continuation after its prompt (CounterFact's score of an
     * answer), in one batch. prompts[i] and continuations[i] are texts; the continuation is encoded on its own,
     * with the leading space the prompt leaves to it.
     */
    public double[] nll(List<String> prompts, List<String> continuations) {
        List<int[]> rows = new ArrayList<>();
        List<int[]> cont = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] p = codec.encode(prompts.get(i));
            int[] c = codec.encode(continuations.get(i));
            cont.add(c);
            int[] all = java.util.Arrays.copyOf(p, p.length + c.length);
            System.arraycopy(c, 0, all, p.length, c.length);
            rows.add(all);
        }
        double[] out = new double[prompts.size()];
        int vocab = model.config().vocabSize();
        for (int from = 0; from < rows.size(); from += 32) {  // batches of 32 rows
            int to = Math.min(rows.size(), from + 32);
            Packed p = pack(rows.subList(from, to));
            float[] logits = forward(p, null);
            for (int i = from; i < to; i++) {
                int[] c = cont.get(i);
                int len = rows.get(i).length;
                double s = 0;
                for (int j = 0; j < c.length; j++) {
                    int pos = len - c.length + j - 1;  // the row that predicts continuation token j
                    s -= logSoftmax(logits, p.at(i - from, pos), vocab)[c[j]];
                }
                out[i] = s / c.length;
            }
        }
        return out;
    }

    /**
     * Continues each prompt by up to tokens tokens, sampling from the top k (k = 1: greedy) with a seeded random
     * stream; returns the generated text of each. A full recompute per token (the training graph keeps no KV cache):
     * for short prefixes and fluency samples.
     */
    public List<String> generate(List<String> prompts, int tokens, int topK, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> rows = new ArrayList<>();
        for (String p : prompts) {
            rows.add(codec.encode(p));
        }
        int[] start = rows.stream().mapToInt(r -> r.length).toArray();
        int vocab = model.config().vocabSize();
        int max = model.config().maxPositions();
        for (int step = 0; step < tokens; step++) {
            Packed p = pack(rows);
            if (p.batch().seq() >= max) {
                break;
            }
            float[] logits = forward(p, null);
            for (int i = 0; i < rows.size(); i++) {
                double[] lp = logSoftmax(logits, p.at(i, rows.get(i).length - 1), vocab);
                int next = sampleTopK(lp, topK, rnd, vocab);
                int[] r = java.util.Arrays.copyOf(rows.get(i), rows.get(i).length + 1);
                r[r.length - 1] = next;
                rows.set(i, r);
            }
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            out.add(codec.decode(java.util.Arrays.copyOfRange(rows.get(i), start[i], rows.get(i).length)));
        }
        return out;
    }

    static int sampleTopK(double[] lp, int k, SplittableRandom rnd, int vocab) {
        int[] top = new int[Math.max(1, k)];
        double[] val = new double[top.length];
        java.util.Arrays.fill(val, Double.NEGATIVE_INFINITY);
        for (int i = 0; i < vocab; i++) {
            if (lp[i] > val[top.length - 1]) {
                int j = top.length - 1;
                while (j > 0 && lp[i] > val[j - 1]) {
                    val[j] = val[j - 1];
                    top[j] = top[j - 1];
                    j--;
                }
                val[j] = lp[i];
                top[j] = i;
            }
        }
        if (top.length == 1) {
            return top[0];
        }
        double sum = 0;
        for (double v : val) {
            sum += Math.exp(v - val[0]);
        }
        double u = rnd.nextDouble() * sum;
        for (int j = 0; j < top.length; j++) {
            u -= Math.exp(val[j] - val[0]);
            if (u <= 0) {
                return top[j];
            }
        }
        return top[top.length - 1];
    }

    /** Adds the deltas to the live down projections (W += U Vᵀ); {@link #restore} undoes every applied delta exactly. */
    public void apply(List<Overlay.LowRank> deltas) {
        for (Overlay.LowRank d : deltas) {
            TrainModel.Param w = model.down(d.layer());
            original.computeIfAbsent(d.layer(), l -> w.w().clone());
            double[] dense = d.dense();
            for (int i = 0; i < dense.length; i++) {
                w.w()[i] = (float) (w.w()[i] + dense[i]);
            }
        }
    }

    /** The weights as they were before the first {@link #apply} since the last restore. */
    public void restore() {
        for (var e : original.entrySet()) {
            float[] w = model.down(e.getKey()).w();
            System.arraycopy(e.getValue(), 0, w, 0, w.length);
        }
        original.clear();
    }

    /** Forgets the saved originals: the applied deltas become the model's weights (sequential editing). */
    public void commit() {
        original.clear();
    }
}
