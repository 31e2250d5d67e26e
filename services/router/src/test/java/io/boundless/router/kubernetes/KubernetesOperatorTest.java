package io.boundless.router.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.boundless.router.control.Router;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.rollout.ModelDeployment;
import io.boundless.router.rollout.VersionSelector;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The operator against Fabric8's mock API server in CRUD mode: what it creates, patches, writes to status and deletes. */
@EnableKubernetesMockClient(crud = true)
class KubernetesOperatorTest {
    static KubernetesClient client;
    static KubernetesMockServer server;
    static final String NS = "boundless";

    final List<ModelDeploymentOperator> operators = new CopyOnWriteArrayList<>();
    final List<ReplicaPool> pools = new CopyOnWriteArrayList<>();

    /** Records what the operator tells the request path. */
    static final class Routes implements Router {
        volatile VersionSelector selector;
        volatile String stable;

        @Override
        public void route(VersionSelector s, String st) {
            selector = s;
            stable = st;
        }

        @Override
        public void stickiness(String header, boolean user) {}
    }

    static KubernetesSettings settings() {
        return new KubernetesSettings(NS, "chat", Map.of("cpu", "boundless/inference:test", "nvidia", "boundless/inference-cuda:test", "amd",
                "boundless/inference-rocm:test"), "boundless-models", 9102, 8102, Duration.ofSeconds(60), false, null,
                Map.of("app.kubernetes.io/part-of", "boundless"));
    }

    @BeforeEach
    void crd() throws IOException {
        allowLeaderElection(server);
        try (var in = new FileInputStream(Path.of("target/classes/META-INF/fabric8/modeldeployments.boundless.io-v1.yml").toFile())) {
            CustomResourceDefinition crd = client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
            client.apiextensions().v1().customResourceDefinitions().resource(crd).createOr(x -> x.update());
        }
    }

    @AfterEach
    void close() {
        operators.forEach(ModelDeploymentOperator::close);
        pools.forEach(ReplicaPool::close);
        client.resources(ModelDeploymentResource.class).inNamespace(NS).delete();
        client.apps().deployments().inNamespace(NS).delete();
        client.services().inNamespace(NS).delete();
        client.policy().v1().podDisruptionBudget().inNamespace(NS).delete();
        client.pods().inNamespace(NS).delete();
        client.leases().inNamespace(NS).delete();
        client.v1().events().inNamespace(NS).delete();
    }

    /** JOSDK checks that it may use Leases before it elects; the mock server answers as an API server whose RBAC allows it. */
    static void allowLeaderElection(KubernetesMockServer server) {
        server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews").andReturn(201,
                new io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder().withNewMetadata().endMetadata()
                        .withNewStatus().withIncomplete(false).addNewResourceRule().withApiGroups("coordination.k8s.io").withResources("leases")
                        .withVerbs("*").endResourceRule().endStatus().build()).always();
    }

    ModelDeploymentOperator operator(String identity, Routes routes) {
        ReplicaPool pool = new ReplicaPool(List.of(), Duration.ofMillis(100), Duration.ofMillis(300), Duration.ofSeconds(1), 2);
        pool.start();
        pools.add(pool);
        var op = new ModelDeploymentOperator(client, settings(), pool, routes, "llama", new ModelDeploymentOperator.LeaseTiming("boundless-router-chat",
                identity, Duration.ofSeconds(2), Duration.ofMillis(1500), Duration.ofMillis(250)), Duration.ofMillis(200), System::currentTimeMillis);
        operators.add(op);
        return op.start();
    }

    static ModelDeploymentResource resource(List<ModelDeployment.Version> versions, int gh200Min, List<ModelDeployment.Step> steps) {
        var md = new ModelDeploymentResource();
        md.setMetadata(new ObjectMetaBuilder().withName("chat").withNamespace(NS).build());
        var gh200 = new ModelDeployment.Pool("gh200", ModelDeployment.Accelerator.NVIDIA, 2.0, gh200Min, 8, 1, Map.of("memory", "64Gi"),
                Map.of("boundless.io/pool", "gh200", "kubernetes.io/arch", "arm64"),
                List.of(new TolerationBuilder().withKey("nvidia.com/gpu").withOperator("Exists").withEffect("NoSchedule").build()), null, null);
        var mi300 = new ModelDeployment.Pool("mi300", ModelDeployment.Accelerator.AMD, 1.5, 1, 4, 2, null, Map.of("boundless.io/pool", "mi300"), null, null, null);
        md.setSpec(new ModelDeployment.Spec("llama", versions, List.of(gh200, mi300), null,
                new ModelDeployment.Rollout(steps, null, 600, null, null)));
        return md;
    }

    static Deployment deployment(String name) {
        return client.apps().deployments().inNamespace(NS).withName(name).get();
    }

    static ModelDeploymentResource.Status status() {
        var md = client.resources(ModelDeploymentResource.class).inNamespace(NS).withName("chat").get();
        return md == null ? null : md.getStatus();
    }

    static io.fabric8.kubernetes.api.model.Condition condition(String type) {
        var s = status();
        return s == null ? null : s.conditions.stream().filter(c -> c.getType().equals(type)).findFirst().orElse(null);
    }

    @Test
    void reconcilesADeploymentAndServicePerVersionAndPoolThenScalesPatchesAndDrainsBeforeDeleting() {
        var v1 = new ModelDeployment.Version("v1", "llama/2024-09");
        var created = client.resources(ModelDeploymentResource.class).inNamespace(NS).resource(resource(List.of(v1), 2, null)).create();
        Routes routes = new Routes();
        operator("router-0", routes);

        await().atMost(Duration.ofSeconds(20)).until(() -> deployment("chat-v1-gh200") != null && deployment("chat-v1-mi300") != null);
        Deployment gh = deployment("chat-v1-gh200");
        assertThat(gh.getMetadata().getLabels()).containsEntry("boundless.io/model", "llama").containsEntry("boundless.io/version", "v1")
                .containsEntry("boundless.io/pool", "gh200");
        assertThat(gh.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
            assertThat(o.getKind()).isEqualTo("ModelDeployment");
            assertThat(o.getUid()).isEqualTo(created.getMetadata().getUid());
            assertThat(o.getController()).isTrue();
        });
        assertThat(gh.getSpec().getReplicas()).isEqualTo(2);
        var pod = gh.getSpec().getTemplate().getSpec();
        var c = pod.getContainers().getFirst();
        assertThat(c.getImage()).isEqualTo("boundless/inference-cuda:test");
        assertThat(c.getResources().getLimits()).containsEntry("nvidia.com/gpu", new Quantity("1")).containsEntry("memory", new Quantity("64Gi"));
        assertThat(c.getResources().getRequests()).isEqualTo(c.getResources().getLimits());
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue()).isEqualTo("BOUNDLESS_INFERENCE_BACKEND=cuda"))
                .anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue()).isEqualTo("BOUNDLESS_INFERENCE_MODEL=/models/llama/2024-09"));
        assertThat(pod.getNodeSelector()).containsEntry("kubernetes.io/arch", "arm64");
        assertThat(pod.getTolerations()).singleElement().satisfies(t -> assertThat(t.getKey()).isEqualTo("nvidia.com/gpu"));
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(c.getStartupProbe().getFailureThreshold()).isGreaterThanOrEqualTo(100);
        assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        var drain = c.getLifecycle().getPreStop().getHttpGet();
        assertThat(drain.getPath()).isEqualTo("/drain");
        assertThat(drain.getPort().getIntVal()).isEqualTo(8102);
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue())
                .isEqualTo("BOUNDLESS_INFERENCE_DRAIN_TOKEN=" + drain.getHttpHeaders().getFirst().getValue()));
        assertThat(drain.getHttpHeaders().getFirst().getValue()).hasSize(32);
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue()).isEqualTo("BOUNDLESS_INFERENCE_DRAIN_TIMEOUT=60s"));
        // these settings name no certificate Secret (a router on plaintext): the replicas are told plaintext explicitly
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue()).isEqualTo("BOUNDLESS_TLS_PLAINTEXT=true"));
        assertThat(c.getVolumeMounts()).noneMatch(m -> m.getName().equals("tls"));
        assertThat(KubernetesSettings.inheritedEnv(Map.of("QUARKUS_OTEL_SDK_DISABLED", "false", "OTEL_SERVICE_NAME", "x", "HOME", "/root")))
                .as("the replicas take the router's OpenTelemetry settings, nothing else").containsOnlyKeys("QUARKUS_OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME");
        assertThat(pod.getTerminationGracePeriodSeconds()).as("longer than the drain may take").isGreaterThan(60);
        assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(gh.getSpec().getStrategy().getRollingUpdate().getMaxSurge().getIntVal()).as("no spare GPUs to surge onto").isZero();
        var mi = deployment("chat-v1-mi300").getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(mi.getResources().getLimits()).containsEntry("amd.com/gpu", new Quantity("2"));
        assertThat(mi.getImage()).isEqualTo("boundless/inference-rocm:test");
        var svc = client.services().inNamespace(NS).withName("chat-v1-gh200").get();
        assertThat(svc.getSpec().getClusterIP()).isEqualTo("None");
        assertThat(svc.getMetadata().getLabels()).containsEntry("boundless.io/capacity", "2.0");
        var pdb = client.policy().v1().podDisruptionBudget().inNamespace(NS).withName("chat-v1-gh200").get();
        assertThat(pdb.getSpec().getMaxUnavailable().getIntVal()).isEqualTo(1);
        assertThat(pdb.getSpec().getSelector().getMatchLabels()).isEqualTo(gh.getSpec().getSelector().getMatchLabels());

        // status: conditions with observedGeneration, the stable version, the traffic split
        await().atMost(Duration.ofSeconds(10)).until(() -> status() != null && "v1".equals(status().stable));
        assertThat(condition("Ready")).isNotNull();
        assertThat(condition("Ready").getObservedGeneration()).isEqualTo(created.getMetadata().getGeneration());
        assertThat(status().traffic).containsExactly(new ModelDeploymentResource.Traffic("v1", 100));
        assertThat(routes.stable).isEqualTo("v1");

        // reconciles are idempotent: with nothing changed, ten ticks write nothing
        String deploymentVersion = deployment("chat-v1-gh200").getMetadata().getResourceVersion();
        String serviceVersion = client.services().inNamespace(NS).withName("chat-v1-gh200").get().getMetadata().getResourceVersion();
        String statusVersion = client.resources(ModelDeploymentResource.class).inNamespace(NS).withName("chat").get().getMetadata().getResourceVersion();
        // the status, too, is written only when it changed
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() ->
                deployment("chat-v1-gh200").getMetadata().getResourceVersion().equals(deploymentVersion)
                && client.services().inNamespace(NS).withName("chat-v1-gh200").get().getMetadata().getResourceVersion().equals(serviceVersion)
                && client.resources(ModelDeploymentResource.class).inNamespace(NS).withName("chat").get().getMetadata().getResourceVersion().equals(statusVersion));

        // a replica change goes through the scale subresource
        edit(md -> md.setSpec(resource(List.of(v1), 3, null).getSpec()));
        await().atMost(Duration.ofSeconds(10)).until(() -> deployment("chat-v1-gh200").getSpec().getReplicas() == 3);

        // a pool whose Pods cannot be scheduled stops growing and says why
        client.pods().inNamespace(NS).resource(new PodBuilder().withNewMetadata().withName("chat-v1-gh200-abc").withNamespace(NS)
                .withLabels(Workloads.selector("chat", "v1", "gh200")).endMetadata().withNewStatus().withPhase("Pending")
                .addNewCondition().withType("PodScheduled").withStatus("False").withReason("Unschedulable")
                .withMessage("0/4 nodes are available: 4 Insufficient nvidia.com/gpu.").endCondition().endStatus().build()).create();
        edit(md -> md.setSpec(resource(List.of(v1), 5, null).getSpec()));
        await().atMost(Duration.ofSeconds(10)).until(() -> condition("ScalingLimited") != null && condition("ScalingLimited").getStatus().equals("True"));
        assertThat(condition("ScalingLimited").getReason()).isEqualTo("Unschedulable");
        assertThat(condition("ScalingLimited").getMessage()).contains("Insufficient nvidia.com/gpu");
        assertThat(deployment("chat-v1-gh200").getSpec().getReplicas()).as("no replica added while Pods are Pending").isEqualTo(3);

        // Kubernetes Events on the resource
        await().atMost(Duration.ofSeconds(5)).until(() -> client.v1().events().inNamespace(NS).list().getItems().stream()
                .anyMatch(e -> e.getReason().equals("ScaledUp") && e.getInvolvedObject().getName().equals("chat")));

        // a spec the router cannot apply is refused in the status; the one before keeps running
        edit(md -> md.setSpec(new ModelDeployment.Spec("another-model", md.getSpec().versions(), md.getSpec().pools(), null, null)));
        await().atMost(Duration.ofSeconds(10)).until(() -> condition("SpecValid") != null);
        assertThat(condition("SpecValid").getStatus()).isEqualTo("False");
        assertThat(condition("SpecValid").getReason()).isEqualTo("InvalidSpec");
        assertThat(condition("SpecValid").getMessage()).contains("this router serves llama");
        assertThat(deployment("chat-v1-gh200").getSpec().getReplicas()).isEqualTo(3);
    }

    @Test
    void aRemovedVersionIsDrainedThenItsObjectsDeleted() {
        var v1 = new ModelDeployment.Version("v1", "llama/2024-09");
        var v2 = new ModelDeployment.Version("v2", "llama/2024-12");
        client.resources(ModelDeploymentResource.class).inNamespace(NS).resource(resource(List.of(v1, v2), 1, null)).create();
        operator("router-0", new Routes());
        // v2 is the target: its canary Deployments are made while v1 serves
        await().atMost(Duration.ofSeconds(20)).until(() -> deployment("chat-v2-gh200") != null && deployment("chat-v1-gh200") != null);
        await().atMost(Duration.ofSeconds(10)).until(() -> status() != null && "Progressing".equals(status().phase) && "v2".equals(status().canary));
        // one of v2's Pods runs (the ReplicaSet's, which the mock has no controller for)
        client.pods().inNamespace(NS).resource(new PodBuilder().withNewMetadata().withName("chat-v2-gh200-x1").withNamespace(NS)
                .withLabels(Workloads.selector("chat", "v2", "gh200")).endMetadata().withNewStatus().withPhase("Running").endStatus().build()).create();
        // an SRE abandons v2: it leaves the spec; its Deployment goes to zero first, and stays while its Pod drains
        edit(md -> md.setSpec(resource(List.of(v1), 1, null).getSpec()));
        await().atMost(Duration.ofSeconds(10)).until(() -> deployment("chat-v2-gh200").getSpec().getReplicas() == 0);
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() -> deployment("chat-v2-gh200") != null);
        assertThat(client.pods().inNamespace(NS).withName("chat-v2-gh200-x1").get().getMetadata().getAnnotations())
                .containsEntry(KubernetesFleet.DELETION_COST, "-1000");
        assertThat(deployment("chat-v2-mi300")).as("no Pods: deleted at once").satisfiesAnyOf(d -> assertThat(d).isNull(),
                d -> assertThat(d.getSpec().getReplicas()).isZero());
        client.pods().inNamespace(NS).withName("chat-v2-gh200-x1").delete();  // its streams finished; the ReplicaSet removes it
        await().atMost(Duration.ofSeconds(10)).until(() -> deployment("chat-v2-gh200") == null && client.services().inNamespace(NS).withName("chat-v2-gh200").get() == null
                && client.policy().v1().podDisruptionBudget().inNamespace(NS).withName("chat-v2-gh200").get() == null);
        assertThat(deployment("chat-v1-gh200")).isNotNull();
    }

    @Test
    void oneLeaderAtATimeAndTheOtherTakesOverWhenItStops() {
        var v1 = new ModelDeployment.Version("v1", "llama/2024-09");
        client.resources(ModelDeploymentResource.class).inNamespace(NS).resource(resource(List.of(v1), 2, null)).create();
        Routes ra = new Routes();
        Routes rb = new Routes();
        var a = operator("router-a", ra);
        var b = operator("router-b", rb);
        await().atMost(Duration.ofSeconds(20)).until(() -> a.leading() || b.leading());
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(50))
                .until(() -> !(a.leading() && b.leading()));  // never two leaders
        var leader = a.leading() ? a : b;
        var other = leader == a ? b : a;
        assertThat(other.controller()).as("a follower runs no controller").isNull();
        await().atMost(Duration.ofSeconds(10)).until(() -> deployment("chat-v1-gh200") != null && status() != null && "v1".equals(status().stable));
        // the follower routes by the leader's status
        Routes followerRoutes = other == a ? ra : rb;
        await().atMost(Duration.ofSeconds(10)).until(() -> "v1".equals(followerRoutes.stable));

        leader.close();
        operators.remove(leader);
        await().atMost(Duration.ofSeconds(15)).until(other::leading);
        // the new leader reconciles: a replica change is carried out once
        edit(md -> md.setSpec(resource(List.of(v1), 4, null).getSpec()));
        await().atMost(Duration.ofSeconds(10)).until(() -> deployment("chat-v1-gh200").getSpec().getReplicas() == 4);
        assertThat(client.apps().deployments().inNamespace(NS).list().getItems()).extracting(d -> d.getMetadata().getName())
                .containsExactlyInAnyOrder("chat-v1-gh200", "chat-v1-mi300");
    }

    @Test
    void withKedaEachVersionAndPoolGetsAScaledObjectThatOwnsItsReplicaCount() {
        client.apiextensions().v1().customResourceDefinitions().resource(new io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder()
                .withNewMetadata().withName("scaledobjects.keda.sh").endMetadata().withNewSpec().withGroup("keda.sh").withScope("Namespaced")
                .withNewNames().withKind("ScaledObject").withPlural("scaledobjects").withSingular("scaledobject").endNames()
                .addNewVersion().withName("v1alpha1").withServed(true).withStorage(true).endVersion().endSpec().build()).createOr(x -> x.update());
        var v1 = new ModelDeployment.Version("v1", "llama/2024-09");
        var md = resource(List.of(v1), 2, null);
        md.setSpec(new ModelDeployment.Spec("llama", md.getSpec().versions(), md.getSpec().pools(), new ModelDeployment.Autoscaling(
                new ModelDeployment.Targets(null, 3.0, null), null, null), md.getSpec().rollout()));
        client.resources(ModelDeploymentResource.class).inNamespace(NS).resource(md).create();
        var s = settings();
        var keda = new KubernetesSettings(s.namespace(), s.deployment(), s.images(), s.modelStoreClaim(), s.grpcPort(), s.httpPort(), s.drainGrace(),
                true, "http://prometheus.monitoring:9090", s.podLabels());
        ReplicaPool pool = new ReplicaPool(List.of(), Duration.ofMillis(100), Duration.ofMillis(300), Duration.ofSeconds(1), 2);
        pools.add(pool);
        var op = new ModelDeploymentOperator(client, keda, pool, new Routes(), "llama", new ModelDeploymentOperator.LeaseTiming("boundless-router-chat",
                "router-k", Duration.ofSeconds(2), Duration.ofMillis(1500), Duration.ofMillis(250)), Duration.ofMillis(200), System::currentTimeMillis);
        operators.add(op);
        op.start();
        var scaledObjects = client.genericKubernetesResources("keda.sh/v1alpha1", "ScaledObject").inNamespace(NS);
        await().atMost(Duration.ofSeconds(20)).until(() -> scaledObjects.withName("chat-v1-gh200").get() != null);
        @SuppressWarnings("unchecked")
        Map<String, Object> spec = (Map<String, Object>) scaledObjects.withName("chat-v1-gh200").get().getAdditionalProperties().get("spec");
        assertThat(spec).containsEntry("minReplicaCount", 2).containsEntry("maxReplicaCount", 8)
                .containsEntry("scaleTargetRef", Map.of("name", "chat-v1-gh200"));
        assertThat(spec.get("triggers").toString()).contains("vllm:num_requests_waiting").contains("threshold=3.0");
        edit(x -> x.setSpec(new ModelDeployment.Spec("llama", x.getSpec().versions(), resource(List.of(v1), 5, null).getSpec().pools(),
                x.getSpec().autoscaling(), x.getSpec().rollout())));
        await().atMost(Duration.ofSeconds(10)).until(() -> ((Map<?, ?>) scaledObjects.withName("chat-v1-gh200").get().getAdditionalProperties().get("spec"))
                .get("minReplicaCount").equals(5));
        assertThat(deployment("chat-v1-gh200").getSpec().getReplicas()).as("KEDA's HPA owns the count, not the router").isEqualTo(2);
    }

    @Test
    void theAutoscalerReadsTheDiscoveredReplicasGpuUtilizationAndDoesNotCascadeWhileNewPodsLoad() throws Exception {
        var replica = new io.boundless.router.fake.FakeReplica("gpu-0");
        replica.gpuUtilization = 0.95;
        io.grpc.Server grpc = io.grpc.ServerBuilder.forPort(0).addService(replica).build().start();
        try {
            var v1 = new ModelDeployment.Version("v1", "llama/2024-09");
            var md = resource(List.of(v1), 1, null);
            var scaleUp = new ModelDeployment.Behavior(0, null, List.of(new ModelDeployment.Policy(ModelDeployment.PolicyType.Pods, 4, 15)));
            md.setSpec(new ModelDeployment.Spec("llama", md.getSpec().versions(), List.of(md.getSpec().pools().getFirst()), new ModelDeployment.Autoscaling(
                    new ModelDeployment.Targets(0.5, null, null), null, new ModelDeployment.Behaviors(scaleUp, null)), md.getSpec().rollout()));
            client.resources(ModelDeploymentResource.class).inNamespace(NS).resource(md).create();
            operator("router-0", new Routes());
            await().atMost(Duration.ofSeconds(20)).until(() -> client.services().inNamespace(NS).withName("chat-v1-gh200").get() != null
                    && deployment("chat-v1-gh200") != null);
            assertThat(deployment("chat-v1-gh200").getSpec().getReplicas()).isEqualTo(1);
            // its one Pod becomes ready: the EndpointSlice controller would publish this
            client.discovery().v1().endpointSlices().inNamespace(NS).resource(EndpointSliceDiscoveryTest.slice(grpc.getPort(), true, true, false)).create();
            // 95% busy against a 50% target: HPA's formula asks for ceil(1 x 0.95 / 0.5) = 2
            await().atMost(Duration.ofSeconds(15)).until(() -> deployment("chat-v1-gh200").getSpec().getReplicas() == 2);
            // the new Pod has no ready endpoint yet: it counts as a replica without load, so no further scale-up
            await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5)).until(() -> deployment("chat-v1-gh200").getSpec().getReplicas() == 2);
            var scaling = status().scaling.stream().filter(x -> x.pool().equals("gh200")).findFirst().orElseThrow();
            assertThat(scaling.metric()).isEqualTo("utilization");
        } finally {
            grpc.shutdownNow();
            client.discovery().v1().endpointSlices().inNamespace(NS).delete();
        }
    }

    /** An SRE's edit of the spec; retried on a conflict with the leader's status write, as kubectl edit is retried. */
    static void edit(java.util.function.Consumer<ModelDeploymentResource> change) {
        for (int attempt = 1; ; attempt++) {
            try {
                client.resources(ModelDeploymentResource.class).inNamespace(NS).withName("chat").edit(md -> {
                    change.accept(md);
                    return md;
                });
                return;
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() != 409 || attempt == 5) {
                    throw e;
                }
            }
        }
    }
}
