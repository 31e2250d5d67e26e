package io.boundless.edit;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CounterFact's measures of an edit (Meng et al. 2022), each answer scored by its mean per-token NLL:
 * <ul>
 *   <li>efficacy: ES, the share of cases whose rewrite prompt gives the new object a higher probability than the
 *       true one, and EM, the mean P[new] − P[true];</li>
 *   <li>paraphrase: PS and PM, the same on other phrasings of the prompt;</li>
 *   <li>neighborhood: NS and NM, on prompts about other subjects, the share where their own true object still beats
 *       the new one (the edit did not bleed);</li>
 *   <li>S, the harmonic mean of ES, PS and NS; GE, generation entropy (fluency): 100 × the mean of (2/3)·H₂ and
 *       (4/3)·H₃, the entropies in bits of the word bi- and trigram frequencies of generated text, as ROME's code
 *       computes it.</li>
 * </ul>
 */
public final class Evaluation {
    /**
     * A case: the edit, prompts that say the same (templates with {subject}), prompts about neighbors with their
     * own true objects, and prompts to generate from for fluency.
     */
    public record Case(EditRequest request, List<String> paraphrases, List<Neighbor> neighbors, List<String> generationPrompts) {}

    public record Neighbor(String prompt, String trueObject) {}

    /** The measures, in percent (ES, PS, NS, S) and probability points (EM, PM, NM); GE as ROME reports it. */
    public record Scores(double es, double em, double ps, double pm, double ns, double nm, double s, double ge, int cases) {
        public String row() {
            return String.format("ES %.1f  PS %.1f  NS %.1f  S %.1f  EM %.1f  PM %.1f  NM %.1f  GE %.1f  (%d cases)", es, ps, ns, s, em, pm, nm, ge, cases);
        }
    }

    private Evaluation() {}

    /** The measures of the model as it is now over the cases; fluency (GE) when genTokens > 0. */
    public static Scores evaluate(Lm lm, List<Case> cases, int genTokens, long seed) {
        List<String> prompts = new ArrayList<>();
        List<String> conts = new ArrayList<>();
        List<int[]> spans = new ArrayList<>();  // per case: [rewrite start, paraphrase start, neighbor start, end], pairs (new, true)
        for (Case c : cases) {
            EditRequest r = c.request();
            if (r.targetTrue() == null) {
                throw new IllegalArgumentException("evaluating \"" + r.text() + "\" needs its true object (target_true)");
            }
            int a = prompts.size();
            add(prompts, conts, r.text(), r.targetNew(), r.targetTrue());
            int b = prompts.size();
            for (String p : c.paraphrases()) {
                add(prompts, conts, EditRequest.render(Contexts.normalize(p, r.subject()), r.subject()), r.targetNew(), r.targetTrue());
            }
            int n = prompts.size();
            for (Neighbor nb : c.neighbors()) {
                add(prompts, conts, nb.prompt(), r.targetNew(), nb.trueObject());
            }
            spans.add(new int[] {a, b, n, prompts.size()});
        }
        double[] nll = lm.nll(prompts, conts);
        double es = 0, em = 0, ps = 0, pm = 0, ns = 0, nm = 0;
        int psCount = 0, nsCount = 0;
        for (int[] sp : spans) {
            double dNew = nll[sp[0]];
            double dTrue = nll[sp[0] + 1];
            es += dNew < dTrue ? 1 : 0;
            em += Math.exp(-dNew) - Math.exp(-dTrue);
            for (int i = sp[1]; i < sp[2]; i += 2) {
                ps += nll[i] < nll[i + 1] ? 1 : 0;
                pm += Math.exp(-nll[i]) - Math.exp(-nll[i + 1]);
                psCount++;
            }
            for (int i = sp[2]; i < sp[3]; i += 2) {
                ns += nll[i + 1] < nll[i] ? 1 : 0;
                nm += Math.exp(-nll[i + 1]) - Math.exp(-nll[i]);
                nsCount++;
            }
        }
        int n = cases.size();
        double ES = 100 * es / n;
        double PS = psCount == 0 ? Double.NaN : 100 * ps / psCount;
        double NS = nsCount == 0 ? Double.NaN : 100 * ns / nsCount;
        double ge = Double.NaN;
        if (genTokens > 0) {
            List<String> gp = new ArrayList<>();
            for (Case c : cases) {
                for (String p : c.generationPrompts()) {
                    gp.add(EditRequest.render(Contexts.normalize(p, c.request().subject()), c.request().subject()));
                }
            }
            if (!gp.isEmpty()) {
                List<String> texts = new ArrayList<>();
                for (int from = 0; from < gp.size(); from += 16) {
                    List<String> part = gp.subList(from, Math.min(gp.size(), from + 16));
                    List<String> g = lm.generate(part, genTokens, 5, seed + from);
                    for (int i = 0; i < part.size(); i++) {
                        texts.add(part.get(i) + g.get(i));
                    }
                }
                ge = 100 * texts.stream().mapToDouble(Evaluation::ngramEntropy).average().orElse(Double.NaN);
            }
        }
        return new Scores(ES, 100 * em / n, PS, psCount == 0 ? Double.NaN : 100 * pm / psCount, NS, nsCount == 0 ? Double.NaN : 100 * nm / nsCount,
                harmonic(ES, PS, NS), ge, n);
    }

    private static void add(List<String> prompts, List<String> conts, String prompt, String targetNew, String targetTrue) {
        prompts.add(prompt);
        conts.add(Target.spaced(targetNew));
        prompts.add(prompt);
        conts.add(Target.spaced(targetTrue));
    }

    static double harmonic(double... v) {
        double s = 0;
        int n = 0;
        for (double x : v) {
            if (Double.isNaN(x)) {
                continue;
            }
            if (x == 0) {
                return 0;
            }
            s += 1 / x;
            n++;
        }
        return n == 0 ? Double.NaN : n / s;
    }

    private static final Pattern WORD = Pattern.compile("\\w+|[^\\w\\s]", Pattern.UNICODE_CHARACTER_CLASS);

    /** mean((2/3)·H₂, (4/3)·H₃) of text's words, in bits (ROME's n_gram_entropy of one text). */
    public static double ngramEntropy(String text) {
        List<String> words = new ArrayList<>();
        Matcher m = WORD.matcher(text.toLowerCase(java.util.Locale.ROOT));
        while (m.find()) {
            words.add(m.group());
        }
        double[] weights = {2.0 / 3, 4.0 / 3};
        double sum = 0;
        for (int k = 0; k < 2; k++) {
            int n = k + 2;
            Map<String, Integer> freq = new HashMap<>();
            for (int i = 0; i + n <= words.size(); i++) {
                freq.merge(String.join("\u0001", words.subList(i, i + n)), 1, Integer::sum);
            }
            double total = freq.values().stream().mapToInt(Integer::intValue).sum();
            double h = 0;
            for (int f : freq.values()) {
                double p = f / total;
                h -= p * Math.log(p) / Math.log(2);
            }
            sum += weights[k] * h;
        }
        return sum / 2;
    }
}
