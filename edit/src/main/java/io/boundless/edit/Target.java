package io.boundless.edit;

import io.boundless.engine.train.Intervention;
import java.util.ArrayList;
import java.util.List;

/**
 * The vector an edit writes: δ added at the subject's last token to layer's MLP output (ROME's v*) or residual stream
 * (MEMIT's z), optimized by Adam with the weights frozen on ROME's objective: the mean NLL of the new target over
 * every context, plus klFactor × KL(unedited ‖ edited) on "{subject} is a", plus weightDecay × ‖δ‖ / ‖v_init‖²;
 * after each step ‖δ‖ is clamped to clamp × ‖v_init‖. The loss is read at the final layer's logits; the gradient
 * comes from the engine's backward pass ({@code gradResidual}).
 */
public final class Target {
    /**
     * @param init   the site's value at the subject's last token in the bare prompt, before the edit (v_init)
     * @param delta  the optimized δ
     * @param losses the loss before each step taken
     */
    public record Result(double[] init, double[] delta, List<Double> losses, int steps) {
        public double[] target() {
            double[] t = init.clone();
            for (int i = 0; i < t.length; i++) {
                t[i] += delta[i];
            }
            return t;
        }
    }

    /** The rows the objective is computed on (the rewriting prompts, then the KL prompt), with where δ goes. */
    record Rows(List<int[]> ids, int[] lookup, int rewriting, int[] targetIds, int klRow) {}

    private Target() {}

    static String spaced(String target) {
        return target.startsWith(" ") ? target : " " + target;
    }

    static Rows rows(Lm lm, EditRequest r, List<String> contexts, Hyper.Token token) {
        Codec codec = lm.codec();
        String template = Contexts.normalize(r.prompt(), r.subject());
        int[] target = codec.encode(spaced(r.targetNew()));
        if (target.length == 0) {
            throw new IllegalArgumentException("target_new \"" + r.targetNew() + "\" encodes to no token");
        }
        List<int[]> ids = new ArrayList<>();
        List<Integer> lookup = new ArrayList<>();
        for (String ctx : contexts) {
            String t = ctx + template;
            int[] p = codec.encode(EditRequest.render(t, r.subject()));
            int[] all = java.util.Arrays.copyOf(p, p.length + target.length - 1);
            System.arraycopy(target, 0, all, p.length, target.length - 1);
            ids.add(all);
            lookup.add(EditRequest.lookup(codec, t, r.subject(), token));
        }
        String kl = "{subject} is a";
        ids.add(codec.encode(EditRequest.render(kl, r.subject())));
        // at the subject: the edit should not change what the model says of the subject itself; with keys at the
        // last token δ is not added to this row (-1), and the term only anchors the distribution
        lookup.add(token == Hyper.Token.SUBJECT ? EditRequest.lastSubjectToken(codec, kl, r.subject()) : -1);
        return new Rows(ids, lookup.stream().mapToInt(Integer::intValue).toArray(), contexts.size(), target, contexts.size());
    }

    /** Optimizes δ at (site, layer) for request r over the contexts. */
    public static Result optimize(Lm lm, EditRequest r, int layer, Intervention.Site site, Hyper h, List<String> contexts, Progress progress) {
        Rows rows = rows(lm, r, contexts, h.token());
        Lm.Packed p = Lm.pack(rows.ids());
        int hidden = lm.model().config().hidden();
        int vocab = lm.model().config().vocabSize();
        // the unedited run: v_init and the KL prompt's distribution
        float[] logits = lm.forward(p, null);
        int row0 = p.at(0, rows.lookup()[0]);
        double[] init = Dense.toDouble(site == Intervention.Site.MLP ? lm.model().mlpOutput(layer, row0) : lm.model().residual(layer, row0));
        double[] klInit = Lm.logSoftmax(logits, p.at(rows.klRow(), rows.ids().get(rows.klRow()).length - 1), vocab);
        double initNorm = Dense.norm(init);
        double[] delta = new double[hidden];
        double[] m = new double[hidden];
        double[] v = new double[hidden];
        List<Double> losses = new ArrayList<>();
        int taken = 0;
        for (int step = 0; step < h.steps(); step++) {
            double dn = Dense.norm(delta);
            double decay = h.weightDecay() * dn / (initNorm * initNorm);
            boolean last = step == h.steps() - 1;
            Gradient lg = gradient(lm, rows, p, layer, site, delta, klInit, h.klFactor(), l -> !last && l + decay >= h.lossStop());
            double loss = lg.loss() + decay;
            losses.add(loss);
            progress.report("optimize", step + 1, h.steps(), String.format("layer %d, step %d: loss %.4f", layer, step + 1, loss));
            if (lg.grad() == null) {
                break;
            }
            double[] g = lg.grad();
            if (dn > 0) {
                for (int j = 0; j < hidden; j++) {
                    g[j] += h.weightDecay() * delta[j] / (dn * initNorm * initNorm);
                }
            }
            taken++;
            double b1 = 0.9;
            double b2 = 0.999;
            for (int j = 0; j < hidden; j++) {  // torch.optim.Adam, no decay
                m[j] = b1 * m[j] + (1 - b1) * g[j];
                v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
                double mh = m[j] / (1 - Math.pow(b1, taken));
                double vh = v[j] / (1 - Math.pow(b2, taken));
                delta[j] -= h.lr() * mh / (Math.sqrt(vh) + 1e-8);
            }
            double max = h.clamp() * initNorm;
            double n = Dense.norm(delta);
            if (n > max) {
                for (int j = 0; j < hidden; j++) {
                    delta[j] *= max / n;
                }
            }
        }
        return new Result(init, delta, losses, taken);
    }

    /** The objective's value (without weight decay) and, if asked, its gradient with respect to δ. */
    record Gradient(double loss, double[] grad) {}

    /**
     * The objective at δ: a forward with δ added at every row's lookup token (site, layer) and, with backward, the
     * engine's backward from the objective's ∂/∂logits to ∂/∂δ (the sum of gradResidual over those rows), when
     * backwardIf holds for the loss (grad null otherwise).
     */
    static Gradient gradient(Lm lm, Rows rows, Lm.Packed p, int layer, Intervention.Site site, double[] delta, double[] klInit, double klFactor,
            java.util.function.DoublePredicate backwardIf) {
        int hidden = delta.length;
        int vocab = lm.model().config().vocabSize();
        Intervention iv = new Intervention();
        float[] d = Dense.toFloat(delta);
        for (int i = 0; i < rows.ids().size(); i++) {
            if (rows.lookup()[i] >= 0) {
                iv.add(site, layer, p.at(i, rows.lookup()[i]), d);
            }
        }
        float[] logits = lm.forward(p, iv);
        float[] dlogits = new float[logits.length];
        double loss = objective(rows, p, logits, klInit, klFactor, dlogits, vocab);
        if (!backwardIf.test(loss)) {
            return new Gradient(loss, null);
        }
        lm.model().backward(dlogits, false);
        double[] g = new double[hidden];
        for (int i = 0; i < rows.ids().size(); i++) {
            if (rows.lookup()[i] < 0) {
                continue;
            }
            float[] gr = lm.model().gradResidual(layer, p.at(i, rows.lookup()[i]));
            for (int j = 0; j < hidden; j++) {
                g[j] += gr[j];
            }
        }
        return new Gradient(loss, g);
    }

    /**
     * The NLL of the target over the rewriting rows (mean over a row's target tokens, then over rows) plus klFactor ×
     * KL(init ‖ current) at the KL row's last token; fills dlogits with its gradient. Public for the test against
     * torch autograd.
     */
    static double objective(Rows rows, Lm.Packed p, float[] logits, double[] klInit, double klFactor, float[] dlogits, int vocab) {
        int n = rows.rewriting();
        int[] target = rows.targetIds();
        double nll = 0;
        for (int i = 0; i < n; i++) {
            int len = rows.ids().get(i).length;
            int firstRow = len - (target.length - 1) - 1;  // the prompt's last token predicts target[0]
            for (int j = 0; j < target.length; j++) {
                int at = p.at(i, firstRow + j);
                double[] lp = Lm.logSoftmax(logits, at, vocab);
                nll -= lp[target[j]] / target.length / n;
                double scale = 1.0 / target.length / n;
                for (int k = 0; k < vocab; k++) {
                    dlogits[at * vocab + k] += (float) (Math.exp(lp[k]) * scale);
                }
                dlogits[at * vocab + target[j]] -= (float) scale;
            }
        }
        int at = p.at(rows.klRow(), rows.ids().get(rows.klRow()).length - 1);
        double[] lp = Lm.logSoftmax(logits, at, vocab);
        double kl = 0;
        for (int k = 0; k < vocab; k++) {
            double pi = Math.exp(klInit[k]);
            kl += pi * (klInit[k] - lp[k]);
            dlogits[at * vocab + k] += (float) (klFactor * (Math.exp(lp[k]) - pi));
        }
        return nll + klFactor * kl;
    }
}
