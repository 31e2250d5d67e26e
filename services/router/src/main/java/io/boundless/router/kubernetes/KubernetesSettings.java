package io.boundless.router.kubernetes;

import java.time.Duration;
import java.util.Map;

/**
 * What the operator needs to know of the cluster, from the router's configuration (the Helm chart sets it).
 *
 * @param namespace       where the ModelDeployment and its workloads live
 * @param deployment      the ModelDeployment this router serves and, as leader, reconciles
 * @param images          the inference image per accelerator (cpu, nvidia, amd)
 * @param modelStoreClaim the PersistentVolumeClaim holding the model store, mounted read-only at /models
 * @param grpcPort        the inference gRPC port (9102)
 * @param httpPort        the inference HTTP port: health and metrics (8102)
 * @param drainGrace      how long a leaving replica's streams may take (its preStop drain waits that long at most)
 * @param keda            also a KEDA ScaledObject per (version, pool), which then owns the replica counts
 * @param prometheus      the Prometheus server KEDA's triggers query (with keda)
 * @param podLabels       extra labels on every inference Pod (the chart's NetworkPolicies select on them)
 * @param tlsSecret       the Secret (tls.crt, tls.key, ca.crt: a cert-manager Certificate's) every inference Pod serves
 *                        mutual TLS with; null: the replicas serve plaintext, as a router on plaintext talks to them
 * @param podEnv          more environment of every inference Pod: the router's own OpenTelemetry settings (QUARKUS_OTEL_*),
 *                        so that the replicas export their spans where the router does
 */
public record KubernetesSettings(String namespace, String deployment, Map<String, String> images, String modelStoreClaim, int grpcPort, int httpPort,
        Duration drainGrace, boolean keda, String prometheus, Map<String, String> podLabels, String tlsSecret, Map<String, String> podEnv) {
    /** Plaintext replicas: a router configured with {@code boundless.tls.plaintext=true}. */
    public KubernetesSettings(String namespace, String deployment, Map<String, String> images, String modelStoreClaim, int grpcPort, int httpPort,
            Duration drainGrace, boolean keda, String prometheus, Map<String, String> podLabels) {
        this(namespace, deployment, images, modelStoreClaim, grpcPort, httpPort, drainGrace, keda, prometheus, podLabels, null, Map.of());
    }

    /** Without extra Pod environment. */
    public KubernetesSettings(String namespace, String deployment, Map<String, String> images, String modelStoreClaim, int grpcPort, int httpPort,
            Duration drainGrace, boolean keda, String prometheus, Map<String, String> podLabels, String tlsSecret) {
        this(namespace, deployment, images, modelStoreClaim, grpcPort, httpPort, drainGrace, keda, prometheus, podLabels, tlsSecret, Map.of());
    }

    /** The router's environment that its replicas take too: OpenTelemetry's settings. */
    public static Map<String, String> inheritedEnv(Map<String, String> routerEnv) {
        Map<String, String> m = new java.util.TreeMap<>();
        routerEnv.forEach((k, v) -> {
            if (k.startsWith("QUARKUS_OTEL_") || k.startsWith("OTEL_")) {
                m.put(k, v);
            }
        });
        return m;
    }

    /** Where an inference Pod finds its certificate (the Secret's volume). */
    public static final String TLS_MOUNT = "/etc/boundless/tls";
    public static final String FIELD_MANAGER = "boundless-router";
    public static final String MODEL = "boundless.io/model";
    public static final String DEPLOYMENT = "boundless.io/deployment";
    public static final String VERSION = "boundless.io/version";
    public static final String POOL = "boundless.io/pool";
    public static final String CAPACITY = "boundless.io/capacity";
    public static final String COMPONENT = "app.kubernetes.io/component";
    public static final String MANAGED_BY = "app.kubernetes.io/managed-by";

    public String image(String accelerator) {
        String i = images.get(accelerator);
        if (i == null || i.isBlank()) {
            throw new IllegalArgumentException("no inference image for accelerator " + accelerator + " (boundless.router.kubernetes.images." + accelerator + ")");
        }
        return i;
    }
}
