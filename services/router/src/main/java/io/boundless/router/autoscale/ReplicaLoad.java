package io.boundless.router.autoscale;

/**
 * One replica's load as its GetLoad reports it.
 *
 * @param ready        serving (loaded and warmed up); a replica still starting reports no meaningful load
 * @param utilization  the accelerator's busy fraction (NVML where present, else the engine's), 0 to 1
 * @param queueDepth   requests waiting for a place in the batch
 * @param kvUsage      the used fraction of the KV cache, 0 to 1
 */
public record ReplicaLoad(boolean ready, double utilization, int queueDepth, double kvUsage) {
    public static ReplicaLoad starting() {
        return new ReplicaLoad(false, 0, 0, 0);
    }
}
