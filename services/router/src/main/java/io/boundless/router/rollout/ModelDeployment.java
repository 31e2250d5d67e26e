package io.boundless.router.rollout;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * The {@code ModelDeployment} resource ({@code boundless.io/v1alpha1}): the served model, its versions, the node
 * pools that run them, how they scale and how a new version rolls out. Plain Jackson types, so that the same file
 * is read by {@code boundless up} and, as a Kubernetes custom resource, by Fabric8. Optional fields are null here;
 * {@link ModelDeployments} checks a whole resource and supplies the defaults.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ModelDeployment(String apiVersion, String kind, Metadata metadata, Spec spec) {
    public static final String API_VERSION = "boundless.io/v1alpha1";
    public static final String KIND = "ModelDeployment";

    public record Metadata(String name, Map<String, String> labels) {}

    /**
     * @param model    the name clients send (ListModels, /v1/models)
     * @param versions the versions that may serve; the rollout decides their weights
     * @param pools    where replicas run
     */
    public record Spec(String model, List<Version> versions, List<Pool> pools, Autoscaling autoscaling, Rollout rollout) {}

    /** A version: its name and its source in the model store ({@code llama-3.2-1b/2024-09}). */
    public record Version(String name, String source) {}

    /**
     * A node pool. {@code capacity} is one replica's throughput relative to the others' (a GH200 replica 2.0 beside
     * an H100's 1.0): load is normalized by it, and the router weighs replicas by it. {@code resources},
     * {@code nodeSelector} and {@code tolerations} are for Kubernetes and ignored locally.
     */
    public record Pool(String name, String accelerator, Double capacity, Integer minReplicas, Integer maxReplicas, Map<String, String> resources,
            Map<String, String> nodeSelector, List<Map<String, Object>> tolerations) {}

    /** Per-replica targets and HPA's behavior, as HPA spells them. */
    public record Autoscaling(Targets targets, Double tolerance, Behaviors behavior) {}

    public record Targets(Double utilization, Double queueDepthPerReplica, Double kvUsage) {}

    public record Behaviors(Behavior scaleUp, Behavior scaleDown) {}

    public record Behavior(Integer stabilizationWindowSeconds, String selectPolicy, List<Policy> policies) {}

    /** {@code type} Pods or Percent. */
    public record Policy(String type, Integer value, Integer periodSeconds) {}

    /**
     * The canary strategy: steps, the analysis' thresholds, how long a canary may take to become ready, how many
     * inconclusive analyses in a row pause it, and what keeps a user on one version.
     */
    public record Rollout(List<Step> steps, Analysis analysis, Integer progressDeadlineSeconds, Integer inconclusiveLimit, Stickiness stickiness) {}

    /** Exactly one of: {@code setWeight: 20}, {@code pause: {duration: 60s}} (no duration: until resumed), {@code analysis: {window: 60s}}. */
    public record Step(Integer setWeight, Pause pause, AnalysisStep analysis) {}

    public record Pause(String duration) {}

    public record AnalysisStep(String window) {}

    public record Analysis(Double maxErrorRateIncrease, Double maxTtftRatio, Double maxItlRatio, Double slackMillis, Integer minRequests,
            Integer minSamplesPerBucket) {}

    /** The request header whose value keeps a session on its version, and whether the OpenAI {@code user} field does. */
    public record Stickiness(String header, Boolean user) {}
}
