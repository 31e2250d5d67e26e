package io.boundless.engine.grammar;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Matches text against a {@link Grammar} one byte at a time, as a set of parser stacks (a pushdown
 * automaton with its nondeterminism kept as a set). A stack is a persistent list of positions: the top
 * points at a character set the next code point must be in; each frame below points where its rule
 * continues once the frame above ends. A reference that is the last element of its sequence replaces
 * its frame instead of stacking on it, so repetition (x ::= y x | "") keeps the stack flat.
 *
 * <p>States are immutable values and interned, so that equal states are one object: the token masks
 * of {@link TokenMasker} are cached per state, and byte transitions are memoized on the state. Bytes
 * are decoded as UTF-8 inside the state (a token may end in the middle of a character); a partial
 * character is allowed only when some live stack accepts a code point it can still become.
 */
public final class Matcher {
    /** Deeper stacks are dropped (a grammar nested past this is cut there; what remains is still valid). */
    static final int MAX_DEPTH = 400;
    /** More parses at once than this are cut to this many (each kept one is still a valid parse). */
    static final int MAX_STACKS = 2048;
    /**
     * Frames one expansion may visit. An ambiguous grammar (nested repetitions such as ((a+)+)+) has exponentially many
     * stacks for one position; past this bound the rest are dropped, as past MAX_STACKS: what is kept still only
     * matches the grammar, so the output stays valid, and a step stays bounded in time.
     */
    static final int MAX_WORK = 200_000;
    private static final int MAX_INTERNED = 500_000;

    final Grammar g;
    private final Map<State, State> interned = new ConcurrentHashMap<>();
    public final State initial;
    /** The dead state: no stack can go on and the text is not complete. */
    public final State dead;

    public Matcher(Grammar g) {
        this.g = g;
        this.dead = intern(new State(new Frame[0], false, 0, 0, 0, this));
        List<Frame> start = new ArrayList<>();
        for (int alt : g.alts[g.root]) {
            start.add(new Frame(alt, null, g));
        }
        this.initial = expand(start, 0, 0);
    }

    public Grammar grammar() {
        return g;
    }

    /** One frame of a stack: a position, and the frame where its rule returns. */
    static final class Frame {
        final int pos;
        final Frame parent;
        final int hash;
        final int depth;
        /** Fewest bytes that complete this stack. */
        final int minBytes;

        Frame(int pos, Frame parent, Grammar g) {
            this.pos = pos;
            this.parent = parent;
            this.depth = parent == null ? 1 : parent.depth + 1;
            this.hash = pos * 31 + (parent == null ? 7 : parent.hash * 1_000_003);
            this.minBytes = g.minBytesFrom[pos] + (parent == null ? 0 : parent.minBytes);
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            Frame a = this;
            Object b0 = o;
            while (b0 instanceof Frame b) {
                if (a == b) {
                    return true;
                }
                if (a.hash != b.hash || a.pos != b.pos || a.depth != b.depth) {
                    return false;
                }
                a = a.parent;
                b0 = b.parent;
                if (a == null) {
                    return b0 == null;
                }
            }
            return false;
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    private static final Comparator<Frame> ORDER = Comparator.<Frame>comparingInt(f -> f.hash).thenComparingInt(f -> f.pos)
            .thenComparingInt(f -> f.depth);

    /** A set of live stacks, whether the text so far is a complete sentence, and a partial UTF-8 character. */
    public static final class State {
        final Frame[] live;
        final boolean accepting;
        final int pendCp;
        final int pendLeft;
        final int pendDone;
        final int hash;
        final Matcher owner;
        /** Fewest bytes that make the text so far a complete sentence (0 when it is one). */
        public final int minBytes;
        private volatile State[] next;
        /** Cached per-vocabulary data ({@link TokenMasker}); set once. */
        volatile Object maskCache;

        State(Frame[] live, boolean accepting, int pendCp, int pendLeft, int pendDone, Matcher owner) {
            this.live = live;
            this.accepting = accepting;
            this.pendCp = pendCp;
            this.pendLeft = pendLeft;
            this.pendDone = pendDone;
            this.owner = owner;
            int h = Arrays.hashCode(live) * 31 + (accepting ? 1 : 0);
            this.hash = ((h * 31 + pendCp) * 31 + pendLeft) * 31 + pendDone;
            int best = accepting && pendLeft == 0 ? 0 : Integer.MAX_VALUE;
            for (Frame f : live) {
                best = Math.min(best, f.minBytes + pendLeft);
            }
            this.minBytes = best;
        }

        /** Whether the text so far is a complete sentence (EOS may come now). */
        public boolean canEnd() {
            return accepting && pendLeft == 0;
        }

        /** Whether nothing may follow: complete, and no stack can take more. */
        public boolean isTerminal() {
            return live.length == 0 && canEnd();
        }

        public boolean isDead() {
            return live.length == 0 && !canEnd();
        }

        /** The state after one more byte (memoized). */
        public State advance(int b) {
            State[] n = next;
            if (n == null) {
                n = new State[256];
                next = n;
            }
            State s = n[b & 0xFF];
            if (s == null) {
                s = owner.step(this, b & 0xFF);
                n[b & 0xFF] = s;
            }
            return s;
        }

        /** The state after these bytes; the dead state as soon as one is refused. */
        public State advance(byte[] bytes) {
            State s = this;
            for (byte b : bytes) {
                s = s.advance(b);
                if (s.isDead()) {
                    return s;
                }
            }
            return s;
        }

        /** The state after a string's UTF-8 bytes. */
        public State advance(String text) {
            return advance(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && s.hash == hash && s.accepting == accepting && s.pendCp == pendCp && s.pendLeft == pendLeft
                    && s.pendDone == pendDone && Arrays.equals(s.live, live);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** Whether a whole string is in the language. */
    public boolean matches(String text) {
        return initial.advance(text).canEnd();
    }

    private State step(State s, int b) {
        if (s.pendLeft > 0) {
            if ((b & 0xC0) != 0x80) {
                return dead;
            }
            int cp = (s.pendCp << 6) | (b & 0x3F);
            int left = s.pendLeft - 1;
            int total = s.pendLeft + s.pendDone; // continuation bytes of this character in all
            int min = total == 1 ? 0x80 : total == 2 ? 0x800 : 0x10000;
            if (left == 0) {
                return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? dead : consume(s, cp);
            }
            return partial(s, cp, left, s.pendDone + 1);
        }
        if (b < 0x80) {
            return consume(s, b);
        }
        if (b >= 0xC2 && b <= 0xDF) {
            return partial(s, b & 0x1F, 1, 0);
        }
        if (b >= 0xE0 && b <= 0xEF) {
            return partial(s, b & 0x0F, 2, 0);
        }
        if (b >= 0xF0 && b <= 0xF4) {
            return partial(s, b & 0x07, 3, 0);
        }
        return dead;
    }

    /**
     * A state waiting for {@code left} more continuation bytes of a character whose bits so far are {@code bits},
     * {@code done} continuation bytes in. Only characters the encoding can still become count: no overlong forms,
     * nothing past U+10FFFF.
     */
    private State partial(State s, int bits, int left, int done) {
        int total = left + done; // continuation bytes in all
        int min = total == 1 ? 0x80 : total == 2 ? 0x800 : 0x10000;
        int lo = Math.max(bits << (6 * left), min);
        int hi = Math.min((bits << (6 * left)) | ((1 << (6 * left)) - 1), 0x10FFFF);
        if (lo > hi) {
            return dead;
        }
        boolean possible = false;
        for (Frame f : s.live) {
            if (Grammar.intersects(g.charsets[g.arg[f.pos]], lo, hi)) {
                possible = true;
                break;
            }
        }
        if (!possible) {
            return dead;
        }
        return intern(new State(s.live, false, bits, left, done, this));
    }

    private State consume(State s, int cp) {
        List<Frame> moved = new ArrayList<>();
        for (Frame f : s.live) {
            if (Grammar.contains(g.charsets[g.arg[f.pos]], cp)) {
                moved.add(new Frame(f.pos + 1, f.parent, g));
            }
        }
        if (moved.isEmpty()) {
            return dead;
        }
        return expand(moved, 0, 0);
    }

    /** Expands frames until every stack's top is a character set (or the stack has ended: the sentence is complete). */
    private State expand(List<Frame> frames, int pendCp, int pendLeft) {
        ArrayDeque<Frame> work = new ArrayDeque<>(frames);
        HashSet<Frame> seen = new HashSet<>();
        List<Frame> live = new ArrayList<>();
        boolean accepting = false;
        int visited = 0;
        while (!work.isEmpty() && visited++ < MAX_WORK) {
            Frame f = work.pop();
            if (f.depth > MAX_DEPTH || !seen.add(f)) {
                continue;
            }
            switch (g.kind[f.pos]) {
                case Grammar.END -> {
                    if (f.parent == null) {
                        accepting = true;
                    } else {
                        work.push(f.parent);
                    }
                }
                case Grammar.CHARS -> {
                    if (live.size() < MAX_STACKS) {
                        live.add(f);
                    }
                }
                default -> {
                    int next = f.pos + 1;
                    Frame cont = g.kind[next] == Grammar.END ? f.parent : new Frame(next, f.parent, g);
                    int[] alts = g.alts[g.arg[f.pos]];
                    for (int k = alts.length - 1; k >= 0; k--) {
                        work.push(new Frame(alts[k], cont, g));
                    }
                }
            }
        }
        Frame[] arr = live.toArray(new Frame[0]);
        Arrays.sort(arr, ORDER);
        if (arr.length == 0 && !accepting) {
            return dead == null ? new State(arr, false, 0, 0, 0, this) : dead;
        }
        return intern(new State(arr, accepting, pendCp, pendLeft, 0, this));
    }

    private State intern(State s) {
        State known = interned.get(s);
        if (known != null) {
            return known;
        }
        if (interned.size() >= MAX_INTERNED) {
            return s;
        }
        State prior = interned.putIfAbsent(s, s);
        return prior == null ? s : prior;
    }

    /** States interned so far (for tests and metrics). */
    public int states() {
        return interned.size();
    }
}
