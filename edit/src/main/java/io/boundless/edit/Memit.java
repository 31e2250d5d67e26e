package io.boundless.edit;

import io.boundless.engine.model.Overlay;
import io.boundless.engine.train.Intervention;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MEMIT (Meng et al. 2023) and AlphaEdit (Fang et al. 2025): a batch of facts written over a range of layers.
 * For each fact a target z of the residual stream after the last layer L of the range ({@link Target} at the
 * RESIDUAL site). Then for each layer l in ascending order, with the layers below already updated: the facts' keys
 * K (averaged over the contexts), the residual R = (z − h_L) divided by the number of layers left, and
 * <ul>
 *   <li>MEMIT: Δ = R [(λC + K Kᵀ)⁻¹ K]ᵀ;</li>
 *   <li>AlphaEdit: Δ = R [(P (K Kᵀ + K_p K_pᵀ) + αI)⁻¹ P K]ᵀ, P the projector on the null space of C (eigenvalues below
 *       the threshold), K_p K_pᵀ the keys of earlier edits ({@link State}); then (W + Δ) k₀ = W k₀ for the preserved
 *       keys, to rounding.</li>
 * </ul>
 * Each Δ has rank at most the batch size and is kept as factors (U = R, V = the solved keys).
 */
public final class Memit {
    private Memit() {}

    /** What a batch edit computed. */
    public record Result(List<Overlay.LowRank> deltas, List<Target.Result> optimizations, List<double[]> targets) {}

    /**
     * AlphaEdit's memory between sequential edits: per layer the null-space projector (from C, computed once) and
     * the sum of earlier edits' K Kᵀ. MEMIT needs none.
     */
    public static final class State {
        final Map<Integer, double[]> projector = new LinkedHashMap<>();
        final Map<Integer, double[]> previous = new LinkedHashMap<>();
        final Map<Integer, Integer> nullity = new LinkedHashMap<>();

        /** The null space's dimension at layer (after the first edit), or -1. */
        public int nullity(int layer) {
            return nullity.getOrDefault(layer, -1);
        }

        /** The earlier edits' K Kᵀ at layer (intermediate²), or null. */
        public double[] previousKeys(int layer) {
            return previous.get(layer);
        }

        public void previousKeys(int layer, double[] kkt) {
            previous.put(layer, kkt.clone());
        }
    }

    /** The facts' keys at layer, averaged over the contexts: [fact][intermediate]. */
    static double[][] keys(Lm lm, List<EditRequest> facts, int layer, List<String> contexts, Hyper.Token token) {
        List<int[]> rows = new ArrayList<>();
        List<Integer> at = new ArrayList<>();
        for (EditRequest r : facts) {
            String template = Contexts.normalize(r.prompt(), r.subject());
            for (String ctx : contexts) {
                rows.add(lm.codec().encode(EditRequest.render(ctx + template, r.subject())));
                at.add(EditRequest.lookup(lm.codec(), ctx + template, r.subject(), token));
            }
        }
        int inter = lm.model().config().intermediate();
        double[][] out = new double[facts.size()][inter];
        for (int from = 0; from < rows.size(); from += 64) {
            int to = Math.min(rows.size(), from + 64);
            Lm.Packed p = Lm.pack(rows.subList(from, to));
            lm.forward(p, null);
            for (int i = from; i < to; i++) {
                float[] k = lm.model().mlpKey(layer, p.at(i - from, at.get(i)));
                double[] o = out[i / contexts.size()];
                for (int j = 0; j < inter; j++) {
                    o[j] += k[j] / contexts.size();
                }
            }
        }
        return out;
    }

    /** The residual stream after layer at the subject's last token of each fact's bare prompt: [fact][hidden]. */
    static double[][] residuals(Lm lm, List<EditRequest> facts, int layer, Hyper.Token token) {
        List<int[]> rows = new ArrayList<>();
        List<Integer> at = new ArrayList<>();
        for (EditRequest r : facts) {
            String template = Contexts.normalize(r.prompt(), r.subject());
            rows.add(lm.codec().encode(EditRequest.render(template, r.subject())));
            at.add(EditRequest.lookup(lm.codec(), template, r.subject(), token));
        }
        double[][] out = new double[facts.size()][];
        for (int from = 0; from < rows.size(); from += 64) {
            int to = Math.min(rows.size(), from + 64);
            Lm.Packed p = Lm.pack(rows.subList(from, to));
            lm.forward(p, null);
            for (int i = from; i < to; i++) {
                out[i] = Dense.toDouble(lm.model().residual(layer, p.at(i - from, at.get(i))));
            }
        }
        return out;
    }

    /**
     * Writes the facts into the layers of h (MEMIT, or AlphaEdit with state). The model is changed layer by layer as
     * the method goes (it must be: each layer's residual is measured after the lower layers' updates); the deltas
     * stay applied, and the caller keeps or restores them ({@link Lm#restore}).
     */
    public static Result edit(Lm lm, List<EditRequest> facts, Hyper h, Map<Integer, Covariance.Stats> stats, List<String> contexts, State state,
            Progress progress) {
        List<Integer> layers = h.layers();
        int last = layers.getLast();
        int hidden = lm.model().config().hidden();
        int inter = lm.model().config().intermediate();
        int n = facts.size();
        List<Target.Result> opts = new ArrayList<>();
        List<double[]> z = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int fi = i;
            Target.Result t = Target.optimize(lm, facts.get(i), last, Intervention.Site.RESIDUAL, h, contexts,
                    (stage, done, total, msg) -> progress.report("optimize", fi * (long) total + done, (long) n * total, "fact " + (fi + 1) + "/" + n + ", " + msg));
            opts.add(t);
            z.add(t.target());
        }
        List<Overlay.LowRank> deltas = new ArrayList<>();
        boolean alpha = h.method() == Hyper.Method.ALPHAEDIT;
        for (int li = 0; li < layers.size(); li++) {
            int l = layers.get(li);
            progress.report("update", li, layers.size(), "layer " + l);
            double[][] k = keys(lm, facts, l, contexts, h.token());  // [n][inter]
            double[][] cur = residuals(lm, facts, last, h.token());
            double[] r = new double[hidden * n];  // R [hidden, n]
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < hidden; j++) {
                    r[j * n + i] = (z.get(i)[j] - cur[i][j]) / (layers.size() - li);
                }
            }
            double[] kk = new double[inter * n];  // K [inter, n]
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < inter; j++) {
                    kk[j * n + i] = k[i][j];
                }
            }
            double[] kkt = Dense.multiply(kk, Dense.transpose(kk, inter, n), inter, n, inter);
            Covariance.Stats c = stats.get(l);
            if (c == null) {
                throw new IllegalArgumentException("no covariance statistics for layer " + l);
            }
            double[] v;  // V [inter, n]
            if (!alpha) {
                double[] a = new double[inter * inter];
                for (int i = 0; i < a.length; i++) {
                    a[i] = h.lambda() * c.c()[i] + kkt[i];
                }
                v = Dense.choleskySolve(Dense.cholesky(a, inter), inter, kk, n);
            } else {
                double[] p = state.projector.computeIfAbsent(l, x -> projector(c, h.nullThreshold(), state, l));
                double[] prev = state.previous.get(l);
                double[] m = kkt.clone();
                if (prev != null) {
                    for (int i = 0; i < m.length; i++) {
                        m[i] += prev[i];
                    }
                }
                double[] a = Dense.multiply(p, m, inter, inter, inter);
                for (int i = 0; i < inter; i++) {
                    a[i * inter + i] += h.alpha();
                }
                v = Dense.solve(a, inter, Dense.multiply(p, kk, inter, inter, n), n);
            }
            Overlay.LowRank d = new Overlay.LowRank(l, hidden, inter, n, Dense.toFloat(r), Dense.toFloat(v));
            lm.apply(List.of(d));
            deltas.add(d);
        }
        if (alpha) {
            for (int l : layers) {  // the new keys join the preserved ones
                double[][] k = keys(lm, facts, l, contexts, h.token());
                double[] prev = state.previous.computeIfAbsent(l, x -> new double[inter * inter]);
                for (double[] ki : k) {
                    for (int a = 0; a < inter; a++) {
                        for (int b = 0; b < inter; b++) {
                            prev[a * inter + b] += ki[a] * ki[b];
                        }
                    }
                }
            }
        }
        progress.report("update", layers.size(), layers.size(), "updated layers " + layers);
        return new Result(deltas, opts, z);
    }

    /**
     * P = Û Ûᵀ over the eigenvectors of C whose eigenvalues are below threshold × the largest. Relative, because a
     * covariance's eigenvalues scale with the model's activations (AlphaEdit's code compares them with an absolute
     * 2e-2 on Llama 3 8B, where that leaves most of the spectrum out).
     */
    static double[] projector(Covariance.Stats c, double threshold, State state, int layer) {
        int n = c.dim();
        Dense.Eigen e = Dense.symmetricEigen(c.c(), n);
        List<Integer> keep = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (e.values()[i] < threshold * e.values()[n - 1]) {
                keep.add(i);
            }
        }
        if (keep.isEmpty()) {
            throw new IllegalArgumentException("AlphaEdit: no eigenvalue of layer " + layer + "'s covariance is below null_threshold " + threshold
                    + " of the largest (the smallest is " + e.values()[0] / e.values()[n - 1] + " of it); raise null_threshold");
        }
        state.nullity.put(layer, keep.size());
        double[] p = new double[n * n];
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                double s = 0;
                for (int i : keep) {
                    s += e.vectors()[a * n + i] * e.vectors()[b * n + i];
                }
                p[a * n + b] = s;
            }
        }
        return p;
    }
}
