package io.boundless.edit;

import java.util.Arrays;

/**
 * One fact to write: a prompt naming the subject ({@code "The capital of {subject} is"}; {@code {}} works too, as
 * in ROME's CounterFact files, or the subject written out), the subject, and the new object. targetTrue, the object
 * the model gives today, is optional (evaluation compares against it).
 */
public record EditRequest(String prompt, String subject, String targetNew, String targetTrue) {
    public EditRequest(String prompt, String subject, String targetNew) {
        this(prompt, subject, targetNew, null);
    }

    /** Problems with the request, each a sentence; empty when it is valid. */
    public java.util.List<String> problems() {
        java.util.List<String> p = new java.util.ArrayList<>();
        if (subject == null || subject.isBlank()) {
            p.add("the subject is empty");
        }
        if (prompt == null || prompt.isBlank()) {
            p.add("the prompt is empty");
        } else if (subject != null && !subject.isBlank() && !prompt.contains("{subject}") && !prompt.contains("{}") && !prompt.contains(subject)) {
            p.add("the subject \"" + subject + "\" is not in the prompt \"" + prompt + "\" (write it as {subject})");
        }
        if (targetNew == null || targetNew.isBlank()) {
            p.add("target_new is empty");
        } else if (targetTrue != null && targetNew.strip().equals(targetTrue.strip())) {
            p.add("target_new is the model's current answer \"" + targetTrue + "\"");
        }
        return p;
    }

    /** Throws IllegalArgumentException naming every problem. */
    public EditRequest check() {
        var p = problems();
        if (!p.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", p));
        }
        return this;
    }

    /** The prompt with the subject in it. */
    public String text() {
        return render(prompt, subject);
    }

    /** A template ({subject}, {} or the subject written out) with the subject in it. */
    public static String render(String template, String subject) {
        if (template.contains("{subject}")) {
            return template.replace("{subject}", subject);
        }
        if (template.contains("{}")) {
            return template.replace("{}", subject);
        }
        return template;
    }

    /** The text before the subject's end: its last token is the subject's last token. */
    static String throughSubject(String template, String subject) {
        String t = render(template, subject);
        int at = template.contains("{subject}") ? template.indexOf("{subject}") : template.contains("{}") ? template.indexOf("{}") : t.indexOf(subject);
        return t.substring(0, at + subject.length());
    }

    /** The index of the subject's last token in codec.encode(render(template, subject)). */
    static int lastSubjectToken(Codec codec, String template, String subject) {
        int[] all = codec.encode(render(template, subject));
        int[] head = codec.encode(throughSubject(template, subject));
        if (head.length == 0) {
            throw new IllegalArgumentException("the subject \"" + subject + "\" encodes to no token");
        }
        if (head.length <= all.length && Arrays.equals(all, 0, head.length, head, 0, head.length)) {
            return head.length - 1;
        }
        // the tokenizer merged across the subject's end: the token that covers its last character
        return Math.min(all.length, head.length) - 1;
    }

    /** Where a key is read in codec.encode(render(template, subject)): the subject's last token, or the last token. */
    static int lookup(Codec codec, String template, String subject, Hyper.Token token) {
        return token == Hyper.Token.LAST ? codec.encode(render(template, subject)).length - 1 : lastSubjectToken(codec, template, subject);
    }

    /** [first, last] token indexes of the subject in codec.encode(render(template, subject)). */
    static int[] subjectTokens(Codec codec, String template, String subject) {
        String t = render(template, subject);
        String through = throughSubject(template, subject);
        String before = through.substring(0, through.length() - subject.length());
        int last = lastSubjectToken(codec, template, subject);
        int[] all = codec.encode(t);
        int first = 0;
        if (!before.isBlank()) {
            int[] head = codec.encode(before);
            // a tokenizer that joins the space to the next word (" France") leaves a lone space token here: without it
            first = head.length <= all.length && Arrays.equals(all, 0, head.length, head, 0, head.length) ? head.length
                    : codec.encode(before.stripTrailing()).length;
        }
        if (first > last) {
            first = last;
        }
        return new int[] {first, last};
    }
}
