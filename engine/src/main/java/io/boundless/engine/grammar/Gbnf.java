package io.boundless.engine.grammar;

import io.boundless.engine.grammar.Grammar.Builder;
import io.boundless.engine.grammar.Grammar.Builder.Element;
import java.util.ArrayList;
import java.util.List;

/**
 * GBNF, llama.cpp's grammar notation (also what vLLM's {@code guided_grammar} takes in its EBNF form):
 * {@code name ::= alternatives}, one rule per line; {@code "literal"} with escapes ({@code \n \t \r \\ \"
 * \xHH \\uHHHH \UHHHHHHHH}), {@code [a-z0-9_]} and {@code [^"\\]} classes, {@code .} for any character,
 * rule names, {@code ( ... )} groups, {@code |}, the quantifiers {@code * + ? {m} {m,} {m,n}}, and
 * {@code #} comments. A rule may go on over several lines inside parentheses or after a {@code |}.
 * The root is the rule named {@code root}.
 */
public final class Gbnf {
    private final String s;
    private int i;
    private final Builder b = new Builder();

    private Gbnf(String s) {
        this.s = s;
    }

    public static Grammar parse(String text) {
        return parse(text, "root");
    }

    public static Grammar parse(String text, String root) {
        if (text.length() > 1_000_000) {
            throw new GrammarException("the grammar has " + text.length() + " characters; at most 1000000");
        }
        Gbnf p = new Gbnf(text);
        p.rules();
        if (!p.b.has(root)) {
            throw new GrammarException("the grammar has no rule named '" + root + "'");
        }
        return p.b.build(root);
    }

    private void rules() {
        space(true);
        while (i < s.length()) {
            String name = name();
            space(false);
            if (!s.startsWith("::=", i)) {
                throw error("expected '::=' after the rule name '" + name + "'");
            }
            i += 3;
            space(true);
            b.rule(name, alternatives(false));
            space(false);
            if (i < s.length() && s.charAt(i) != '\n' && s.charAt(i) != '\r') {
                throw error("expected the end of the line after rule '" + name + "'");
            }
            space(true);
        }
    }

    private List<List<Element>> alternatives(boolean nested) {
        List<List<Element>> alts = new ArrayList<>();
        alts.add(sequence(nested));
        while (true) {
            int save = i;
            space(true); // a '|' may also begin the next line
            if (i < s.length() && s.charAt(i) == '|') {
                i++;
                space(true);
                alts.add(sequence(nested));
            } else {
                i = save;
                return alts;
            }
        }
    }

    private List<Element> sequence(boolean nested) {
        List<Element> seq = new ArrayList<>();
        while (i < s.length()) {
            char c = s.charAt(i);
            List<Element> atom;
            if (c == '"') {
                i++;
                atom = new ArrayList<>();
                while (i < s.length() && s.charAt(i) != '"') {
                    atom.add(Builder.character(charOrEscape()));
                }
                expect('"');
            } else if (c == '[') {
                atom = List.of(charClass());
            } else if (c == '.') {
                i++;
                atom = List.of(new Builder.Chars(Builder.complement(new int[] {'\n', '\n'})));
            } else if (c == '(') {
                i++;
                space(true);
                List<List<Element>> inner = alternatives(true);
                expect(')');
                atom = List.of(b.define("group", inner));
            } else if (isNameChar(c)) {
                int at = i;
                String name = name();
                int save = i;
                space(false);
                if (s.startsWith("::=", i)) { // the next rule starts: this sequence ended at the line break
                    i = at;
                    break;
                }
                i = save;
                atom = List.of(Builder.ref(name));
            } else {
                break;
            }
            space(nested);
            atom = quantified(atom);
            seq.addAll(atom);
            space(nested);
        }
        return seq;
    }

    private List<Element> quantified(List<Element> atom) {
        while (i < s.length()) {
            char c = s.charAt(i);
            List<Element> unit = List.of(b.group(atom));
            if (c == '*') {
                i++;
                atom = List.of(b.star(unit));
            } else if (c == '+') {
                i++;
                atom = b.plus(unit);
            } else if (c == '?') {
                i++;
                atom = List.of(b.optional(unit));
            } else if (c == '{') {
                i++;
                int min = number();
                int max = min;
                if (i < s.length() && s.charAt(i) == ',') {
                    i++;
                    max = i < s.length() && s.charAt(i) == '}' ? -1 : number();
                }
                expect('}');
                atom = b.repeat(unit, min, max);
            } else {
                return atom;
            }
        }
        return atom;
    }

    private Element charClass() {
        expect('[');
        boolean negated = i < s.length() && s.charAt(i) == '^';
        if (negated) {
            i++;
        }
        List<Integer> ranges = new ArrayList<>();
        while (i < s.length() && s.charAt(i) != ']') {
            int lo = charOrEscape();
            int hi = lo;
            if (i + 1 < s.length() && s.charAt(i) == '-' && s.charAt(i + 1) != ']') {
                i++;
                hi = charOrEscape();
                if (hi < lo) {
                    throw error("the range " + new String(Character.toChars(lo)) + "-" + new String(Character.toChars(hi)) + " is reversed");
                }
            }
            ranges.add(lo);
            ranges.add(hi);
        }
        expect(']');
        int[] r = ranges.stream().mapToInt(Integer::intValue).toArray();
        if (r.length == 0 && !negated) {
            throw error("an empty character class matches nothing");
        }
        return new Builder.Chars(negated ? Builder.complement(r) : Builder.normalize(r));
    }

    private int charOrEscape() {
        if (i >= s.length()) {
            throw error("unexpected end of the grammar");
        }
        int cp = s.codePointAt(i);
        i += Character.charCount(cp);
        if (cp != '\\') {
            return cp;
        }
        if (i >= s.length()) {
            throw error("a backslash at the end of the grammar");
        }
        char e = s.charAt(i++);
        return switch (e) {
            case 'n' -> '\n';
            case 't' -> '\t';
            case 'r' -> '\r';
            case '\\', '"', '[', ']', '-', '^', '/' -> e;
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'U' -> hex(8);
            default -> throw error("unknown escape \\" + e);
        };
    }

    private int hex(int n) {
        int v = Grammar.hexAt(s, i, n);
        if (v < 0) {
            throw error("expected " + n + " hex digits");
        }
        i += n;
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            throw error("\\u" + Integer.toHexString(v) + " is not a character");
        }
        return v;
    }

    private int number() {
        int start = i;
        while (i < s.length() && Character.isDigit(s.charAt(i))) {
            i++;
        }
        if (start == i) {
            throw error("expected a number");
        }
        try {
            return Integer.parseInt(s.substring(start, i));
        } catch (NumberFormatException e) {
            throw error("the repetition count " + s.substring(start, i) + " is too large");
        }
    }

    private static boolean isNameChar(char c) {
        return Character.isLetterOrDigit(c) && c < 0x80 || c == '-' || c == '_';
    }

    private String name() {
        int start = i;
        while (i < s.length() && isNameChar(s.charAt(i))) {
            i++;
        }
        if (start == i) {
            throw error("expected a rule name");
        }
        return s.substring(start, i);
    }

    private void expect(char c) {
        if (i >= s.length() || s.charAt(i) != c) {
            throw error("expected '" + c + "'");
        }
        i++;
    }

    /** Skips blanks and comments, and line breaks too when {@code newlines}. */
    private void space(boolean newlines) {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '#') {
                while (i < s.length() && s.charAt(i) != '\n') {
                    i++;
                }
            } else if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
                i++;
            } else {
                return;
            }
        }
    }

    private GrammarException error(String what) {
        int line = 1;
        int col = 1;
        for (int k = 0; k < Math.min(i, s.length()); k++) {
            if (s.charAt(k) == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return new GrammarException("grammar line " + line + ", column " + col + ": " + what);
    }
}
