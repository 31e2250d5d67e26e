package io.boundless.engine.backend;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.model.ModelWeights;
import io.boundless.engine.model.Transformer;
import io.boundless.engine.model.Transformer.Chunk;
import java.util.List;

/** The Vector API kernels over a KV cache in native memory; always returns whole logits rows. */
public final class CpuBackend implements Backend {
    private final Parallel parallel;
    private final Transformer transformer;
    private final KvCache cache;

    public CpuBackend(ModelWeights weights, int threads, int blockSize, long kvBudgetBytes) {
        this.parallel = new Parallel(threads);
        this.transformer = new Transformer(weights, parallel);
        this.cache = KvCache.forBudget(weights.config(), blockSize, kvBudgetBytes);
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean servesOverlays() {
        return true;
    }

    @Override
    public String device() {
        return "CPU, " + parallel.threads() + " threads";
    }

    @Override
    public int numBlocks() {
        return cache.numBlocks;
    }

    @Override
    public int blockSize() {
        return cache.blockSize;
    }

    @Override
    public StepOutput forward(List<Chunk> chunks, RowNeed[] needs) {
        float[] logits = transformer.forward(chunks, cache);
        return StepOutput.full(logits, needs.length, transformer.config().vocabSize());
    }

    @Override
    public void copyBlock(int from, int to) {
        cache.copyBlock(from, to);
    }

    @Override
    public void close() {
        parallel.close();
    }
}
