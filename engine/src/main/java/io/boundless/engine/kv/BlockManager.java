package io.boundless.engine.kv;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Owns the KV blocks: allocation, reference counts, and the prefix cache.
 *
 * <p>A full, computed block is known by a chained hash of its tokens and every token before it, so equal
 * prefixes map to equal blocks. Freed blocks keep their hash and contents and go to the back of the
 * free queue; allocation takes from the front, so the least recently freed block is reused first
 * and a recently freed prefix can still be found. Every hit is verified token by token, so a hash
 * collision can cost a miss but never wrong keys and values.
 */
public final class BlockManager {
    private final int blockSize;
    private final int[] refCount;
    private final long[] hashOf;          // chained hash of a full block, or NO_HASH
    private final int[][] tokensOf;        // the tokens a full block holds, for verification
    private final Map<Long, Integer> byHash = new HashMap<>();
    private final ArrayDeque<Integer> free = new ArrayDeque<>(); // least recently freed first
    private final boolean[] isFree;
    private long hits;
    private long lookups;
    static final long NO_HASH = 0;

    public BlockManager(int numBlocks, int blockSize) {
        this.blockSize = blockSize;
        this.refCount = new int[numBlocks];
        this.hashOf = new long[numBlocks];
        this.tokensOf = new int[numBlocks][];
        this.isFree = new boolean[numBlocks];
        for (int b = 0; b < numBlocks; b++) {
            free.add(b);
            isFree[b] = true;
        }
    }

    public int blockSize() {
        return blockSize;
    }

    public int freeBlocks() {
        return free.size();
    }

    public int totalBlocks() {
        return refCount.length;
    }

    /** Blocks in use (referenced by a sequence) as a fraction of all. */
    public double usage() {
        return 1.0 - (double) free.size() / refCount.length;
    }

    /** Share of full prompt blocks found in the cache since start. */
    public double hitRate() {
        return lookups == 0 ? 0 : (double) hits / lookups;
    }

    public long hits() {
        return hits;
    }

    public long lookups() {
        return lookups;
    }

    /** Blocks needed to hold n tokens. */
    public int blocksFor(int n) {
        return (n + blockSize - 1) / blockSize;
    }

    /**
     * Allocates blocks for a prompt, reusing cached full blocks of an equal prefix. Returns the
     * number of prompt tokens whose keys and values are already in the cache (whole blocks).
     * Throws {@link IllegalStateException} when there are not enough free blocks; callers check
     * {@link #canAllocate} first.
     */
    public int allocatePrompt(int[] tokens, int length, IntList table) {
        return allocatePrompt(tokens, length, table, 0);
    }

    /**
     * {@link #allocatePrompt} for a sequence served with other weights than the base (an edited version): salt, a
     * hash of those weights' content (0 for the base), starts the block chain, so equal tokens under different
     * weights never share keys and values.
     */
    public int allocatePrompt(int[] tokens, int length, IntList table, long salt) {
        if (!canAllocate(length)) {
            throw new IllegalStateException("not enough free KV blocks for " + length + " tokens");
        }
        long hash = salt == 0 ? NO_HASH : salt;
        int cached = 0;
        boolean missed = false;
        int full = length / blockSize;
        for (int i = 0; i < blocksFor(length); i++) {
            if (i < full) {
                hash = chain(hash, tokens, i * blockSize);
                lookups++;
                Integer b = missed ? null : byHash.get(hash);
                if (b != null && Arrays.equals(tokensOf[b], 0, blockSize, tokens, i * blockSize, (i + 1) * blockSize)) {
                    hits++;
                    take(b);
                    table.add(b);
                    cached += blockSize;
                    continue;
                }
                missed = true; // once a block misses, later ones cannot hit (their chain differs)
                // Registered only once its keys and values are computed (blockFilled), so nobody can
                // hit a block whose contents a chunked prefill has not written yet.
                table.add(takeFree());
            } else {
                table.add(takeFree());
            }
        }
        return cached;
    }

    /** Whether a prompt of n tokens can get its blocks (a conservative check: cache hits need fewer). */
    public boolean canAllocate(int n) {
        return free.size() >= blocksFor(n);
    }

    /**
     * Makes room for a sequence growing from oldLen to newLen tokens: new blocks as needed, and a
     * private copy of a shared partial last block (copy-on-write). Returns the block to copy from
     * and to as {@code from << 32 | to} when a copy is needed, else -1. The caller copies the KV
     * contents. Throws when out of blocks; check {@link #canGrow} first.
     */
    public long grow(IntList table, int oldLen, int newLen) {
        long copy = -1;
        if (oldLen % blockSize != 0 && table.size() > 0) {
            int last = table.get(table.size() - 1);
            if (refCount[last] > 1) {
                int nb = takeFree();
                refCount[last]--;
                table.set(table.size() - 1, nb);
                copy = ((long) last << 32) | nb;
            }
        }
        while (table.size() < blocksFor(newLen)) {
            table.add(takeFree());
        }
        return copy;
    }

    /** Free blocks needed to grow from oldLen to newLen tokens (including a copy-on-write). */
    public int blocksToGrow(IntList table, int oldLen, int newLen) {
        int need = Math.max(0, blocksFor(newLen) - table.size());
        if (oldLen % blockSize != 0 && table.size() > 0 && refCount[table.get(table.size() - 1)] > 1) {
            need++;
        }
        return need;
    }

    public boolean canGrow(IntList table, int oldLen, int newLen) {
        return free.size() >= blocksToGrow(table, oldLen, newLen);
    }

    /** Registers the block holding tokens [start, start + blockSize) once it is full, so others can reuse it. */
    public void blockFilled(IntList table, int[] tokens, int start) {
        blockFilled(table, tokens, start, 0);
    }

    /** {@link #blockFilled} for a sequence whose weights hash to salt (0: the base). */
    public void blockFilled(IntList table, int[] tokens, int start, long salt) {
        int idx = start / blockSize;
        long prev = idx == 0 ? (salt == 0 ? NO_HASH : salt) : hashOf[table.get(idx - 1)];
        if (idx > 0 && prev == NO_HASH) {
            return; // an earlier block has no hash (should not happen); leave this one uncached
        }
        int b = table.get(idx);
        if (hashOf[b] == NO_HASH && refCount[b] == 1) {
            register(b, chain(prev, tokens, start), tokens, start);
        }
    }

    /** Another sequence shares all of table's blocks (n > 1 samples of one prompt). */
    public void share(IntList table, IntList copy) {
        for (int i = 0; i < table.size(); i++) {
            int b = table.get(i);
            refCount[b]++;
            copy.add(b);
        }
    }

    /** Releases a sequence's blocks; blocks nobody references go to the back of the free queue, cached. */
    public void release(IntList table) {
        for (int i = table.size() - 1; i >= 0; i--) {
            int b = table.get(i);
            if (--refCount[b] == 0) {
                free.addLast(b);
                isFree[b] = true;
            }
        }
        table.clear();
    }

    private void take(int b) {
        if (isFree[b]) {
            free.remove(b); // O(n), but only on a prefix hit of a freed block
            isFree[b] = false;
        }
        refCount[b]++;
    }

    private int takeFree() {
        Integer b = free.pollFirst();
        if (b == null) {
            throw new IllegalStateException("out of KV blocks");
        }
        isFree[b] = false;
        if (hashOf[b] != NO_HASH) { // evict its cached content
            byHash.remove(hashOf[b], b);
            hashOf[b] = NO_HASH;
            tokensOf[b] = null;
        }
        refCount[b] = 1;
        return b;
    }

    private void register(int b, long hash, int[] tokens, int start) {
        hashOf[b] = hash;
        tokensOf[b] = Arrays.copyOfRange(tokens, start, start + blockSize);
        byHash.put(hash, b);
    }

    /** 64-bit chained hash of one block of tokens after a previous block's hash (never NO_HASH). */
    long chain(long prev, int[] tokens, int start) {
        long h = prev * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        for (int i = start; i < start + blockSize; i++) {
            h ^= tokens[i] & 0xFFFFFFFFL;
            h *= 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
        }
        h ^= h >>> 29;
        return h == NO_HASH ? 1 : h;
    }
}
