package io.boundless.edit;

import java.util.ArrayList;
import java.util.List;

/**
 * The contexts a fact is written in, so that the edit holds wherever the subject appears and not only after the
 * prompt's first word: the bare prompt and prefixes the model writes itself, each joined as {@code prefix + ". " +
 * prompt}. As ROME does, the prefixes are sampled (top 5) from the starts "The", "Therefore", "Because", "I", "You".
 */
public final class Contexts {
    private static final String[] STARTS = {"The", "Therefore", "Because", "I", "You"};

    private Contexts() {}

    /** "" (the bare prompt) followed by n5 prefixes of 5 tokens and n10 of 10. */
    public static List<String> prefixes(Lm lm, int n5, int n10, long seed) {
        List<String> out = new ArrayList<>();
        out.add("");
        out.addAll(sample(lm, n5, 5, seed));
        out.addAll(sample(lm, n10, 10, seed + 1));
        return out;
    }

    private static List<String> sample(Lm lm, int n, int tokens, long seed) {
        if (n == 0) {
            return List.of();
        }
        List<String> starts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            starts.add(STARTS[i % STARTS.length]);
        }
        List<String> gen = lm.generate(starts, tokens - 1, 5, seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String text = (starts.get(i) + gen.get(i)).replace("{", " ").replace("}", " ").replace("\n", " ");
            out.add(text + ". ");
        }
        return out;
    }

    /** The prompt template with its subject placeholder as {subject} (from {}, {subject} or the subject written out). */
    public static String normalize(String prompt, String subject) {
        if (prompt.contains("{subject}")) {
            return prompt;
        }
        if (prompt.contains("{}")) {
            return prompt.replace("{}", "{subject}");
        }
        int at = prompt.indexOf(subject);
        if (at < 0) {
            throw new IllegalArgumentException("the subject \"" + subject + "\" is not in the prompt \"" + prompt + "\"");
        }
        return prompt.substring(0, at) + "{subject}" + prompt.substring(at + subject.length());
    }
}
