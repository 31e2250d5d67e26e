package io.boundless.edit;

import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An edit's hyperparameters. {@link #defaults} gives the published values per architecture (kmeng01/rome and
 * kmeng01/memit's hparams for GPT-2 XL and Llama, AlphaEdit's for Llama 3), with the layers placed at the same
 * relative depth in a model of another size: ROME's layer 17 of GPT-2 XL's 48 is layer 6 of GPT-2 small's 12.
 *
 * @param layers        the edited layers (ROME: one; MEMIT and AlphaEdit: a range, the last being where z is read)
 * @param token         where keys are read and values written ({@link Token})
 * @param steps         Adam steps of the v* / z optimization
 * @param lr            its learning rate
 * @param lossStop      stop early when the loss is below this
 * @param klFactor      weight of the KL term on "{subject} is a" against the unedited model
 * @param weightDecay   weight of ‖δ‖ / ‖v_init‖²
 * @param clamp         ‖δ‖ ≤ clamp · ‖v_init‖ after each step
 * @param lambda        MEMIT's and AlphaEdit's weight of the covariance (mom2_update_weight); ROME uses C as is
 * @param nullThreshold AlphaEdit: eigenvectors of C whose eigenvalue is below this fraction of the largest span the null space the update is confined to
 * @param alpha         AlphaEdit's ridge term (L2)
 * @param prefixes5     contexts of 5 generated tokens prefixed to the prompt (ROME 10, MEMIT 0)
 * @param prefixes10    contexts of 10 generated tokens (ROME 10, MEMIT 5)
 * @param seed          the prefixes' sampling seed
 */
public record Hyper(Method method, List<Integer> layers, Token token, int steps, double lr, double lossStop, double klFactor, double weightDecay,
        double clamp, double lambda, double nullThreshold, double alpha, int prefixes5, int prefixes10, long seed) {

    public enum Method { ROME, MEMIT, ALPHAEDIT }

    /**
     * Where the key is read and the value written: at the subject's last token (the papers: models that recall a
     * subject's attributes there, GPT-2 XL, GPT-J, Llama) or at the prompt's last token (small models that move the
     * subject to the last token in their first layer and recall there: causal tracing tells which).
     */
    public enum Token { SUBJECT, LAST }

    public Hyper {
        layers = List.copyOf(layers);
    }

    public static Hyper defaults(Method method, ModelConfig c) {
        boolean gpt2 = c.arch() == Architecture.GPT2;
        int n = c.layers();
        int steps = gpt2 ? 20 : 25;
        double wd = gpt2 ? 0.5 : 1e-3;
        return switch (method) {
            case ROME -> new Hyper(method, List.of(at(gpt2 ? 17.0 / 48 : 5.0 / 32, n)), Token.SUBJECT, steps, 0.5, 5e-2, 0.0625, wd, 4, 0, 0, 0, 10, 10, 1);
            case MEMIT -> new Hyper(method, range(gpt2 ? 13.0 / 48 : 4.0 / 32, gpt2 ? 17.0 / 48 : 8.0 / 32, n), Token.SUBJECT, steps, 0.5, 5e-2, 0.0625, wd,
                    gpt2 ? 0.75 : 4, lambda(c), 0, 0, 0, 5, 1);
            case ALPHAEDIT -> new Hyper(method, range(gpt2 ? 13.0 / 48 : 4.0 / 32, gpt2 ? 17.0 / 48 : 8.0 / 32, n), Token.SUBJECT, steps, 0.5, 5e-2, 0.0625, wd,
                    gpt2 ? 0.75 : 4, lambda(c), 1e-2, 10, 0, 5, 1);
        };
    }

    /**
     * MEMIT's λ = 15,000 is for GPT-J's 16,384-wide keys, where a typical key's kᵀC⁻¹k is about the width: λC and
     * KKᵀ then weigh alike. Scaled by the width so that they weigh alike here too (645 for 704-wide keys); unscaled,
     * a small model's update is a few percent of what it should be.
     */
    static double lambda(ModelConfig c) {
        return Math.round(15_000.0 * c.intermediate() / 16_384);
    }

    private static int at(double fraction, int layers) {
        return Math.max(0, Math.min(layers - 1, (int) Math.round(fraction * layers)));
    }

    private static List<Integer> range(double from, double to, int layers) {
        int a = (int) Math.floor(from * layers);
        int b = Math.max(a, at(to, layers));
        List<Integer> out = new ArrayList<>();
        for (int l = a; l <= b; l++) {
            out.add(l);
        }
        return out;
    }

    /**
     * These hyperparameters with the given ones replaced (the API's map: layers as "1,2,3", the others by their
     * record names). Unknown names and values out of range are an IllegalArgumentException naming them.
     */
    public Hyper with(Map<String, String> given, int modelLayers) {
        Hyper h = this;
        for (var e : given.entrySet()) {
            String k = e.getKey();
            String v = e.getValue().strip();
            try {
                h = switch (k) {
                    case "layers" -> h.withLayers(java.util.Arrays.stream(v.split(",")).map(String::strip).map(Integer::parseInt).toList());
                    case "token" -> new Hyper(h.method, h.layers, switch (v) {
                        case "subject" -> Token.SUBJECT;
                        case "last" -> Token.LAST;
                        default -> throw new IllegalArgumentException("hyperparameter token is subject or last, not " + v);
                    }, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp, h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "steps" -> new Hyper(h.method, h.layers, h.token, positive(k, Integer.parseInt(v)), h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp,
                            h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "lr" -> new Hyper(h.method, h.layers, h.token, h.steps, positive(k, Double.parseDouble(v)), h.lossStop, h.klFactor, h.weightDecay, h.clamp,
                            h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "loss_stop" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, nonNegative(k, Double.parseDouble(v)), h.klFactor, h.weightDecay,
                            h.clamp, h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "kl_factor" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, nonNegative(k, Double.parseDouble(v)), h.weightDecay,
                            h.clamp, h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "weight_decay" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, nonNegative(k, Double.parseDouble(v)),
                            h.clamp, h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "clamp" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, positive(k, Double.parseDouble(v)),
                            h.lambda, h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "lambda" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp,
                            nonNegative(k, Double.parseDouble(v)), h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "null_threshold" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp, h.lambda,
                            nonNegative(k, Double.parseDouble(v)), h.alpha, h.prefixes5, h.prefixes10, h.seed);
                    case "alpha" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp, h.lambda, h.nullThreshold,
                            nonNegative(k, Double.parseDouble(v)), h.prefixes5, h.prefixes10, h.seed);
                    case "prefixes5" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp, h.lambda,
                            h.nullThreshold, h.alpha, (int) nonNegative(k, Integer.parseInt(v)), h.prefixes10, h.seed);
                    case "prefixes10" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp, h.lambda,
                            h.nullThreshold, h.alpha, h.prefixes5, (int) nonNegative(k, Integer.parseInt(v)), h.seed);
                    case "seed" -> new Hyper(h.method, h.layers, h.token, h.steps, h.lr, h.lossStop, h.klFactor, h.weightDecay, h.clamp, h.lambda,
                            h.nullThreshold, h.alpha, h.prefixes5, h.prefixes10, Long.parseLong(v));
                    default -> throw new IllegalArgumentException("unknown hyperparameter " + k + " (layers, token, steps, lr, loss_stop, kl_factor, weight_decay,"
                            + " clamp, lambda, null_threshold, alpha, prefixes5, prefixes10, seed)");
                };
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("hyperparameter " + k + " is not a number: " + v);
            }
        }
        for (int l : h.layers) {
            if (l < 0 || l >= modelLayers) {
                throw new IllegalArgumentException("layer " + l + " is outside the model's layers 0.." + (modelLayers - 1));
            }
        }
        if (h.layers.isEmpty()) {
            throw new IllegalArgumentException("no layer to edit");
        }
        if (h.method == Method.ROME && h.layers.size() != 1) {
            throw new IllegalArgumentException("ROME edits one layer, not " + h.layers);
        }
        return h;
    }

    public Hyper withToken(Token t) {
        return new Hyper(method, layers, t, steps, lr, lossStop, klFactor, weightDecay, clamp, lambda, nullThreshold, alpha, prefixes5, prefixes10, seed);
    }

    public Hyper withLayers(List<Integer> l) {
        List<Integer> sorted = l.stream().distinct().sorted().toList();
        return new Hyper(method, sorted, token, steps, lr, lossStop, klFactor, weightDecay, clamp, lambda, nullThreshold, alpha, prefixes5, prefixes10, seed);
    }

    private static int positive(String k, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("hyperparameter " + k + " must be positive, not " + v);
        }
        return v;
    }

    private static double positive(String k, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("hyperparameter " + k + " must be positive, not " + v);
        }
        return v;
    }

    private static double nonNegative(String k, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("hyperparameter " + k + " must be zero or positive, not " + v);
        }
        return v;
    }

    /** The values as the manifest records them. */
    public Map<String, String> asMap() {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("layers", String.join(",", layers.stream().map(String::valueOf).toList()));
        m.put("token", token.name().toLowerCase(java.util.Locale.ROOT));
        m.put("steps", String.valueOf(steps));
        m.put("lr", String.valueOf(lr));
        m.put("loss_stop", String.valueOf(lossStop));
        m.put("kl_factor", String.valueOf(klFactor));
        m.put("weight_decay", String.valueOf(weightDecay));
        m.put("clamp", String.valueOf(clamp));
        if (method != Method.ROME) {
            m.put("lambda", String.valueOf(lambda));
        }
        if (method == Method.ALPHAEDIT) {
            m.put("null_threshold", String.valueOf(nullThreshold));
            m.put("alpha", String.valueOf(alpha));
        }
        m.put("prefixes5", String.valueOf(prefixes5));
        m.put("prefixes10", String.valueOf(prefixes10));
        m.put("seed", String.valueOf(seed));
        return m;
    }
}
