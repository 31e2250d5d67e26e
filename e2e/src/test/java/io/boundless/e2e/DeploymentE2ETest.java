package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.AdminGrpc;
import io.boundless.proto.router.v1.ApplyDeploymentRequest;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.DeploymentEvent;
import io.boundless.proto.router.v1.DeploymentStatus;
import io.boundless.proto.router.v1.GetDeploymentStatusRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.VersionStatus;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The control plane on boundless up's real processes: the platform runs a ModelDeployment, the router starts its
 * replicas as processes, and under a steady load an equal canary is promoted and the old version drained, a slower
 * one (24 layers under the same tokenizer) is rolled back at its first analysis, one whose files are broken never gets
 * traffic and hits its deadline, and load scales a pool up and back down; a replica killed under load loses nothing.
 * Every phase counts its failed requests: zero.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DeploymentE2ETest {
    private static final int GRPC = 19800;
    private static final int HTTP = 18800;
    private static final String KEY = "sk-deploy-main";
    private static final String OPS = "sk-deploy-ops";

    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final Path work = root.resolve("e2e/target/deploy-e2e");
    private LocalPlatform platform;
    private ManagedChannel channel;
    private RouterGrpc.RouterBlockingStub router;
    private AdminGrpc.AdminBlockingStub admin;
    private Load load;

    /** A deployment of versions (name, source) with these autoscaling targets; short windows for a test. */
    static String deployment(List<String[]> versions, double utilization) {
        StringBuilder v = new StringBuilder();
        for (String[] x : versions) {
            v.append("    - {name: ").append(x[0]).append(", source: ").append(x[1]).append("}\n");
        }
        return """
                apiVersion: boundless.io/v1alpha1
                kind: ModelDeployment
                metadata: {name: e2e}
                spec:
                  model: default-random
                  versions:
                %s  pools:
                    - {name: cpu, accelerator: cpu, minReplicas: 1, maxReplicas: 2}
                  autoscaling:
                    targets: {utilization: %s}
                    behavior:
                      scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Pods, value: 1, periodSeconds: 5}]}
                      scaleDown: {stabilizationWindowSeconds: 10, policies: [{type: Pods, value: 1, periodSeconds: 5}]}
                  rollout:
                    steps:
                      - setWeight: 30
                      - pause: {duration: 15s}
                      - analysis: {window: 8s}
                      - setWeight: 60
                      - analysis: {window: 8s}
                    progressDeadlineSeconds: 40
                    analysis: {minRequests: 10, minSamplesPerBucket: 5, slackMillis: 3, maxTtftRatio: 2, maxItlRatio: 2, maxErrorRateIncrease: 0.05}
                """.formatted(v.toString(), utilization);
    }

    @BeforeAll
    void start() throws Exception {
        Files.createDirectories(work);
        Path keys = work.resolve("api-keys");
        Files.writeString(keys, "main:" + sha256(KEY) + "\nops:" + sha256(OPS) + " admin,inference\n");
        Path file = work.resolve("deployment.yaml");
        Files.writeString(file, deployment(List.<String[]>of(new String[] {"v1", "default-random/1"}), 0.99));
        platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 1, GRPC, HTTP, Map.of(
                "BOUNDLESS_ROUTER_AUTH_KEYS_FILE", keys.toString(),
                "BOUNDLESS_ROUTER_HEALTH_INTERVAL", "500ms",
                "BOUNDLESS_ROUTER_CONTROL_DRAIN_GRACE", "30s"), Map.of(), Map.of(), null, file));
        platform.start(Duration.ofMinutes(4));
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
        router = RouterGrpc.newBlockingStub(channel).withInterceptors(key(KEY));
        admin = AdminGrpc.newBlockingStub(channel).withInterceptors(key(OPS));
        // the other versions' files: the slower sibling, and a copy whose weights are cut short
        Path store = work.resolve("models");
        LocalPlatform.writeStoreModel(root, store, work.resolve("logs/deep-model.log"), "deep");
        Path broken = store.resolve("default-random/broken");
        if (!Files.exists(broken)) {
            Files.createDirectories(broken);
            try (var files = Files.list(store.resolve("default-random/1"))) {
                for (Path f : files.toList()) {
                    Files.copy(f, broken.resolve(f.getFileName()));
                }
            }
            try (var ch = Files.newByteChannel(broken.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
                ch.truncate(4096);
            }
        }
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> ready(status(), "v1") == 1);
    }

    @AfterAll
    void stop() throws InterruptedException {
        if (load != null) {
            load.stop();
        }
        if (channel != null) {
            channel.shutdownNow();
        }
        if (platform != null) {
            platform.close();
        }
    }

    @AfterEach
    void noRequestFailed() throws InterruptedException {
        if (load != null) {
            load.stop();
            assertThat(load.failures).as("failed requests while the fleet changed").isEmpty();
            assertThat(load.ok.get()).isPositive();
            load = null;
        }
    }

    private static io.grpc.ClientInterceptor key(String k) {
        Metadata m = new Metadata();
        m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + k);
        return MetadataUtils.newAttachHeadersInterceptor(m);
    }

    private static String sha256(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes()));
    }

    /** Clients sending chat requests in a loop, each one's outcome counted. */
    final class Load {
        final AtomicBoolean running = new AtomicBoolean(true);
        final AtomicInteger ok = new AtomicInteger();
        final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        final List<Thread> threads;

        Load(int clients, int maxTokens) {
            threads = java.util.stream.IntStream.range(0, clients).mapToObj(c -> Thread.ofPlatform().daemon().start(() -> {
                int i = 0;
                while (running.get()) {
                    var req = ChatRequest.newBuilder().setModel("default-random")
                            .addMessages(ChatMessage.newBuilder().setRole("user").setContent("client " + c + " asks question " + i++))
                            .setSampling(Sampling.newBuilder().setMaxTokens(maxTokens).setTemperature(0).setIgnoreEos(true)).build();
                    try {
                        int tokens = 0;
                        var it = router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(req);
                        while (it.hasNext()) {
                            tokens += it.next().getTokensCount();
                        }
                        if (tokens == maxTokens) {
                            ok.incrementAndGet();
                        } else {
                            failures.add("a short answer: " + tokens + " tokens of " + maxTokens);
                        }
                    } catch (StatusRuntimeException e) {
                        failures.add(e.getStatus().getCode() + ": " + e.getStatus().getDescription());
                    }
                }
            })).toList();
        }

        void stop() throws InterruptedException {
            running.set(false);
            for (Thread t : threads) {
                t.join(90_000);
            }
        }
    }

    private DeploymentStatus status() {
        return admin.withDeadlineAfter(10, TimeUnit.SECONDS).getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()).getStatus();
    }

    private DeploymentStatus apply(String yaml) {
        return admin.withDeadlineAfter(30, TimeUnit.SECONDS).applyDeployment(ApplyDeploymentRequest.newBuilder().setManifest(yaml).build()).getStatus();
    }

    private static VersionStatus version(DeploymentStatus s, String name) {
        return s.getVersionsList().stream().filter(v -> v.getName().equals(name)).findFirst().orElse(null);
    }

    private static int ready(DeploymentStatus s, String name) {
        VersionStatus v = version(s, name);
        return v == null ? 0 : v.getPoolsList().stream().mapToInt(p -> p.getReady()).sum();
    }

    private static int running(DeploymentStatus s, String name) {
        VersionStatus v = version(s, name);
        return v == null ? 0 : v.getPoolsList().stream().mapToInt(p -> p.getReady() + p.getDraining()).sum();
    }

    private static List<String> events(DeploymentStatus s, String reason) {
        return s.getEventsList().stream().filter(e -> e.getReason().equals(reason)).map(DeploymentEvent::getMessage).toList();
    }

    @Test
    @Order(1)
    void theAdminApiNeedsTheAdminScope() throws Exception {
        var plain = AdminGrpc.newBlockingStub(channel).withInterceptors(key(KEY));
        assertThatThrownBy(() -> plain.getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                    assertThat(e.getStatus().getDescription()).contains("'main' has no admin scope");
                });
        assertThatThrownBy(() -> AdminGrpc.newBlockingStub(channel).getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
        assertThatThrownBy(() -> apply(deployment(List.<String[]>of(new String[] {"v1", "default-random/1"}), 0.99).replace("maxReplicas: 2", "maxReplicas: 0")))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("spec.pools[0]", "maxReplicas 0");
                });
        var s = status();
        assertThat(s.getObservedGeneration()).isEqualTo(1);
        assertThat(s.getRollout().getPhase()).isEqualTo("Healthy");
        // the refused change is in the router's audit log: who, what and how it ended; no key in it
        String audit = Files.readString(work.resolve("logs/audit.jsonl"));
        assertThat(audit).contains("\"service\":\"router\"", "\"who\":\"ops\"", "\"action\":\"apply deployment\"",
                "\"outcome\":\"INVALID_ARGUMENT: ").doesNotContain(OPS, KEY, sha256(OPS));
    }

    @Test
    @Order(2)
    void anEqualCanaryIsPromotedThroughEveryStepAndTheOldVersionDrainedAndStopped() {
        load = new Load(3, 8);
        apply(deployment(List.of(new String[] {"v1", "default-random/1"}, new String[] {"v2", "default-random/1"}), 0.99));
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofSeconds(1)).until(() -> {
            var s = status();
            assertThat(s.getRollout().getPhase()).as(s.getRollout().getMessage()).isNotEqualTo("Degraded");
            return s.getRollout().getPhase().equals("Healthy") && s.getRollout().getStable().equals("v2");
        });
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofSeconds(1)).until(() -> running(status(), "v1") == 0);
        var s = status();
        assertThat(events(s, "Promoted")).singleElement().asString().contains("promoted v2", "draining v1");
        assertThat(events(s, "Drained")).anySatisfy(m -> assertThat(m).contains("of v1", "finished its streams"));
        assertThat(events(s, "RolledBack")).isEmpty();
        assertThat(version(s, "v2").getWeight()).isEqualTo(100);
        // the stopped process exits (SIGTERM: a graceful shutdown) and only v2's replicas are left
        await().atMost(Duration.ofSeconds(30)).until(() -> platform.deploymentReplicas().size() == ready(status(), "v2"));
    }

    @Test
    @Order(3)
    void aSlowerCanaryIsRolledBackAtItsFirstAnalysis() {
        load = new Load(3, 8);
        long t0 = System.nanoTime();
        apply(deployment(List.of(new String[] {"v2", "default-random/1"}, new String[] {"v3", "default-random/deep"}), 0.99));
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1)).until(() -> status().getRollout().getPhase().equals("Degraded"));
        double seconds = (System.nanoTime() - t0) / 1e9;
        var s = status();
        var r = s.getRollout();
        assertThat(r.getMessage()).contains("rolled back v3", "canary is worse");
        assertThat(r.getStep()).as("at the first analysis").isEqualTo(2);
        assertThat(r.getLastAnalysis().getVerdict()).isEqualTo("FAIL");
        assertThat(r.getLastAnalysis().getChecksList()).anySatisfy(k -> {
            assertThat(k.getVerdict()).isEqualTo("FAIL");
            assertThat(k.getCanary()).isGreaterThan(2 * k.getStable());
        });
        assertThat(s.getConditionsList()).anySatisfy(c -> {
            assertThat(c.getType()).isEqualTo("Degraded");
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo("RolledBack");
        });
        assertThat(version(s, "v3").getWeight()).isZero();
        assertThat(r.getStable()).isEqualTo("v2");
        System.out.printf("bad canary: rolled back %.1f s after the apply, %d requests served meanwhile; %s%n", seconds, load.ok.get(), r.getMessage());
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofSeconds(1)).until(() -> running(status(), "v3") == 0);
    }

    @Test
    @Order(4)
    void aVersionWhoseFilesAreBrokenNeverGetsTrafficAndTheRolloutHitsItsDeadline() {
        load = new Load(2, 8);
        apply(deployment(List.of(new String[] {"v2", "default-random/1"}, new String[] {"broken", "default-random/broken"}), 0.99));
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1)).until(() -> {
            var s = status();
            assertThat(version(s, "broken") == null ? 0 : version(s, "broken").getWeight()).as("no traffic to a version that is not ready").isZero();
            return s.getRollout().getPhase().equals("Degraded");
        });
        var s = status();
        assertThat(s.getRollout().getMessage()).contains("broken was not ready within the progress deadline of 40 s", "v2 keeps all traffic");
        assertThat(events(s, "ReplicaExited")).isNotEmpty().allSatisfy(m -> assertThat(m).contains("of broken", "exited"));
        assertThat(s.getConditionsList()).anySatisfy(c -> {
            assertThat(c.getType()).isEqualTo("Degraded");
            assertThat(c.getReason()).isEqualTo("ProgressDeadlineExceeded");
        });
        assertThat(version(s, "v2").getWeight()).isEqualTo(100);
        assertThat(ready(s, "v2")).isEqualTo(1);
    }

    @Test
    @Order(5)
    void loadScalesThePoolUpAndDownDrainedAndAKilledReplicaLosesNothing() throws Exception {
        apply(deployment(List.<String[]>of(new String[] {"v2", "default-random/1"}), 0.3));
        long t0 = System.nanoTime();
        load = new Load(4, 48);
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> ready(status(), "v2") == 2);
        double upSeconds = (System.nanoTime() - t0) / 1e9;
        var s = status();
        assertThat(events(s, "ScaledUp")).anySatisfy(m -> assertThat(m).contains("v2 in pool cpu: 1 -> 2", "utilization"));
        System.out.printf("load step to a second replica serving: %.1f s%n", upSeconds);
        // kill -9 of a replica under load: its streams continue on the other one, and the controller replaces it
        List<ProcessHandle> replicas = platform.deploymentReplicas();
        assertThat(replicas).hasSize(2);
        int before = load.ok.get();
        replicas.getLast().destroyForcibly();
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> {
            var x = status();
            return events(x, "ReplicaExited").stream().anyMatch(m -> m.contains("of v2")) && ready(x, "v2") == 2;
        });
        assertThat(load.ok.get()).isGreaterThan(before);
        // load stops: down to minReplicas after the 10 s window, the leaving replica drained first
        load.stop();
        assertThat(load.failures).as("no request failed while scaling up or through the kill").isEmpty();
        load = null;
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1)).until(() -> running(status(), "v2") == 1);
        s = status();
        assertThat(events(s, "ScaledDown")).anySatisfy(m -> assertThat(m).contains("v2 in pool cpu: 2 -> 1"));
        assertThat(events(s, "Drained")).anySatisfy(m -> assertThat(m).contains("of v2"));
        await().atMost(Duration.ofSeconds(30)).until(() -> platform.deploymentReplicas().size() == 1);
    }
}
