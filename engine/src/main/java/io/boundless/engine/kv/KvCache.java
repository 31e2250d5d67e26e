package io.boundless.engine.kv;

import io.boundless.engine.model.ModelConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Key/value storage for every layer, in fixed-size blocks of {@code blockSize} token slots. A
 * sequence's block table maps its position p to slot {@code table[p / blockSize] * blockSize + p %
 * blockSize}; which blocks a sequence owns is the {@link BlockManager}'s business.
 *
 * <p>The cache lives off the Java heap (one native segment per layer for keys and one for values,
 * float32, slot-major): the garbage collector neither scans nor copies it, the heap stays small,
 * and pages become resident only as blocks are first written. The memory is freed when the cache
 * becomes unreachable.
 */
public final class KvCache {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN); // as the kernels read it

    public final int layers;
    public final int blockSize;
    public final int numBlocks;
    public final int kvDim;
    private final MemorySegment[] keys;   // [layer]: slot * kvDim + d
    private final MemorySegment[] values; // [layer]: slot * kvDim + d

    public KvCache(int layers, int kvDim, int blockSize, int numBlocks) {
        if ((long) numBlocks * blockSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(numBlocks + " blocks of " + blockSize + " slots exceed the slot index range");
        }
        this.layers = layers;
        this.blockSize = blockSize;
        this.numBlocks = numBlocks;
        this.kvDim = kvDim;
        Arena arena = Arena.ofAuto();
        long bytes = (long) numBlocks * blockSize * kvDim * Float.BYTES;
        this.keys = new MemorySegment[layers];
        this.values = new MemorySegment[layers];
        for (int l = 0; l < layers; l++) {
            keys[l] = calloc(bytes, arena);
            values[l] = calloc(bytes, arena);
        }
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle CALLOC = LINKER.downcallHandle(LINKER.defaultLookup().find("calloc").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle FREE = LINKER.downcallHandle(LINKER.defaultLookup().find("free").orElseThrow(),
            FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    /**
     * Zeroed native memory from the C library, freed with the arena. Not {@code Arena.allocate}: that
     * counts against the JVM's direct-memory limit (by default the heap's maximum, far below a KV
     * budget) and touches every page, where calloc's large blocks are fresh mappings that become
     * resident only as blocks are first used.
     */
    private static MemorySegment calloc(long bytes, Arena arena) {
        MemorySegment p;
        try {
            p = (MemorySegment) CALLOC.invokeExact(1L, Math.max(1L, bytes));
        } catch (Throwable t) {
            throw new IllegalStateException("calloc failed", t);
        }
        if (p.equals(MemorySegment.NULL)) {
            throw new OutOfMemoryError("cannot allocate " + bytes + " bytes of KV cache");
        }
        return p.reinterpret(bytes, arena, KvCache::free);
    }

    private static void free(MemorySegment p) {
        try {
            FREE.invokeExact(p);
        } catch (Throwable t) {
            throw new IllegalStateException("free failed", t);
        }
    }

    /** Bytes one block takes across all layers (keys and values, float32). */
    public static long bytesPerBlock(ModelConfig c, int blockSize) {
        return 2L * c.layers() * blockSize * c.kvDim() * Float.BYTES;
    }

    /** As many blocks as fit in budgetBytes. */
    public static KvCache forBudget(ModelConfig c, int blockSize, long budgetBytes) {
        long blocks = budgetBytes / bytesPerBlock(c, blockSize);
        if (blocks < 1) {
            throw new IllegalArgumentException("a KV budget of " + budgetBytes + " bytes holds no block of " + blockSize
                    + " tokens (" + bytesPerBlock(c, blockSize) + " bytes each)");
        }
        return new KvCache(c.layers(), c.kvDim(), blockSize, (int) Math.min(blocks, Integer.MAX_VALUE / blockSize));
    }

    /** Layer {@code layer}'s keys: float32, the key of slot s at byte offset s * kvDim * 4. */
    public MemorySegment keys(int layer) {
        return keys[layer];
    }

    /** Layer {@code layer}'s values, laid out as {@link #keys}. */
    public MemorySegment values(int layer) {
        return values[layer];
    }

    /** Stores a key and a value (kvDim floats each, from k[kOff] and v[vOff]) in a slot of a layer. */
    public void put(int layer, int slot, float[] k, int kOff, float[] v, int vOff) {
        long at = (long) slot * kvDim * Float.BYTES;
        MemorySegment.copy(k, kOff, keys[layer], F32, at, kvDim);
        MemorySegment.copy(v, vOff, values[layer], F32, at, kvDim);
    }

    /** The slot of position p for a block table. */
    public int slot(int[] blockTable, int p) {
        return blockTable[p / blockSize] * blockSize + p % blockSize;
    }

    /** Copies one block's contents to another (copy-on-write of a shared partial block). */
    public void copyBlock(int from, int to) {
        long n = (long) blockSize * kvDim * Float.BYTES;
        for (int l = 0; l < layers; l++) {
            MemorySegment.copy(keys[l], from * n, keys[l], to * n, n);
            MemorySegment.copy(values[l], from * n, values[l], to * n, n);
        }
    }
}
