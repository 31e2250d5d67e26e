package io.boundless.engine.cuda;

import io.boundless.engine.backend.RowNeed;
import io.boundless.engine.model.Transformer.Chunk;
import java.util.List;

/**
 * One step's inputs for the device, packed on the host into one int array that goes over in one
 * copy. The layout is fixed by the capacity, so that the device addresses of every part stay the
 * same from step to step (a captured CUDA graph reads them):
 * <pre>
 * rowU[2 cap] | ids[cap] | positions[cap] | slots[cap] | rowTable[cap] | logitRows[cap] | rowK[cap] | rowT[cap] |
 * rowMinP[cap] | rowMode[cap] | block tables ...
 * </pre>
 * Row r is the r-th token of the step; {@code rowTable[r]} is the offset of its sequence's block
 * table within the tables part; {@code logitRows} lists the rows whose logits are wanted, and for
 * each of those {@code rowK} the top candidates the sampler needs (0: none), {@code rowT} its
 * temperature (float bits), and for a draw on the device {@code rowMode} 1, {@code rowMinP} and
 * {@code rowU} (a double, first so that it is 8-byte aligned). Padding
 * rows (to reach a graph's batch size) have id 0, position 0, slot -1 (nothing is written) and read
 * the first table.
 */
final class StepPlan {
    static final int ROW_U = 0; // two parts: doubles
    static final int IDS = 2;
    static final int POSITIONS = 3;
    static final int SLOTS = 4;
    static final int ROW_TABLE = 5;
    static final int LOGIT_ROWS = 6;
    static final int ROW_K = 7;
    static final int ROW_T = 8;
    static final int ROW_MIN_P = 9;
    static final int ROW_MODE = 10;
    static final int TABLES = 11;

    final int capacity;
    /** Rows the kernels run over: the tokens, or the graph batch size when padded. */
    final int rows;
    /** Real tokens. */
    final int tokens;
    /** Wanted logits rows (padded like rows when the step is a padded decode). */
    final int logitRows;
    /** Ints of data to upload. */
    final int used;
    /** Every chunk is one token that wants its logits (a decode step: a CUDA graph can replay it). */
    final boolean decode;
    final int[] data;

    private StepPlan(int capacity, int rows, int tokens, int logitRows, int used, boolean decode, int[] data) {
        this.capacity = capacity;
        this.rows = rows;
        this.tokens = tokens;
        this.logitRows = logitRows;
        this.used = used;
        this.decode = decode;
        this.data = data;
    }

    /** Ints needed for a capacity of {@code cap} rows and {@code tableInts} block-table entries. */
    static int size(int cap, int tableInts) {
        return TABLES * cap + tableInts;
    }

    /** Whether the chunks form a decode step (one token each, each wanting its logits). */
    static boolean isDecode(List<Chunk> chunks) {
        for (Chunk c : chunks) {
            if (c.tokens().length != 1 || c.logitRows() != 1) {
                return false;
            }
        }
        return !chunks.isEmpty();
    }

    /**
     * Packs the chunks into {@code data} (of {@link #size} ints), with one need per wanted logits
     * row. {@code padTo} &gt; tokens pads a decode step to that many rows; 0 for no padding.
     */
    static StepPlan build(List<Chunk> chunks, RowNeed[] needs, int blockSize, int capacity, int[] data, int padTo) {
        int tokens = 0;
        int wanted = 0;
        for (Chunk c : chunks) {
            tokens += c.tokens().length;
            wanted += c.logitRows();
        }
        if (needs.length != wanted) {
            throw new IllegalArgumentException(needs.length + " row needs for " + wanted + " wanted logits rows");
        }
        boolean decode = isDecode(chunks);
        int rows = Math.max(tokens, padTo);
        if (padTo > tokens && !decode) {
            throw new IllegalArgumentException("only a decode step is padded");
        }
        if (rows > capacity) {
            throw new IllegalArgumentException("a step of " + rows + " rows exceeds the device buffers' " + capacity);
        }
        int tableAt = 0;
        int r = 0;
        int lr = 0;
        for (Chunk c : chunks) {
            int last = c.startPos() + c.tokens().length - 1;
            int entries = last / blockSize + 1;
            if (c.blockTable().length < entries) {
                throw new IllegalArgumentException("a block table of " + c.blockTable().length + " blocks does not cover position " + last);
            }
            if (TABLES * capacity + tableAt + entries > data.length) {
                throw new IllegalArgumentException("the step's block tables exceed the device buffer of " + (data.length - TABLES * capacity) + " entries");
            }
            System.arraycopy(c.blockTable(), 0, data, TABLES * capacity + tableAt, entries);
            for (int j = 0; j < c.tokens().length; j++, r++) {
                int p = c.startPos() + j;
                data[IDS * capacity + r] = c.tokens()[j];
                data[POSITIONS * capacity + r] = p;
                data[SLOTS * capacity + r] = c.blockTable()[p / blockSize] * blockSize + p % blockSize;
                data[ROW_TABLE * capacity + r] = tableAt;
                if (j >= c.logitsFrom() && j < c.logitsTo()) {
                    setNeed(data, capacity, lr, needs[lr]);
                    data[LOGIT_ROWS * capacity + lr++] = r;
                }
            }
            tableAt += entries;
        }
        for (; r < rows; r++) {
            data[IDS * capacity + r] = 0;
            data[POSITIONS * capacity + r] = 0;
            data[SLOTS * capacity + r] = -1;
            data[ROW_TABLE * capacity + r] = 0;
            setNeed(data, capacity, lr, RowNeed.ARGMAX);
            data[LOGIT_ROWS * capacity + lr++] = r;
        }
        return new StepPlan(capacity, rows, tokens, decode ? rows : wanted, TABLES * capacity + tableAt, decode, data);
    }

    private static void setNeed(int[] data, int capacity, int lr, RowNeed need) {
        boolean reduced = need.kind() == RowNeed.Kind.TOP_K || need.kind() == RowNeed.Kind.DRAW;
        boolean draw = need.kind() == RowNeed.Kind.DRAW;
        data[ROW_K * capacity + lr] = reduced ? need.k() : 0;
        data[ROW_T * capacity + lr] = Float.floatToRawIntBits(reduced ? need.temperature() : 0f);
        data[ROW_MIN_P * capacity + lr] = Float.floatToRawIntBits(draw ? need.minP() : 0f);
        data[ROW_MODE * capacity + lr] = draw ? 1 : 0;
        long u = Double.doubleToRawLongBits(draw ? need.u() : 0);
        data[ROW_U * capacity + 2 * lr] = (int) u;              // little-endian: low word first
        data[ROW_U * capacity + 2 * lr + 1] = (int) (u >>> 32);
    }

    int rowMode(int i) {
        return data[ROW_MODE * capacity + i];
    }

    double rowU(int i) {
        return Double.longBitsToDouble((data[ROW_U * capacity + 2 * i] & 0xffffffffL) | ((long) data[ROW_U * capacity + 2 * i + 1] << 32));
    }

    int id(int r) {
        return data[IDS * capacity + r];
    }

    int position(int r) {
        return data[POSITIONS * capacity + r];
    }

    int slot(int r) {
        return data[SLOTS * capacity + r];
    }

    int tableOffset(int r) {
        return data[ROW_TABLE * capacity + r];
    }

    int logitRow(int i) {
        return data[LOGIT_ROWS * capacity + i];
    }

    int rowK(int i) {
        return data[ROW_K * capacity + i];
    }

    float rowT(int i) {
        return Float.intBitsToFloat(data[ROW_T * capacity + i]);
    }

    int tableEntry(int i) {
        return data[TABLES * capacity + i];
    }

    /** The graph batch size for a decode step of n rows: the next power of two, or 0 when above max. */
    static int bucket(int n, int max) {
        int b = Integer.highestOneBit(Math.max(1, n));
        if (b < n) {
            b <<= 1;
        }
        return b <= max ? b : 0;
    }
}
