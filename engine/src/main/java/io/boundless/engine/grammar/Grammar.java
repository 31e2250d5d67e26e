package io.boundless.engine.grammar;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A context-free grammar over Unicode code points, compiled for matching: every rule is a list of
 * alternatives, every alternative a sequence of elements, each a set of code points or a reference to
 * a rule. Sequences are laid out end to end in one array of positions, each alternative ending in an
 * END position, so that a parser stack is a list of positions (see {@link Matcher}).
 *
 * <p>JSON schemas, regular expressions, choices and GBNF grammars all compile to this form through
 * {@link Builder}. Left recursion is refused (the matcher expands top-down); everything else a
 * context-free grammar can say is allowed, ambiguity included.
 */
public final class Grammar {
    static final byte CHARS = 0;
    static final byte REF = 1;
    static final byte END = 2;

    final byte[] kind;        // per position
    final int[] arg;          // CHARS: charset index; REF: rule index
    final int[][] charsets;   // sorted, disjoint inclusive ranges [lo0, hi0, lo1, hi1, ...]
    final int[][] alts;       // per rule: the start positions of its alternatives
    final String[] ruleNames;
    final int root;
    /** Fewest UTF-8 bytes that complete the sequence from a position to its END (rules expanded at their shortest). */
    final int[] minBytesFrom;
    final int[] ruleMinBytes;

    private Grammar(byte[] kind, int[] arg, int[][] charsets, int[][] alts, String[] ruleNames, int root) {
        this.kind = kind;
        this.arg = arg;
        this.charsets = charsets;
        this.alts = alts;
        this.ruleNames = ruleNames;
        this.root = root;
        this.ruleMinBytes = new int[alts.length];
        this.minBytesFrom = new int[kind.length];
        computeMinLengths();
    }

    public int rules() {
        return alts.length;
    }

    /** The fewest UTF-8 bytes of any string of the language (what the shortest valid output takes). */
    public int minBytes() {
        return ruleMinBytes[root];
    }

    /** The n hex digits at i of s as a number, or -1 when they are not there. */
    static int hexAt(String s, int i, int n) {
        if (i + n > s.length()) {
            return -1;
        }
        int v = 0;
        for (int k = i; k < i + n; k++) {
            int d = Character.digit(s.charAt(k), 16);
            if (d < 0) {
                return -1;
            }
            v = v * 16 + d;
        }
        return v;
    }

    static boolean contains(int[] ranges, int cp) {
        int lo = 0;
        int hi = ranges.length / 2 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < ranges[2 * mid]) {
                hi = mid - 1;
            } else if (cp > ranges[2 * mid + 1]) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }

    static boolean intersects(int[] ranges, int from, int to) {
        for (int i = 0; i < ranges.length; i += 2) {
            if (ranges[i] <= to && ranges[i + 1] >= from) {
                return true;
            }
        }
        return false;
    }

    private static int utf8Length(int cp) {
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }

    private void computeMinLengths() {
        final int inf = Integer.MAX_VALUE / 4;
        Arrays.fill(ruleMinBytes, inf);
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < alts.length; r++) {
                for (int start : alts[r]) {
                    int len = sequenceMin(start, inf);
                    if (len < ruleMinBytes[r]) {
                        ruleMinBytes[r] = len;
                        changed = true;
                    }
                }
            }
        }
        for (int r = 0; r < alts.length; r++) {
            if (ruleMinBytes[r] >= inf) {
                throw new GrammarException("rule '" + ruleNames[r] + "' can never end (every alternative refers back to itself)");
            }
        }
        for (int p = kind.length - 1; p >= 0; p--) {
            minBytesFrom[p] = switch (kind[p]) {
                case END -> 0;
                case CHARS -> utf8Length(charsets[arg[p]][0]) + minBytesFrom[p + 1];
                default -> ruleMinBytes[arg[p]] + minBytesFrom[p + 1];
            };
        }
    }

    private int sequenceMin(int p, int inf) {
        long total = 0;
        for (; kind[p] != END; p++) {
            total += kind[p] == CHARS ? utf8Length(charsets[arg[p]][0]) : ruleMinBytes[arg[p]];
            if (total >= inf) {
                return inf;
            }
        }
        return (int) total;
    }

    /** Refuses left recursion: a rule that can reach itself before consuming a character. */
    private void checkLeftRecursion() {
        int n = alts.length;
        boolean[] nullable = new boolean[n];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < n; r++) {
                if (nullable[r]) {
                    continue;
                }
                for (int start : alts[r]) {
                    boolean all = true;
                    for (int p = start; kind[p] != END; p++) {
                        if (kind[p] == CHARS || !nullable[arg[p]]) {
                            all = false;
                            break;
                        }
                    }
                    if (all) {
                        nullable[r] = true;
                        changed = true;
                        break;
                    }
                }
            }
        }
        // Edges A -> B where B can come first in A. A cycle of such edges grows the matcher's stack without bound
        // unless every edge in it is a tail reference (those replace their frame): refuse cycles with a non-tail edge.
        List<List<Integer>> left = new ArrayList<>();
        List<int[]> growing = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<Integer> to = new ArrayList<>();
            for (int start : alts[r]) {
                for (int p = start; kind[p] == REF; p++) {
                    to.add(arg[p]);
                    if (kind[p + 1] != END) {
                        growing.add(new int[] {r, arg[p]});
                    }
                    if (!nullable[arg[p]]) {
                        break;
                    }
                }
            }
            left.add(to);
        }
        for (int[] e : growing) {
            // does e[1] reach e[0]?
            boolean[] seen = new boolean[n];
            ArrayDeque<Integer> work = new ArrayDeque<>();
            work.push(e[1]);
            while (!work.isEmpty()) {
                int x = work.pop();
                if (x == e[0]) {
                    throw new GrammarException("rule '" + ruleNames[e[0]] + "' is left-recursive (it can reach itself before any"
                            + " character); rewrite it with repetition, e.g. x ::= y (\",\" y)*");
                }
                if (!seen[x]) {
                    seen[x] = true;
                    left.get(x).forEach(work::push);
                }
            }
        }
    }

    /**
     * Builds a grammar: declare rules by name, give each its alternatives, then {@link #build} with the
     * root's name. Elements are made with {@link #chars}, {@link #literal} and {@link #ref}; the helpers
     * {@link #star}, {@link #plus}, {@link #optional} and {@link #repeat} add the rules that repetition needs.
     */
    public static final class Builder {
        /** An element of a sequence: a code point set or a rule reference. */
        public sealed interface Element permits Chars, Ref {}

        /** A set of code points as sorted, disjoint inclusive ranges. */
        public record Chars(int[] ranges) implements Element {}

        /** A reference to a rule by name. */
        public record Ref(String rule) implements Element {}

        private final Map<String, List<List<Element>>> rules = new java.util.LinkedHashMap<>();
        private final Map<String, String> memo = new HashMap<>();
        private int fresh;

        /** Adds alternatives to a rule (declaring it when new). */
        public Builder rule(String name, List<List<Element>> alternatives) {
            rules.computeIfAbsent(name, k -> new ArrayList<>()).addAll(alternatives);
            return this;
        }

        public boolean has(String name) {
            return rules.containsKey(name);
        }

        /** A rule name not used yet, from a hint. */
        public String fresh(String hint) {
            String base = hint.replaceAll("[^A-Za-z0-9_-]", "-");
            String name;
            do {
                name = base + "-" + (fresh++);
            } while (rules.containsKey(name));
            rules.put(name, new ArrayList<>());
            return name;
        }

        /** A rule with these alternatives under a fresh name; equal alternatives share one rule. */
        public Ref define(String hint, List<List<Element>> alternatives) {
            String key = key(alternatives);
            String known = memo.get(key);
            if (known != null) {
                return new Ref(known);
            }
            String name = fresh(hint);
            rules.get(name).addAll(alternatives);
            memo.put(key, name);
            return new Ref(name);
        }

        private static String key(List<List<Element>> alternatives) {
            StringBuilder sb = new StringBuilder();
            for (List<Element> seq : alternatives) {
                sb.append('|');
                for (Element e : seq) {
                    sb.append(e instanceof Chars c ? "c" + Arrays.toString(c.ranges()) : "r" + ((Ref) e).rule()).append(' ');
                }
            }
            return sb.toString();
        }

        public static Chars chars(int... ranges) {
            return new Chars(normalize(ranges));
        }

        public static Chars character(int cp) {
            return new Chars(new int[] {cp, cp});
        }

        public static Ref ref(String name) {
            return new Ref(name);
        }

        /** The code points of a string, one element each. */
        public static List<Element> literal(String s) {
            List<Element> out = new ArrayList<>();
            s.codePoints().forEach(cp -> out.add(character(cp)));
            return out;
        }

        /** Sorts and merges ranges. */
        public static int[] normalize(int[] ranges) {
            int n = ranges.length / 2;
            long[] pairs = new long[n];
            for (int i = 0; i < n; i++) {
                int lo = Math.min(ranges[2 * i], ranges[2 * i + 1]);
                int hi = Math.max(ranges[2 * i], ranges[2 * i + 1]);
                pairs[i] = ((long) lo << 32) | hi;
            }
            Arrays.sort(pairs);
            int[] out = new int[2 * n];
            int k = 0;
            for (long pr : pairs) {
                int lo = (int) (pr >>> 32);
                int hi = (int) pr;
                if (k > 0 && lo <= out[k - 1] + 1) {
                    out[k - 1] = Math.max(out[k - 1], hi);
                } else {
                    out[k++] = lo;
                    out[k++] = hi;
                }
            }
            return Arrays.copyOf(out, k);
        }

        /** Every code point (no surrogates) outside the ranges. */
        public static int[] complement(int[] ranges) {
            int[] r = normalize(ranges);
            List<Integer> out = new ArrayList<>();
            int next = 0;
            for (int i = 0; i < r.length; i += 2) {
                if (r[i] > next) {
                    out.add(next);
                    out.add(r[i] - 1);
                }
                next = r[i + 1] + 1;
            }
            if (next <= 0x10FFFF) {
                out.add(next);
                out.add(0x10FFFF);
            }
            return withoutSurrogates(out.stream().mapToInt(Integer::intValue).toArray());
        }

        static int[] withoutSurrogates(int[] r) {
            List<Integer> out = new ArrayList<>();
            for (int i = 0; i < r.length; i += 2) {
                int lo = r[i];
                int hi = r[i + 1];
                if (hi < 0xD800 || lo > 0xDFFF) {
                    out.add(lo);
                    out.add(hi);
                    continue;
                }
                if (lo < 0xD800) {
                    out.add(lo);
                    out.add(0xD7FF);
                }
                if (hi > 0xDFFF) {
                    out.add(0xE000);
                    out.add(hi);
                }
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        /** x*: a rule that matches x zero or more times (right-recursive, so the matcher's stack stays flat). */
        public Ref star(List<Element> x) {
            String name = fresh("star");
            List<Element> again = new ArrayList<>(x);
            again.add(new Ref(name));
            rules.get(name).add(again);
            rules.get(name).add(List.of());
            return new Ref(name);
        }

        /** x+ as x x*. */
        public List<Element> plus(List<Element> x) {
            List<Element> out = new ArrayList<>(x);
            out.add(star(x));
            return out;
        }

        /** x? as a rule of two alternatives. */
        public Ref optional(List<Element> x) {
            return define("opt", List.of(x, List.of()));
        }

        /** x{min,max}; max -1 for no limit. Bounded repetitions nest their optional tail: x (x (x)?)?. */
        public List<Element> repeat(List<Element> x, int min, int max) {
            if (min < 0 || (max >= 0 && max < min)) {
                throw new GrammarException("a repetition needs 0 <= min <= max, got {" + min + "," + max + "}");
            }
            if (min > 10_000 || max > 10_000) {
                throw new GrammarException("repetition counts above 10000 are not supported, got {" + min + "," + max + "}");
            }
            List<Element> out = new ArrayList<>();
            for (int i = 0; i < min; i++) {
                out.addAll(x);
            }
            if (max < 0) {
                out.add(star(x));
            } else if (max > min) {
                List<Element> tail = List.of();
                for (int i = 0; i < max - min; i++) {
                    List<Element> inner = new ArrayList<>(x);
                    inner.addAll(tail);
                    tail = List.of(optional(inner));
                }
                out.addAll(tail);
            }
            return out;
        }

        /** A sequence as one element (a rule of one alternative), for use inside other repetitions. */
        public Element group(List<Element> seq) {
            return seq.size() == 1 ? seq.getFirst() : define("group", List.of(seq));
        }

        public Grammar build(String root) {
            if (!rules.containsKey(root)) {
                throw new GrammarException("no rule named '" + root + "' (the root)");
            }
            Map<String, Integer> index = new HashMap<>();
            List<String> names = new ArrayList<>(rules.keySet());
            for (int i = 0; i < names.size(); i++) {
                index.put(names.get(i), i);
            }
            List<int[]> charsets = new ArrayList<>();
            Map<String, Integer> charsetIndex = new HashMap<>();
            int positions = 0;
            for (List<List<Element>> a : rules.values()) {
                if (a.isEmpty()) {
                    continue;
                }
                for (List<Element> seq : a) {
                    positions += seq.size() + 1;
                }
            }
            byte[] kind = new byte[positions];
            int[] arg = new int[positions];
            int[][] alts = new int[names.size()][];
            int p = 0;
            for (int r = 0; r < names.size(); r++) {
                List<List<Element>> a = rules.get(names.get(r));
                if (a.isEmpty()) {
                    throw new GrammarException("rule '" + names.get(r) + "' is used but never defined");
                }
                alts[r] = new int[a.size()];
                for (int k = 0; k < a.size(); k++) {
                    alts[r][k] = p;
                    for (Element e : a.get(k)) {
                        switch (e) {
                            case Chars c -> {
                                if (c.ranges().length == 0) {
                                    throw new GrammarException("rule '" + names.get(r) + "' has an empty character class");
                                }
                                String key = Arrays.toString(c.ranges());
                                Integer ci = charsetIndex.get(key);
                                if (ci == null) {
                                    ci = charsets.size();
                                    charsets.add(c.ranges());
                                    charsetIndex.put(key, ci);
                                }
                                kind[p] = CHARS;
                                arg[p] = ci;
                            }
                            case Ref ref -> {
                                Integer ri = index.get(ref.rule());
                                if (ri == null) {
                                    throw new GrammarException("rule '" + names.get(r) + "' refers to '" + ref.rule() + "', which is not defined");
                                }
                                kind[p] = REF;
                                arg[p] = ri;
                            }
                        }
                        p++;
                    }
                    kind[p++] = END;
                }
            }
            Grammar g = new Grammar(kind, arg, charsets.toArray(new int[0][]), alts, names.toArray(new String[0]), index.get(root));
            g.checkLeftRecursion();
            return g;
        }
    }
}
