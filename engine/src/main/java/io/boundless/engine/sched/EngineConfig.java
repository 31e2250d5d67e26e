package io.boundless.engine.sched;

import io.boundless.engine.backend.BackendKind;
import io.boundless.engine.cuda.CudaOptions;

/**
 * @param blockSize          tokens per KV block
 * @param kvBudgetBytes      memory for the KV cache on the CPU backend; sets the number of blocks
 * @param maxBatchTokens     tokens computed per step (prefill chunks and decodes together)
 * @param maxRunning         sequences decoding at once
 * @param maxWaiting         sequences queued beyond that; more are refused at once
 * @param threads            CPU threads for the kernels
 * @param backend            where the forward pass runs: auto (CUDA when a device is there), cpu, cuda
 * @param cuda               the CUDA backend's options (device, memory fraction, precision, graphs)
 */
public record EngineConfig(int blockSize, long kvBudgetBytes, int maxBatchTokens, int maxRunning, int maxWaiting, int threads,
        BackendKind backend, CudaOptions cuda) {
    public EngineConfig {
        if (blockSize < 1 || maxBatchTokens < 1 || maxRunning < 1 || maxWaiting < 0 || threads < 1 || kvBudgetBytes < 1 || backend == null || cuda == null) {
            throw new IllegalArgumentException("invalid engine config " + this);
        }
    }

    /** A CPU engine. */
    public EngineConfig(int blockSize, long kvBudgetBytes, int maxBatchTokens, int maxRunning, int maxWaiting, int threads) {
        this(blockSize, kvBudgetBytes, maxBatchTokens, maxRunning, maxWaiting, threads, BackendKind.CPU, CudaOptions.defaults());
    }

    public static EngineConfig defaults(int threads) {
        return new EngineConfig(16, 512L << 20, 512, 64, 1024, threads);
    }

    public EngineConfig withBackend(BackendKind kind) {
        return new EngineConfig(blockSize, kvBudgetBytes, maxBatchTokens, maxRunning, maxWaiting, threads, kind, cuda);
    }
}
