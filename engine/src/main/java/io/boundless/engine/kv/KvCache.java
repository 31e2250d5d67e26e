package io.boundless.engine.kv;

import io.boundless.engine.model.ModelConfig;

/**
 * Key/value storage for every layer, in fixed-size blocks of {@code blockSize} token slots. A
 * sequence's block table maps its position p to slot {@code table[p / blockSize] * blockSize + p %
 * blockSize}; which blocks a sequence owns is the {@link BlockManager}'s business.
 */
public final class KvCache {
    public final int layers;
    public final int blockSize;
    public final int numBlocks;
    public final int kvDim;
    final float[][] keys;   // [layer][slot * kvDim + d]
    final float[][] values; // [layer][slot * kvDim + d]

    public KvCache(int layers, int kvDim, int blockSize, int numBlocks) {
        if ((long) numBlocks * blockSize * kvDim > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(numBlocks + " blocks of " + blockSize + " × " + kvDim + " floats exceed one array per layer");
        }
        this.layers = layers;
        this.blockSize = blockSize;
        this.numBlocks = numBlocks;
        this.kvDim = kvDim;
        this.keys = new float[layers][numBlocks * blockSize * kvDim];
        this.values = new float[layers][numBlocks * blockSize * kvDim];
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
        return new KvCache(c.layers(), c.kvDim(), blockSize, (int) Math.min(blocks, Integer.MAX_VALUE / ((long) blockSize * c.kvDim()) - 1));
    }

    public float[] keys(int layer) {
        return keys[layer];
    }

    public float[] values(int layer) {
        return values[layer];
    }

    /** The slot of position p for a block table. */
    public int slot(int[] blockTable, int p) {
        return blockTable[p / blockSize] * blockSize + p % blockSize;
    }

    /** Copies one block's contents to another (copy-on-write of a shared partial block). */
    public void copyBlock(int from, int to) {
        int n = blockSize * kvDim;
        for (int l = 0; l < layers; l++) {
            System.arraycopy(keys[l], from * n, keys[l], to * n, n);
            System.arraycopy(values[l], from * n, values[l], to * n, n);
        }
    }
}
