package io.boundless.tokenizer.hf;

import java.util.Arrays;

/**
 * The merge table of a BPE model and the merge loop itself — by far the most time of an encode is
 * spent here and in the pre-tokenizer.
 *
 * <p>Pairs of symbol ids map to (rank, merged id) in an open-addressing table keyed by
 * {@code left << 32 | right}. A word is merged as Hugging Face's {@code Word::merge_all} does: always
 * the lowest-ranked pair present, leftmost first on ties, using a heap so that a long word (a whole
 * SentencePiece segment has no pre-tokenizer to cut it) costs O(n log n), not O(n²).
 */
final class BpeMerges {
    private final long[] keys;    // left << 32 | right; EMPTY when free
    private final long[] values;  // rank << 32 | mergedId
    private final int mask;
    private static final long EMPTY = -1L;

    BpeMerges(int capacityHint) {
        int cap = Integer.highestOneBit(Math.max(16, capacityHint * 2) - 1) << 1;
        keys = new long[cap];
        values = new long[cap];
        Arrays.fill(keys, EMPTY);
        mask = cap - 1;
    }

    void put(int left, int right, int rank, int merged) {
        long key = ((long) left << 32) | (right & 0xFFFFFFFFL);
        int i = slot(key);
        while (keys[i] != EMPTY && keys[i] != key) {
            i = (i + 1) & mask;
        }
        if (keys[i] == key) {
            return; // the first (lowest-ranked) line for a pair wins, as in HF
        }
        keys[i] = key;
        values[i] = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
    }

    /** rank << 32 | mergedId, or -1 when the pair does not merge. */
    long get(int left, int right) {
        long key = ((long) left << 32) | (right & 0xFFFFFFFFL);
        int i = slot(key);
        while (true) {
            long k = keys[i];
            if (k == key) {
                return values[i];
            }
            if (k == EMPTY) {
                return -1;
            }
            i = (i + 1) & mask;
        }
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 33) & mask;
    }

    /**
     * Merges symbols[0..n) in place and returns the new count. Work arrays are per thread.
     */
    int mergeAll(int[] symbols, int n, Scratch s) {
        if (n < 2) {
            return n;
        }
        if (n == 2) { // the common short case, without the heap
            long v = get(symbols[0], symbols[1]);
            if (v < 0) {
                return 2;
            }
            symbols[0] = (int) v;
            return 1;
        }
        s.ensure(n);
        int[] next = s.next;
        int[] prev = s.prev;
        int[] sym = s.sym;
        for (int i = 0; i < n; i++) {
            sym[i] = symbols[i];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        s.heapSize = 0;
        for (int i = 0; i + 1 < n; i++) {
            long v = get(sym[i], sym[i + 1]);
            if (v >= 0) {
                s.push((v & 0xFFFFFFFF00000000L) | i);
            }
        }
        while (s.heapSize > 0) {
            long top = s.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            if (sym[pos] < 0) {
                continue; // merged into its left neighbour since
            }
            int right = next[pos];
            if (right < 0) {
                continue;
            }
            long v = get(sym[pos], sym[right]);
            if (v < 0 || (int) (v >>> 32) != rank) {
                continue; // an expired entry: this pair changed since it was queued
            }
            sym[pos] = (int) v;
            sym[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) {
                prev[after] = pos;
                long w = get(sym[pos], sym[after]);
                if (w >= 0) {
                    s.push((w & 0xFFFFFFFF00000000L) | pos);
                }
            }
            int before = prev[pos];
            if (before >= 0) {
                long w = get(sym[before], sym[pos]);
                if (w >= 0) {
                    s.push((w & 0xFFFFFFFF00000000L) | before);
                }
            }
        }
        int out = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            symbols[out++] = sym[i];
        }
        return out;
    }

    /** Per-thread work space for {@link #mergeAll}: linked symbols and a min-heap of rank << 32 | pos. */
    static final class Scratch {
        int[] next = new int[256];
        int[] prev = new int[256];
        int[] sym = new int[256];
        long[] heap = new long[256];
        int heapSize;

        void ensure(int n) {
            if (next.length < n) {
                int cap = Math.max(n, next.length * 2);
                next = new int[cap];
                prev = new int[cap];
                sym = new int[cap];
            }
        }

        void push(long v) {
            if (heapSize == heap.length) {
                heap = Arrays.copyOf(heap, heap.length * 2);
            }
            int i = heapSize++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--heapSize];
            int i = 0;
            int half = heapSize >>> 1;
            while (i < half) {
                int child = 2 * i + 1;
                if (child + 1 < heapSize && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (last <= heap[child]) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            if (heapSize > 0) {
                heap[i] = last;
            }
            return top;
        }
    }
}
