package io.boundless.router.rollout;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.kubernetes.api.model.Affinity;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.List;
import java.util.Map;

/**
 * The {@code ModelDeployment} resource ({@code boundless.io/v1alpha1}): the served model, its versions, the node
 * pools that run them, how they scale and how a new version rolls out. Plain Jackson types, so that the same file
 * is read by {@code boundless up} and, as a Kubernetes custom resource, by Fabric8. Optional fields are null here;
 * {@link ModelDeployments} checks a whole resource and supplies the defaults. The Fabric8 annotations make the CRD's
 * structural schema ({@code io.boundless.router.kubernetes.ModelDeploymentResource}), so that the API server refuses what
 * {@link ModelDeployments#check} would.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ModelDeployment(String apiVersion, String kind, Metadata metadata, Spec spec) {
    public static final String API_VERSION = "boundless.io/v1alpha1";
    public static final String KIND = "ModelDeployment";

    /** A DNS label: lower-case letters, digits and '-', at most 63. */
    public static final String DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
    /** "500ms", "30s", "5m", "1h". */
    public static final String DURATION = "^[0-9]+(ms|s|m|h)$";

    public record Metadata(String name, Map<String, String> labels) {}

    /**
     * @param model    the name clients send (ListModels, /v1/models)
     * @param versions the versions that may serve; the rollout decides their weights
     * @param pools    where replicas run
     */
    public record Spec(
            @Required @JsonPropertyDescription("The model name clients send (ListModels, /v1/models).") String model,
            @Required @Size(min = 1) @JsonPropertyDescription("The versions that may serve; the last one listed is the rollout's target.") List<Version> versions,
            @Required @Size(min = 1) @JsonPropertyDescription("The node pools replicas run in.") List<Pool> pools,
            @JsonPropertyDescription("Per-replica targets and HPA's behavior; without it each pool keeps minReplicas.") Autoscaling autoscaling,
            @JsonPropertyDescription("How a new version rolls out: canary steps and their analysis.") Rollout rollout) {}

    /** A version: its name and its source in the model store ({@code llama-3.2-1b/2024-09}). */
    public record Version(
            @Required @Pattern(DNS_LABEL) @JsonPropertyDescription("The version's name, a DNS label.") String name,
            @Required @JsonPropertyDescription("Its model-store path, <model>/<version> (llama-3.2-1b/2024-09).") String source) {}

    /** What a pool's replicas run on; the inference backend follows from it (cpu, cuda, hip). */
    public enum Accelerator {
        @JsonProperty("cpu") CPU,
        @JsonProperty("nvidia") NVIDIA,
        @JsonProperty("amd") AMD;

        public String backend() {
            return switch (this) {
                case CPU -> "cpu";
                case NVIDIA -> "cuda";
                case AMD -> "hip";
            };
        }

        /** The extended resource a replica asks for, or null. */
        public String resource() {
            return switch (this) {
                case CPU -> null;
                case NVIDIA -> "nvidia.com/gpu";
                case AMD -> "amd.com/gpu";
            };
        }
    }

    /**
     * A node pool. {@code capacity} is one replica's throughput relative to the others' (a GH200 replica 2.0 beside
     * an H100's 1.0): load is normalized by it, and the router weighs replicas by it. {@code accelerators},
     * {@code resources}, {@code nodeSelector}, {@code tolerations}, {@code affinity} and {@code image} are for Kubernetes
     * and ignored locally.
     */
    public record Pool(
            @Required @Pattern(DNS_LABEL) @JsonPropertyDescription("The pool's name, a DNS label.") String name,
            @JsonPropertyDescription("cpu, nvidia or amd (default cpu): the inference backend and the extended resource asked for.") Accelerator accelerator,
            @Min(value = 0, inclusive = false) @JsonPropertyDescription("One replica's throughput relative to other pools' replicas (default 1).") Double capacity,
            @Min(0) @JsonPropertyDescription("The fewest replicas, also at zero traffic (default 1).") Integer minReplicas,
            @Min(1) @JsonPropertyDescription("The most replicas (default minReplicas).") Integer maxReplicas,
            @Min(1) @Max(16) @JsonPropertyDescription("Accelerators per replica (nvidia.com/gpu or amd.com/gpu; default 1 on a GPU pool).") Integer accelerators,
            @JsonPropertyDescription("Resource quantities per replica, set as both requests and limits (cpu, memory, ...).") Map<String, String> resources,
            @JsonPropertyDescription("Node labels a replica's node must carry.") Map<String, String> nodeSelector,
            @JsonPropertyDescription("Taints a replica tolerates.") List<Toleration> tolerations,
            @JsonPropertyDescription("Node and pod affinity of a replica.") Affinity affinity,
            @JsonPropertyDescription("The inference image for this pool (default: the operator's, per accelerator).") String image) {

        /** The local form (no Kubernetes fields). */
        public Pool(String name, Accelerator accelerator, Double capacity, Integer minReplicas, Integer maxReplicas) {
            this(name, accelerator, capacity, minReplicas, maxReplicas, null, null, null, null, null, null);
        }

        public Accelerator acceleratorOrCpu() {
            return accelerator == null ? Accelerator.CPU : accelerator;
        }
    }

    /** Per-replica targets and HPA's behavior, as HPA spells them. */
    public record Autoscaling(
            @JsonPropertyDescription("Per-replica targets; each one set is a metric the desired count is computed from.") Targets targets,
            @Min(0) @Max(value = 1, inclusive = false) @JsonPropertyDescription("A metric within this fraction of its target changes nothing (default 0.1).") Double tolerance,
            @JsonPropertyDescription("How fast replicas may be added and removed.") Behaviors behavior) {}

    public record Targets(
            @Min(value = 0, inclusive = false) @Max(1) @JsonPropertyDescription("The accelerator's busy fraction (NVML), 0 to 1.") Double utilization,
            @Min(value = 0, inclusive = false) @JsonPropertyDescription("Requests waiting per replica.") Double queueDepthPerReplica,
            @Min(value = 0, inclusive = false) @Max(1) @JsonPropertyDescription("The KV cache's used fraction, 0 to 1.") Double kvUsage) {}

    public record Behaviors(Behavior scaleUp, Behavior scaleDown) {}

    public record Behavior(
            @Min(0) @Max(3600) Integer stabilizationWindowSeconds,
            @JsonPropertyDescription("Max, Min or Disabled (default Max).") SelectPolicy selectPolicy,
            List<Policy> policies) {}

    public enum SelectPolicy { Max, Min, Disabled }

    /** {@code type} Pods or Percent. */
    public record Policy(
            @Required PolicyType type,
            @Required @Min(1) Integer value,
            @Required @Min(1) @Max(1800) Integer periodSeconds) {}

    public enum PolicyType { Pods, Percent }

    /**
     * The canary strategy: steps, the analysis' thresholds, how long a canary may take to become ready, how many
     * inconclusive analyses in a row pause it, and what keeps a user on one version.
     */
    public record Rollout(
            @JsonPropertyDescription("The canary steps (default: 10%, pause 30s, analysis 60s, 50%, analysis 60s).") List<Step> steps,
            Analysis analysis,
            @Min(1) @JsonPropertyDescription("How long a canary may take to become ready (default 600).") Integer progressDeadlineSeconds,
            @Min(1) @JsonPropertyDescription("Inconclusive analyses in a row that pause the rollout (default 3).") Integer inconclusiveLimit,
            Stickiness stickiness) {}

    /** Exactly one of: {@code setWeight: 20}, {@code pause: {duration: 60s}} (no duration: until resumed), {@code analysis: {window: 60s}}. */
    public record Step(
            @Min(0) @Max(100) @JsonPropertyDescription("The canary's share of the traffic, in percent.") Integer setWeight,
            @JsonPropertyDescription("Wait (no duration: until resumed).") Pause pause,
            @JsonPropertyDescription("Compare the canary with the stable version over a window.") AnalysisStep analysis) {}

    public record Pause(@Pattern(DURATION) String duration) {}

    public record AnalysisStep(@Pattern(DURATION) String window) {}

    public record Analysis(
            @Min(0) @Max(1) Double maxErrorRateIncrease,
            @Min(1) Double maxTtftRatio,
            @Min(1) Double maxItlRatio,
            @Min(0) Double slackMillis,
            @Min(1) Integer minRequests,
            @Min(1) Integer minSamplesPerBucket) {}

    /** The request header whose value keeps a session on its version, and whether the OpenAI {@code user} field does. */
    public record Stickiness(String header, Boolean user) {}
}
