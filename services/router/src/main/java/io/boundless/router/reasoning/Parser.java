package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.AnswerParser;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads the answer a path gives from its text, the same way for every path so that their answers can be
 * counted: a number, a multiple-choice letter, yes or no, or what a regular expression captures. A path
 * whose text holds no answer gives null and does not vote.
 */
public abstract class Parser {
    /** Where a text states its answer ("The answer is 12", "answer: B"); what follows is preferred. */
    private static final Pattern CUE = Pattern.compile("(?i)\\banswer\\s*(?:is|:|=)\\s*");
    private static final Pattern NUMBER = Pattern.compile("-?\\d[\\d,]*(?:\\.\\d+)?");
    private static final Pattern YES_NO = Pattern.compile("(?i)\\b(yes|no|true|false)\\b");

    /** The parser a request names, or null for none (ANSWER_PARSER_KIND_UNSPECIFIED); a bad pattern or letter set is IllegalArgumentException. */
    public static Parser of(AnswerParser spec) {
        return switch (spec.getKind()) {
            case ANSWER_PARSER_KIND_UNSPECIFIED, UNRECOGNIZED -> null;
            case ANSWER_PARSER_KIND_NUMBER -> new Numbers();
            case ANSWER_PARSER_KIND_CHOICE -> new Choices(spec.getChoices().isEmpty() ? "ABCDE" : spec.getChoices());
            case ANSWER_PARSER_KIND_YES_NO -> new YesNo();
            case ANSWER_PARSER_KIND_REGEX -> new Regex(spec.getPattern());
        };
    }

    /** The answer in text, normalized so that equal answers are equal strings; null when there is none. */
    public abstract String parse(String text);

    /** How the parser is named in messages and metrics. */
    public abstract String describe();

    /** The text after the last answer cue, or null when it has none. */
    static String afterCue(String text) {
        Matcher m = CUE.matcher(text);
        int end = -1;
        while (m.find()) {
            end = m.end();
        }
        return end < 0 ? null : text.substring(end);
    }

    static final class Numbers extends Parser {
        @Override
        public String parse(String text) {
            String cued = afterCue(text);
            if (cued != null) {
                Matcher m = NUMBER.matcher(cued);
                if (m.find() && m.start() <= 16) {
                    return normalize(m.group());
                }
            }
            Matcher m = NUMBER.matcher(text);
            String last = null;
            while (m.find()) {
                last = m.group();
            }
            return last == null ? null : normalize(last);
        }

        /** "1,200" and "1200.0" are "1200"; "-0" is "0"; "3.50" is "3.5". */
        static String normalize(String n) {
            String s = n.replace(",", "");
            if (s.contains(".")) {
                s = s.replaceAll("0+$", "");
                if (s.endsWith(".")) {
                    s = s.substring(0, s.length() - 1);
                }
            }
            if (s.equals("-0")) {
                s = "0";
            }
            if (s.startsWith("-")) {
                String digits = s.substring(1).replaceFirst("^0+(?=\\d)", "");
                return "-" + digits;
            }
            return s.replaceFirst("^0+(?=\\d)", "");
        }

        @Override
        public String describe() {
            return "number";
        }
    }

    static final class Choices extends Parser {
        private final String letters;
        private final Pattern marked;
        private final Pattern bare;

        Choices(String letters) {
            if (!letters.matches("[A-Za-z]{2,26}")) {
                throw new IllegalArgumentException("parser.choices must be 2 to 26 letters, such as \"ABCD\", not \"" + letters + "\"");
            }
            this.letters = letters.toUpperCase(Locale.ROOT);
            String set = "[" + this.letters + this.letters.toLowerCase(Locale.ROOT) + "]";
            this.marked = Pattern.compile("\\((" + set + ")\\)|\\b(" + set + ")\\)");
            this.bare = Pattern.compile("\\b(" + set + ")\\b");
        }

        @Override
        public String parse(String text) {
            String cued = afterCue(text);
            if (cued != null) {
                String head = cued.length() > 24 ? cued.substring(0, 24) : cued;
                String c = last(marked, head);
                if (c == null) {
                    Matcher m = Pattern.compile("^\\s*\\(?([" + letters + "])\\b").matcher(head.toUpperCase(Locale.ROOT));
                    c = m.find() ? m.group(1) : null;
                }
                if (c != null) {
                    return c.toUpperCase(Locale.ROOT);
                }
            }
            String c = last(marked, text);
            if (c == null) {
                Matcher m = bare.matcher(text);
                while (m.find()) {
                    if (Character.isUpperCase(m.group(1).charAt(0))) {  // a lone lowercase "a" is a word, not a choice
                        c = m.group(1);
                    }
                }
            }
            return c == null ? null : c.toUpperCase(Locale.ROOT);
        }

        private static String last(Pattern p, String text) {
            Matcher m = p.matcher(text);
            String out = null;
            while (m.find()) {
                out = m.group(1) != null ? m.group(1) : m.group(2);
            }
            return out;
        }

        @Override
        public String describe() {
            return "choice " + letters;
        }
    }

    static final class YesNo extends Parser {
        @Override
        public String parse(String text) {
            String cued = afterCue(text);
            String where = cued != null && YES_NO.matcher(cued).find() ? cued : text;
            Matcher m = YES_NO.matcher(where);
            String out = null;
            while (m.find()) {
                out = m.group(1).toLowerCase(Locale.ROOT);
                if (where == cued) {
                    break;  // the first after the cue
                }
            }
            if (out == null) {
                return null;
            }
            return out.equals("yes") || out.equals("true") ? "yes" : "no";
        }

        @Override
        public String describe() {
            return "yes/no";
        }
    }

    static final class Regex extends Parser {
        private final Pattern pattern;

        Regex(String pattern) {
            if (pattern.isEmpty()) {
                throw new IllegalArgumentException("parser.pattern is required for a REGEX parser");
            }
            if (pattern.length() > 1024) {
                throw new IllegalArgumentException("parser.pattern has " + pattern.length() + " characters; the limit is 1024");
            }
            try {
                this.pattern = Pattern.compile(pattern);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("parser.pattern is not a valid regular expression: " + e.getDescription() + " near index " + e.getIndex());
            }
        }

        /** A client's pattern may backtrack without end: matching one text stops after this long (the path then has no answer). */
        static final long BUDGET_NANOS = 200_000_000L;

        @Override
        public String parse(String text) {
            Matcher m = pattern.matcher(new Timed(text, System.nanoTime() + BUDGET_NANOS));
            String out = null;
            try {
                while (m.find()) {
                    out = m.groupCount() >= 1 && m.group(1) != null ? m.group(1) : m.group();
                }
            } catch (Timed.Expired e) {
                return null;
            }
            return out == null ? null : out.strip();
        }

        /** Text whose reading fails once a deadline passed (checked every 4096 reads). */
        private record Timed(String text, long deadline, int[] reads) implements CharSequence {
            static final class Expired extends RuntimeException {
                Expired() {
                    super("the pattern ran past its time", null, false, false);
                }
            }

            Timed(String text, long deadline) {
                this(text, deadline, new int[1]);
            }

            @Override
            public int length() {
                return text.length();
            }

            @Override
            public char charAt(int index) {
                if ((++reads[0] & 4095) == 0 && System.nanoTime() > deadline) {
                    throw new Expired();
                }
                return text.charAt(index);
            }

            @Override
            public CharSequence subSequence(int start, int end) {
                return text.substring(start, end);
            }

            @Override
            public String toString() {
                return text;
            }
        }

        @Override
        public String describe() {
            return "regex " + pattern.pattern();
        }
    }
}
