package io.boundless.router.rollout;

import java.util.List;

/**
 * A ModelDeployment's status, as the Kubernetes resource's status subresource will carry it: conditions, per
 * version its weight and replicas per pool, the rollout, and the autoscaler per (version, pool); plus the recent
 * events (Kubernetes Events there).
 */
public record DeploymentStatus(String name, String model, long observedGeneration, List<Condition> conditions, List<VersionStatus> versions,
        RolloutStatus rollout, List<Scaling> scaling, List<Event> events) {

    /** {@code type} Ready, Progressing, Degraded or ScalingLimited; {@code status} "True", "False" or "Unknown". */
    public record Condition(String type, String status, String reason, String message, long lastTransitionTime, long observedGeneration) {}

    public record VersionStatus(String name, String source, int weight, List<PoolReplicas> pools) {}

    public record PoolReplicas(String pool, int ready, int desired, int draining) {}

    /** The rollout: phase (Healthy, Progressing, Paused, Degraded), stable and canary, the canary's weight, the step and the last analysis. */
    public record RolloutStatus(String phase, String stable, String canary, int canaryWeight, int step, int steps, String message, Analysis lastAnalysis) {}

    public record Analysis(String verdict, String reason, List<Check> checks) {}

    public record Check(String metric, double canary, double stable, String threshold, String verdict) {}

    /** The autoscaler's last decision for a (version, pool), and its last scale event. */
    public record Scaling(String version, String pool, int current, int desired, String metric, String reason, long lastScaleTime, String lastScaleReason) {}

    /** {@code type} Normal or Warning; reason a CamelCase word (ScaledUp, RolledBack, ...). */
    public record Event(long time, String type, String reason, String message) {}
}
