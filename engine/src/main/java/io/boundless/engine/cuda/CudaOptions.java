package io.boundless.engine.cuda;

/**
 * @param device          CUDA device ordinal
 * @param memoryFraction  share of the device memory still free after weights and workspaces that becomes KV blocks
 * @param precision       weight and KV-cache types
 * @param graphs          replay decode steps as CUDA graphs (one per batch-size bucket)
 * @param syncEachLaunch  wait for every kernel (slow; makes an asynchronous fault name its kernel)
 */
public record CudaOptions(int device, double memoryFraction, Precision precision, boolean graphs, boolean syncEachLaunch) {
    public CudaOptions {
        if (device < 0 || !(memoryFraction > 0 && memoryFraction <= 0.98) || precision == null) {
            throw new IllegalArgumentException("invalid CUDA options " + this + " (device at least 0, memory fraction above 0 and at most 0.98)");
        }
    }

    public static CudaOptions defaults() {
        return new CudaOptions(0, 0.9, Precision.NATIVE, true, false);
    }
}
