package io.boundless.engine.sched;

/**
 * @param blockSize       tokens per KV block
 * @param kvBudgetBytes   memory for the KV cache; sets the number of blocks
 * @param maxBatchTokens  tokens computed per step (prefill chunks and decodes together)
 * @param maxRunning      sequences decoding at once
 * @param maxWaiting      sequences queued beyond that; more are refused at once
 * @param threads         CPU threads for the kernels
 */
public record EngineConfig(int blockSize, long kvBudgetBytes, int maxBatchTokens, int maxRunning, int maxWaiting, int threads) {
    public EngineConfig {
        if (blockSize < 1 || maxBatchTokens < 1 || maxRunning < 1 || maxWaiting < 0 || threads < 1 || kvBudgetBytes < 1) {
            throw new IllegalArgumentException("invalid engine config " + this);
        }
    }

    public static EngineConfig defaults(int threads) {
        return new EngineConfig(16, 512L << 20, 512, 64, 1024, threads);
    }
}
