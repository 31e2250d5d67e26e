package io.boundless.router.kubernetes;

import io.boundless.router.rollout.ModelDeployment;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The objects the operator owns for one (version, pool): an inference Deployment and a headless Service, whose
 * EndpointSlices the routers discover. Plain functions of the resource and the settings, so tests assert them directly.
 */
public final class Workloads {
    private Workloads() {}

    /** {@code <deployment>-<version>-<pool>}, cut to 63 characters with a hash where longer. */
    public static String name(String deployment, String version, String pool) {
        String n = deployment + "-" + version + "-" + pool;
        if (n.length() <= 63) {
            return n;
        }
        try {
            String h = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(n.getBytes(StandardCharsets.UTF_8))).substring(0, 8);
            return n.substring(0, 54).replaceAll("-+$", "") + "-" + h;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The labels of every object of a (version, pool); the selector is the same without the model's and capacity's. */
    public static Map<String, String> labels(ModelDeploymentResource md, String version, ModelDeployment.Pool pool, double capacity) {
        Map<String, String> l = selector(md.getMetadata().getName(), version, pool.name());
        l.put(KubernetesSettings.MODEL, labelValue(md.getSpec().model()));
        l.put(KubernetesSettings.CAPACITY, Double.toString(capacity));
        l.put("app.kubernetes.io/name", "boundless-inference");
        l.put(KubernetesSettings.COMPONENT, "inference");
        l.put(KubernetesSettings.MANAGED_BY, KubernetesSettings.FIELD_MANAGER);
        return l;
    }

    public static Map<String, String> selector(String deployment, String version, String pool) {
        Map<String, String> l = new LinkedHashMap<>();
        l.put(KubernetesSettings.DEPLOYMENT, deployment);
        l.put(KubernetesSettings.VERSION, version);
        l.put(KubernetesSettings.POOL, pool);
        return l;
    }

    /** A model name as a label value (at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric). */
    static String labelValue(String s) {
        String v = s.replaceAll("[^A-Za-z0-9._-]", "_");
        v = v.length() > 63 ? v.substring(0, 63) : v;
        return v.replaceAll("^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "");
    }

    static OwnerReference owner(ModelDeploymentResource md) {
        return new OwnerReferenceBuilder().withApiVersion(md.getApiVersion()).withKind(md.getKind()).withName(md.getMetadata().getName())
                .withUid(md.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(true).build();
    }

    /**
     * The inference Deployment of a (version, pool). Its replica count is left out (the scale subresource sets it),
     * except {@code replicas} on creation. GPU pools roll a changed template one Pod at a time without a surge (no
     * spare GPUs to surge onto); CPU pools surge one first.
     */
    public static Deployment deployment(ModelDeploymentResource md, ModelDeployment.Version version, ModelDeployment.Pool pool, double capacity,
            KubernetesSettings s, Integer replicas) {
        String name = name(md.getMetadata().getName(), version.name(), pool.name());
        Map<String, String> labels = labels(md, version.name(), pool, capacity);
        Map<String, String> podLabels = new LinkedHashMap<>(labels);
        podLabels.putAll(s.podLabels());
        ModelDeployment.Accelerator acc = pool.acceleratorOrCpu();
        Map<String, Quantity> res = new LinkedHashMap<>();
        if (pool.resources() != null) {
            pool.resources().forEach((k, v) -> res.put(k, new Quantity(v)));
        }
        if (acc.resource() != null) {
            res.putIfAbsent(acc.resource(), new Quantity(Integer.toString(pool.accelerators() == null ? 1 : pool.accelerators())));
        }
        long grace = s.drainGrace().toSeconds() + 15;  // the drain's own limit, then SIGTERM and the service's quick stop
        boolean gpu = acc != ModelDeployment.Accelerator.CPU;
        List<EnvVar> env = new java.util.ArrayList<>(List.of(
                new EnvVar("BOUNDLESS_INFERENCE_MODEL", "/models/" + version.source(), null),
                new EnvVar("BOUNDLESS_INFERENCE_MODEL_NAME", md.getSpec().model(), null),
                new EnvVar("BOUNDLESS_INFERENCE_BACKEND", acc.backend(), null),
                new EnvVar("QUARKUS_GRPC_SERVER_HOST", "0.0.0.0", null),
                new EnvVar("QUARKUS_GRPC_SERVER_PORT", Integer.toString(s.grpcPort()), null),
                new EnvVar("QUARKUS_HTTP_HOST", "0.0.0.0", null),
                new EnvVar("QUARKUS_HTTP_PORT", Integer.toString(s.httpPort()), null),
                // the preStop hook's GET /drain: not ready, new requests refused, answered once the running ones finished
                new EnvVar("BOUNDLESS_INFERENCE_DRAIN_TOKEN", drainToken(md, version.name(), pool.name()), null),
                new EnvVar("BOUNDLESS_INFERENCE_DRAIN_TIMEOUT", s.drainGrace().toSeconds() + "s", null)));
        s.podEnv().forEach((k, v) -> env.add(new EnvVar(k, v, null)));
        if (s.tlsSecret() != null) {
            // mutual TLS from the Secret's files, read again as the kubelet updates them (cert-manager's renewals)
            env.add(new EnvVar("BOUNDLESS_TLS_CERT", KubernetesSettings.TLS_MOUNT + "/tls.crt", null));
            env.add(new EnvVar("BOUNDLESS_TLS_KEY", KubernetesSettings.TLS_MOUNT + "/tls.key", null));
            env.add(new EnvVar("BOUNDLESS_TLS_CA", KubernetesSettings.TLS_MOUNT + "/ca.crt", null));
        } else {
            env.add(new EnvVar("BOUNDLESS_TLS_PLAINTEXT", "true", null));
        }
        var container = new ContainerBuilder()
                .withName("inference")
                .withImage(pool.image() != null ? pool.image() : s.image(acc.name().toLowerCase(Locale.ROOT)))
                .withEnv(env)
                .withPorts(new ContainerPortBuilder().withName("grpc").withContainerPort(s.grpcPort()).build(),
                        new ContainerPortBuilder().withName("http").withContainerPort(s.httpPort()).build())
                .withNewResources().withRequests(res).withLimits(res).endResources()
                // started once the model is loaded and warmed up (up to 20 minutes for a large model on a cold volume)
                .withStartupProbe(probe("/q/health/ready", s.httpPort(), 5, 240))
                .withReadinessProbe(probe("/q/health/ready", s.httpPort(), 5, 2))
                .withLivenessProbe(probe("/q/health/live", s.httpPort(), 10, 3))
                // SIGTERM stops the service at once (Quarkus does not wait for gRPC streams): the drain comes first
                .withNewLifecycle().withNewPreStop().withNewHttpGet().withPath("/drain").withPort(new IntOrString(s.httpPort()))
                .addNewHttpHeader().withName("X-Boundless-Drain-Token").withValue(drainToken(md, version.name(), pool.name())).endHttpHeader()
                .endHttpGet().endPreStop().endLifecycle()
                .withNewSecurityContext().withAllowPrivilegeEscalation(false).withReadOnlyRootFilesystem(true).withRunAsNonRoot(true)
                .withNewCapabilities().withDrop("ALL").endCapabilities().endSecurityContext()
                .addNewVolumeMount().withName("models").withMountPath("/models").withReadOnly(true).endVolumeMount()
                .addNewVolumeMount().withName("tmp").withMountPath("/tmp").endVolumeMount()
                .build();
        if (s.tlsSecret() != null) {
            container.getVolumeMounts().add(new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName("tls")
                    .withMountPath(KubernetesSettings.TLS_MOUNT).withReadOnly(true).build());
        }
        return new DeploymentBuilder()
                .withNewMetadata().withName(name).withNamespace(md.getMetadata().getNamespace()).withLabels(labels)
                .withOwnerReferences(owner(md)).endMetadata()
                .withNewSpec()
                .withReplicas(replicas)
                .withNewSelector().withMatchLabels(selector(md.getMetadata().getName(), version.name(), pool.name())).endSelector()
                .withNewStrategy().withType("RollingUpdate").withNewRollingUpdate()
                .withMaxSurge(new IntOrString(gpu ? 0 : 1)).withMaxUnavailable(new IntOrString(gpu ? 1 : 0)).endRollingUpdate().endStrategy()
                .withNewTemplate()
                .withNewMetadata().withLabels(podLabels).endMetadata()
                .withNewSpec()
                .withAutomountServiceAccountToken(false)
                .withEnableServiceLinks(false)
                .withTerminationGracePeriodSeconds(grace)
                .withNodeSelector(pool.nodeSelector())
                .withTolerations(pool.tolerations())
                .withAffinity(pool.affinity())
                .withNewSecurityContext().withRunAsNonRoot(true).withRunAsUser(10001L).withRunAsGroup(10001L).withFsGroup(10001L)
                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile().endSecurityContext()
                .withContainers(container)
                .addNewVolume().withName("models").withNewPersistentVolumeClaim(s.modelStoreClaim(), true).endVolume()
                .addNewVolume().withName("tmp").withNewEmptyDir().withSizeLimit(new Quantity("1Gi")).endEmptyDir().endVolume()
                .addAllToVolumes(s.tlsSecret() == null ? List.of() : List.of(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName("tls")
                        .withNewSecret().withSecretName(s.tlsSecret()).withDefaultMode(0440).endSecret().build()))
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }

    /** The token of a (version, pool)'s drain endpoint: fixed for the resource, so that a reconcile does not change the template. */
    static String drainToken(ModelDeploymentResource md, String version, String pool) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((md.getMetadata().getUid() + "/" + version + "/" + pool + "/drain")
                    .getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Probe probe(String path, int port, int period, int failures) {
        return new ProbeBuilder().withNewHttpGet().withPath(path).withPort(new IntOrString(port)).endHttpGet()
                .withPeriodSeconds(period).withTimeoutSeconds(2).withFailureThreshold(failures).build();
    }

    /** A headless Service: its EndpointSlices (with ready, serving and terminating) are how the routers find the replicas. */
    public static Service service(ModelDeploymentResource md, String version, ModelDeployment.Pool pool, double capacity, KubernetesSettings s) {
        return new ServiceBuilder()
                .withNewMetadata().withName(name(md.getMetadata().getName(), version, pool.name())).withNamespace(md.getMetadata().getNamespace())
                .withLabels(labels(md, version, pool, capacity)).withOwnerReferences(owner(md)).endMetadata()
                .withNewSpec().withClusterIP("None").withSelector(selector(md.getMetadata().getName(), version, pool.name()))
                .withPublishNotReadyAddresses(false)
                .addNewPort().withName("grpc").withPort(s.grpcPort()).withTargetPort(new IntOrString("grpc")).endPort()
                .addNewPort().withName("http").withPort(s.httpPort()).withTargetPort(new IntOrString("http")).endPort()
                .endSpec().build();
    }

    /**
     * A PodDisruptionBudget per (version, pool): a node drain evicts its replicas one at a time (each eviction's streams
     * drain and resume elsewhere), never a whole pool at once.
     */
    public static io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget disruptionBudget(ModelDeploymentResource md, String version,
            ModelDeployment.Pool pool, double capacity) {
        return new io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudgetBuilder()
                .withNewMetadata().withName(name(md.getMetadata().getName(), version, pool.name())).withNamespace(md.getMetadata().getNamespace())
                .withLabels(labels(md, version, pool, capacity)).withOwnerReferences(owner(md)).endMetadata()
                .withNewSpec().withMaxUnavailable(new IntOrString(1))
                .withNewSelector().withMatchLabels(selector(md.getMetadata().getName(), version, pool.name())).endSelector().endSpec().build();
    }

    /**
     * A KEDA ScaledObject for a (version, pool), for clusters that scale with KEDA: on the queue per replica, as the
     * replicas' {@code vllm:num_requests_waiting} reports it.
     */
    public static io.fabric8.kubernetes.api.model.GenericKubernetesResource scaledObject(ModelDeploymentResource md, String version, ModelDeployment.Pool pool,
            double capacity, double queuePerReplica, KubernetesSettings s) {
        String name = name(md.getMetadata().getName(), version, pool.name());
        var o = new io.fabric8.kubernetes.api.model.GenericKubernetesResource();
        o.setApiVersion("keda.sh/v1alpha1");
        o.setKind("ScaledObject");
        o.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).withNamespace(md.getMetadata().getNamespace())
                .withLabels(labels(md, version, pool, capacity)).withOwnerReferences(owner(md)).build());
        int min = pool.minReplicas() == null ? 1 : pool.minReplicas();
        int max = pool.maxReplicas() == null ? Math.max(1, min) : pool.maxReplicas();
        String query = "sum(vllm:num_requests_waiting{namespace=\"" + md.getMetadata().getNamespace() + "\",pod=~\"" + name + "-.*\"})";
        o.setAdditionalProperty("spec", Map.of(
                "scaleTargetRef", Map.of("name", name),
                "minReplicaCount", min,
                "maxReplicaCount", max,
                "triggers", List.of(Map.of("type", "prometheus", "metadata", Map.of(
                        "serverAddress", s.prometheus() == null ? "" : s.prometheus(),
                        "query", query,
                        "threshold", Double.toString(queuePerReplica))))));
        return o;
    }
}
