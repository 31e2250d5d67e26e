package io.boundless.router.kubernetes;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.boundless.router.rollout.ModelDeployment;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code ModelDeployment} custom resource ({@code boundless.io/v1alpha1}): the spec is {@link ModelDeployment.Spec},
 * the same type {@code boundless up} reads from a file; the status is written by the leader router. The CRD in
 * {@code helm/boundless/crds} is generated from this class at build time (Fabric8's crd-generator).
 */
@Group("boundless.io")
@Version("v1alpha1")
@Kind("ModelDeployment")
@Plural("modeldeployments")
@ShortNames("mdep")
@AdditionalPrinterColumn(name = "Model", jsonPath = ".spec.model", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Stable", jsonPath = ".status.stable", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Canary", jsonPath = ".status.canary", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Weight", jsonPath = ".status.canaryWeight", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.readyReplicas", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class ModelDeploymentResource extends CustomResource<ModelDeployment.Spec, ModelDeploymentResource.Status> implements Namespaced {

    /** The local form of this resource (what the controller applies). */
    public ModelDeployment toDeployment() {
        return new ModelDeployment(ModelDeployment.API_VERSION, ModelDeployment.KIND,
                new ModelDeployment.Metadata(getMetadata().getName(), getMetadata().getLabels()), getSpec());
    }

    /** The status subresource, as the leader router writes it. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Status {
        @JsonPropertyDescription("The metadata.generation this status describes.")
        public Long observedGeneration;
        @JsonPropertyDescription("Ready, Progressing, Degraded and ScalingLimited, with observedGeneration.")
        public List<Condition> conditions = new ArrayList<>();
        @JsonPropertyDescription("The rollout's phase: Healthy, Progressing, Paused or Degraded.")
        public String phase;
        @JsonPropertyDescription("The version that serves the traffic outside a rollout.")
        public String stable;
        @JsonPropertyDescription("The version being rolled out, while its rollout goes on or after it was rolled back.")
        public String canary;
        @JsonPropertyDescription("The canary's share of the traffic, in percent.")
        public Integer canaryWeight;
        @JsonPropertyDescription("The rollout step being run (0-based) and the number of steps.")
        public Integer step;
        public Integer steps;
        @JsonPropertyDescription("The rollout's last message.")
        public String message;
        @JsonPropertyDescription("Ready replicas of every version.")
        public Integer readyReplicas;
        @JsonPropertyDescription("The traffic split every router replica follows: weight per version, in percent.")
        public List<Traffic> traffic = new ArrayList<>();
        @JsonPropertyDescription("Per version: its source and replicas per pool.")
        public List<VersionStatus> versions = new ArrayList<>();
        @JsonPropertyDescription("The autoscaler's last decision per (version, pool).")
        public List<Scaling> scaling = new ArrayList<>();
        @JsonPropertyDescription("The last canary analysis: verdict, reason and each check.")
        public Analysis lastAnalysis;
    }

    public record Traffic(String version, Integer weight) {}

    public record VersionStatus(String name, String source, Integer weight, List<PoolReplicas> pools) {}

    public record PoolReplicas(String pool, Integer ready, Integer desired, Integer draining) {}

    public record Scaling(String version, String pool, Integer current, Integer desired, String metric, String reason) {}

    public record Analysis(String verdict, String reason, List<Check> checks) {}

    public record Check(String metric, Double canary, Double stable, String threshold, String verdict) {}
}
