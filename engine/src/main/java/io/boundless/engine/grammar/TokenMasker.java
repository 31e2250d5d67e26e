package io.boundless.engine.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Which tokens keep a text valid: for a matcher state, the bit set of token ids whose bytes the state
 * can take. The vocabulary is a trie of its tokens' bytes, walked from the state with the state's
 * memoized byte transitions, so a branch is cut at the first byte the grammar refuses and shared
 * prefixes are matched once. The result is cached on the state (states are interned, so every sequence
 * that reaches a state shares its mask): a grammar's masks are computed once per state it visits.
 *
 * <p>With a budget (bytes left before the length limit), only tokens after which the text can still be
 * completed in the budget are allowed, so that a length-limited output still parses.
 */
public final class TokenMasker {
    private final TokenVocabulary vocab;
    private final int words;
    // trie: per node, its children (labels and node ids) and the tokens that end there
    private final byte[][] labels;
    private final int[][] children;
    private final int[][] tokensAt;
    private final AtomicInteger cached = new AtomicInteger();
    private final int maxCached;

    /** A state's mask and, over its allowed tokens, the most bytes any leaves to complete the text. */
    record Info(long[] bits, int worstAfter, TokenMasker owner) {}

    public TokenMasker(TokenVocabulary vocab) {
        this(vocab, 256L << 20);
    }

    /** @param cacheBytes most memory the cached masks may take */
    public TokenMasker(TokenVocabulary vocab, long cacheBytes) {
        this.vocab = vocab;
        this.words = (vocab.size() + 63) / 64;
        this.maxCached = (int) Math.max(16, Math.min(Integer.MAX_VALUE, cacheBytes / (8L * words + 64)));
        List<List<Integer>> kids = new ArrayList<>();
        List<List<Byte>> labs = new ArrayList<>();
        List<List<Integer>> ends = new ArrayList<>();
        kids.add(new ArrayList<>());
        labs.add(new ArrayList<>());
        ends.add(new ArrayList<>());
        for (int id = 0; id < vocab.size(); id++) {
            byte[] b = vocab.bytes(id);
            if (b == null || b.length == 0) {
                continue;
            }
            int node = 0;
            for (byte x : b) {
                int next = -1;
                List<Byte> l = labs.get(node);
                for (int k = 0; k < l.size(); k++) {
                    if (l.get(k) == x) {
                        next = kids.get(node).get(k);
                        break;
                    }
                }
                if (next < 0) {
                    next = kids.size();
                    kids.add(new ArrayList<>());
                    labs.add(new ArrayList<>());
                    ends.add(new ArrayList<>());
                    kids.get(node).add(next);
                    l.add(x);
                }
                node = next;
            }
            ends.get(node).add(id);
        }
        int n = kids.size();
        labels = new byte[n][];
        children = new int[n][];
        tokensAt = new int[n][];
        for (int i = 0; i < n; i++) {
            List<Byte> l = labs.get(i);
            labels[i] = new byte[l.size()];
            for (int k = 0; k < l.size(); k++) {
                labels[i][k] = l.get(k);
            }
            children[i] = kids.get(i).stream().mapToInt(Integer::intValue).toArray();
            tokensAt[i] = ends.get(i).stream().mapToInt(Integer::intValue).toArray();
        }
    }

    public TokenVocabulary vocabulary() {
        return vocab;
    }

    /** The tokens the state can take (bit i of word i/64 for token i). Cached on the state. */
    public long[] mask(Matcher.State s) {
        return info(s).bits();
    }

    /**
     * The tokens the state can take after which the text can still be completed in {@code budgetBytes}
     * bytes (one token per byte at worst). The same as {@link #mask} while the budget is large.
     */
    public long[] mask(Matcher.State s, int budgetBytes) {
        Info info = info(s);
        if (info.worstAfter() <= budgetBytes) {
            return info.bits();
        }
        return walk(s, budgetBytes).bits();
    }

    private Info info(Matcher.State s) {
        Object c = s.maskCache;
        if (c instanceof Info i && i.owner() == this) {
            return i;
        }
        Info info = walk(s, Integer.MAX_VALUE);
        if (c == null && cached.get() < maxCached) {
            s.maskCache = info;
            cached.incrementAndGet();
        }
        return info;
    }

    /** Masks cached so far. */
    public int cachedMasks() {
        return cached.get();
    }

    private Info walk(Matcher.State start, int budget) {
        long[] bits = new long[words];
        int worst = 0;
        if (start.isDead() || start.isTerminal()) {
            return new Info(bits, 0, this);
        }
        int[] nodeStack = new int[64];
        Matcher.State[] stateStack = new Matcher.State[64];
        int top = 0;
        nodeStack[top] = 0;
        stateStack[top++] = start;
        while (top > 0) {
            int node = nodeStack[--top];
            Matcher.State st = stateStack[top];
            stateStack[top] = null;
            byte[] l = labels[node];
            int[] kids = children[node];
            for (int k = 0; k < kids.length; k++) {
                Matcher.State next = st.advance(l[k]);
                if (next.isDead()) {
                    continue;
                }
                int child = kids[k];
                int[] ends = tokensAt[child];
                if (ends.length > 0 && next.minBytes <= budget) {
                    for (int id : ends) {
                        bits[id >>> 6] |= 1L << (id & 63);
                    }
                    worst = Math.max(worst, next.minBytes);
                }
                if (children[child].length > 0 && !next.isTerminal()) {
                    if (top == nodeStack.length) {
                        nodeStack = Arrays.copyOf(nodeStack, top * 2);
                        stateStack = Arrays.copyOf(stateStack, top * 2);
                    }
                    nodeStack[top] = child;
                    stateStack[top++] = next;
                }
            }
        }
        return new Info(bits, worst, this);
    }

    public static boolean allowed(long[] mask, int id) {
        return (mask[id >>> 6] & (1L << (id & 63))) != 0;
    }
}
