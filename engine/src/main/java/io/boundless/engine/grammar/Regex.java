package io.boundless.engine.grammar;

import io.boundless.engine.grammar.Grammar.Builder;
import io.boundless.engine.grammar.Grammar.Builder.Element;
import java.util.ArrayList;
import java.util.List;

/**
 * Regular expressions (the subset JSON-schema patterns and vLLM's {@code guided_regex} use) compiled
 * into grammar rules, matched against the whole text: literals, {@code .}, classes with ranges and
 * negation, {@code \d \w \s} and their negations, escapes, groups (capturing, {@code (?:)}, named),
 * {@code |}, and the quantifiers {@code * + ? {n} {n,} {n,m}} (lazy forms too: the language is the same).
 * A leading {@code ^} and trailing {@code $} are accepted and change nothing. Lookarounds,
 * backreferences and word boundaries are not regular (or not supported): they are refused by name.
 */
public final class Regex {
    private final String s;
    private int i;
    private final Builder b;
    /** Characters that may never appear (a JSON string's content cannot hold raw quotes, backslashes or controls). */
    private final int[] excluded;

    private Regex(String s, Builder b, int[] excluded) {
        this.s = s;
        this.b = b;
        this.excluded = excluded;
    }

    /** A grammar for exactly the strings the pattern matches in full. */
    public static Grammar compile(String pattern) {
        Builder b = new Builder();
        b.rule("root", alternatives(pattern, b, new int[0]));
        return b.build("root");
    }

    /**
     * The pattern as alternatives in an existing builder. Characters in {@code excluded} (sorted ranges)
     * are taken out of every class, so matches never contain them.
     */
    static List<List<Element>> alternatives(String pattern, Builder b, int[] excluded) {
        if (pattern.length() > 10_000) {
            throw new GrammarException("the pattern has " + pattern.length() + " characters; at most 10000");
        }
        Regex r = new Regex(pattern, b, excluded);
        if (r.i < r.s.length() && r.s.charAt(r.i) == '^') {
            r.i++;
        }
        List<List<Element>> alts = r.alternation();
        if (r.i < r.s.length()) {
            throw r.error("unbalanced ')'");
        }
        return alts;
    }

    private List<List<Element>> alternation() {
        List<List<Element>> alts = new ArrayList<>();
        alts.add(sequence());
        while (i < s.length() && s.charAt(i) == '|') {
            i++;
            alts.add(sequence());
        }
        return alts;
    }

    private List<Element> sequence() {
        List<Element> seq = new ArrayList<>();
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '|' || c == ')') {
                break;
            }
            if (c == '$' && (i + 1 == s.length() || s.charAt(i + 1) == ')' || s.charAt(i + 1) == '|')) {
                i++;
                continue;
            }
            List<Element> atom = atom();
            seq.addAll(quantified(atom));
        }
        return seq;
    }

    private List<Element> atom() {
        char c = s.charAt(i);
        switch (c) {
            case '(' -> {
                i++;
                if (s.startsWith("?:", i)) {
                    i += 2;
                } else if (s.startsWith("?P<", i) || (s.startsWith("?<", i) && !s.startsWith("?<=", i) && !s.startsWith("?<!", i))) {
                    int close = s.indexOf('>', i);
                    if (close < 0) {
                        throw error("unterminated group name");
                    }
                    i = close + 1;
                } else if (i < s.length() && s.charAt(i) == '?') {
                    throw error("lookarounds and inline flags (" + s.substring(i - 1, Math.min(s.length(), i + 3)) + "...) are not supported");
                }
                List<List<Element>> inner = alternation();
                if (i >= s.length() || s.charAt(i) != ')') {
                    throw error("missing ')'");
                }
                i++;
                return List.of(b.define("group", inner));
            }
            case '[' -> {
                return List.of(chars(charClass()));
            }
            case '.' -> {
                i++;
                return List.of(chars(Builder.complement(new int[] {'\n', '\n'})));
            }
            case '\\' -> {
                i++;
                return List.of(chars(escape(false)));
            }
            case '*', '+', '?', '{' -> throw error("nothing to repeat before '" + c + "'");
            case '^' -> throw error("'^' is supported only at the start of the pattern");
            default -> {
                int cp = s.codePointAt(i);
                i += Character.charCount(cp);
                return List.of(chars(new int[] {cp, cp}));
            }
        }
    }

    private Element chars(int[] ranges) {
        int[] r = ranges;
        if (excluded.length > 0) {
            r = intersectComplement(r, excluded);
        }
        if (r.length == 0) {
            throw error("this part of the pattern can only match characters that are not allowed here");
        }
        return new Builder.Chars(r);
    }

    private static int[] intersectComplement(int[] ranges, int[] excluded) {
        int[] allowed = Builder.complement(excluded);
        List<Integer> out = new ArrayList<>();
        for (int a = 0; a < ranges.length; a += 2) {
            for (int e = 0; e < allowed.length; e += 2) {
                int lo = Math.max(ranges[a], allowed[e]);
                int hi = Math.min(ranges[a + 1], allowed[e + 1]);
                if (lo <= hi) {
                    out.add(lo);
                    out.add(hi);
                }
            }
        }
        return Builder.normalize(out.stream().mapToInt(Integer::intValue).toArray());
    }

    private List<Element> quantified(List<Element> atom) {
        boolean repeated = false;
        while (i < s.length()) {
            char c = s.charAt(i);
            int min;
            int max;
            if (c == '*') {
                min = 0;
                max = -1;
                i++;
            } else if (c == '+') {
                min = 1;
                max = -1;
                i++;
            } else if (c == '?') {
                min = 0;
                max = 1;
                i++;
            } else if (c == '{' && isCount(i)) {
                i++;
                min = number();
                max = min;
                if (s.charAt(i) == ',') {
                    i++;
                    max = s.charAt(i) == '}' ? -1 : number();
                }
                i++; // '}'
                if (max >= 0 && max < min) {
                    throw error("{" + min + "," + max + "} has max below min");
                }
            } else {
                return atom;
            }
            if (repeated) {
                throw error("multiple repeat: a quantifier follows another (group the first to repeat it)");
            }
            repeated = true;
            if (i < s.length() && (s.charAt(i) == '?' || s.charAt(i) == '+')) {
                i++; // lazy or possessive: the same language
            }
            atom = b.repeat(List.of(b.group(atom)), min, max);
            if (atom.size() > 1) {
                atom = List.of(b.group(atom));
            }
        }
        return atom;
    }

    /** Whether a '{' at k starts a counted repetition {n}, {n,} or {n,m} (otherwise it is a literal brace). */
    private boolean isCount(int k) {
        int j = k + 1;
        int digits = 0;
        while (j < s.length() && Character.isDigit(s.charAt(j))) {
            j++;
            digits++;
        }
        if (digits == 0) {
            return false;
        }
        if (j < s.length() && s.charAt(j) == ',') {
            j++;
            while (j < s.length() && Character.isDigit(s.charAt(j))) {
                j++;
            }
        }
        return j < s.length() && s.charAt(j) == '}';
    }

    private int number() {
        int start = i;
        while (i < s.length() && Character.isDigit(s.charAt(i))) {
            i++;
        }
        try {
            return Integer.parseInt(s.substring(start, i));
        } catch (NumberFormatException e) {
            throw error("the repetition count is too large");
        }
    }

    private int[] charClass() {
        i++; // '['
        boolean negated = i < s.length() && s.charAt(i) == '^';
        if (negated) {
            i++;
        }
        List<Integer> ranges = new ArrayList<>();
        boolean first = true;
        while (i < s.length() && (s.charAt(i) != ']' || first)) {
            first = false;
            int[] lo;
            if (s.charAt(i) == '\\') {
                i++;
                lo = escape(true);
            } else {
                int cp = s.codePointAt(i);
                i += Character.charCount(cp);
                lo = new int[] {cp, cp};
            }
            if (lo.length == 2 && lo[0] == lo[1] && i + 1 < s.length() && s.charAt(i) == '-' && s.charAt(i + 1) != ']') {
                i++;
                int hi;
                if (s.charAt(i) == '\\') {
                    i++;
                    int[] h = escape(true);
                    if (h.length != 2 || h[0] != h[1]) {
                        throw error("a range cannot end in a class escape");
                    }
                    hi = h[0];
                } else {
                    hi = s.codePointAt(i);
                    i += Character.charCount(hi);
                }
                if (hi < lo[0]) {
                    throw error("the range in the class is reversed");
                }
                ranges.add(lo[0]);
                ranges.add(hi);
            } else {
                for (int v : lo) {
                    ranges.add(v);
                }
            }
        }
        if (i >= s.length()) {
            throw error("missing ']'");
        }
        i++;
        int[] r = ranges.stream().mapToInt(Integer::intValue).toArray();
        return negated ? Builder.complement(r) : Builder.normalize(r);
    }

    private static final int[] DIGIT = {'0', '9'};
    private static final int[] WORD = Builder.normalize(new int[] {'0', '9', 'A', 'Z', '_', '_', 'a', 'z'});
    private static final int[] SPACE = Builder.normalize(new int[] {'\t', '\r', ' ', ' '});

    /** After a backslash: the characters it stands for. */
    private int[] escape(boolean inClass) {
        if (i >= s.length()) {
            throw error("a backslash at the end of the pattern");
        }
        char e = s.charAt(i++);
        return switch (e) {
            case 'd' -> DIGIT;
            case 'D' -> Builder.complement(DIGIT);
            case 'w' -> WORD;
            case 'W' -> Builder.complement(WORD);
            case 's' -> SPACE;
            case 'S' -> Builder.complement(SPACE);
            case 'n' -> one('\n');
            case 't' -> one('\t');
            case 'r' -> one('\r');
            case 'f' -> one('\f');
            case 'v' -> one(0x0B);
            case '0' -> one(0);
            case 'x' -> one(hex(2));
            case 'u' -> one(hex(4));
            case 'b' -> {
                if (inClass) {
                    yield one('\b');
                }
                throw error("word boundaries (\\b) are not supported");
            }
            case 'B', 'A', 'Z', 'z', 'G' -> throw error("anchors and boundaries (\\" + e + ") are not supported");
            default -> {
                if (Character.isDigit(e)) {
                    throw error("backreferences (\\" + e + ") are not supported");
                }
                if (Character.isLetter(e)) {
                    throw error("unknown escape \\" + e);
                }
                yield one(e);
            }
        };
    }

    private static int[] one(int cp) {
        return new int[] {cp, cp};
    }

    private int hex(int n) {
        int v = Grammar.hexAt(s, i, n);
        if (v < 0) {
            throw error("expected " + n + " hex digits");
        }
        i += n;
        return v;
    }

    private GrammarException error(String what) {
        return new GrammarException("pattern " + quote(s) + " at " + i + ": " + what);
    }

    private static String quote(String p) {
        return "/" + (p.length() > 80 ? p.substring(0, 80) + "..." : p) + "/";
    }
}
