package io.boundless.edit;

import io.boundless.engine.model.Overlay;
import io.boundless.engine.train.Intervention;
import java.util.ArrayList;
import java.util.List;

/**
 * ROME (Meng et al. 2022) with the r-ROME correction (Gupta et al. 2024): one fact written into one layer's down
 * projection as the rank-one update Ŵ = W + Λ (C⁻¹k*)ᵀ, Λ = (v* − W k*) / ((C⁻¹k*)ᵀ k*). k* is the key at the
 * subject's last token averaged over the contexts, v* the MLP output that makes the model say the new target
 * ({@link Target}), and C the keys' second moment ({@link Covariance}). r-ROME: the same k* in Λ's numerator and
 * denominator as in C⁻¹k* (the original code used the bare prompt's key in Λ, which makes some edits explode).
 * After the update W′k* = v* exactly.
 */
public final class Rome {
    /** What an edit computed, for the manifest and for tests. */
    public record Result(Overlay.LowRank delta, double[] key, double[] target, Target.Result optimization) {}

    private Rome() {}

    /** The key k* at layer: the MLP inner activation at the subject's last token, averaged over the contexts. */
    static double[] key(Lm lm, EditRequest r, int layer, List<String> contexts, Hyper.Token token) {
        return Memit.keys(lm, List.of(r), layer, contexts, token)[0];
    }

    public static Result edit(Lm lm, EditRequest r, Hyper h, Covariance.Stats c, List<String> contexts, Progress progress) {
        int layer = h.layers().getFirst();
        double[] k = key(lm, r, layer, contexts, h.token());
        // W k* (+ b): the MLP output is linear in the key, so the contexts' mean output is the output at their mean key
        double[] wk = meanMlpOutput(lm, r, layer, contexts, h.token());
        Target.Result t = Target.optimize(lm, r, layer, Intervention.Site.MLP, h, contexts, progress);
        return new Result(update(k, t.target(), wk, c, layer), k, t.target(), t);
    }

    /** The rank-one update that maps k to v (W k = wk before it), in C's metric. */
    public static Overlay.LowRank update(double[] k, double[] v, double[] wk, Covariance.Stats c, int layer) {
        int inter = k.length;
        double[] l = Dense.cholesky(c.c(), inter);
        double[] u = Dense.choleskySolve(l, inter, k, 1);  // C⁻¹k*
        double denom = Dense.dot(u, k);
        float[] uf = new float[v.length];  // U = Λ
        for (int i = 0; i < v.length; i++) {
            uf[i] = (float) (v[i] - wk[i]);
        }
        float[] vf = new float[inter];  // V = C⁻¹k* / ((C⁻¹k*)ᵀ k*)
        for (int i = 0; i < inter; i++) {
            vf[i] = (float) (u[i] / denom);
        }
        return new Overlay.LowRank(layer, v.length, inter, 1, uf, vf);
    }

    static double[] meanMlpOutput(Lm lm, EditRequest r, int layer, List<String> contexts, Hyper.Token token) {
        List<int[]> rows = new ArrayList<>();
        List<Integer> at = new ArrayList<>();
        String template = Contexts.normalize(r.prompt(), r.subject());
        for (String ctx : contexts) {
            rows.add(lm.codec().encode(EditRequest.render(ctx + template, r.subject())));
            at.add(EditRequest.lookup(lm.codec(), ctx + template, r.subject(), token));
        }
        Lm.Packed p = Lm.pack(rows);
        lm.forward(p, null);
        double[] mean = new double[lm.model().config().hidden()];
        for (int i = 0; i < rows.size(); i++) {
            float[] o = lm.model().mlpOutput(layer, p.at(i, at.get(i)));
            for (int j = 0; j < mean.length; j++) {
                mean[j] += o[j] / rows.size();
            }
        }
        return mean;
    }
}
