package io.boundless.router.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.LatencyHistogram;
import io.boundless.proto.inference.v1.GetLoadResponse;
import io.boundless.proto.inference.v1.Measurements;
import io.boundless.proto.inference.v1.PromptLengthLatency;
import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.rollout.DeploymentStatus;
import io.boundless.router.rollout.ModelDeployment;
import io.boundless.router.rollout.ModelDeployments;
import io.boundless.router.rollout.VersionSelector;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The control loop with a fake replica manager (no processes) and the pool's health checks played by the test: which
 * replicas start, when traffic moves, what an analysis decides from the replicas' own measurements, what drains and
 * stops, and what the status and the events say.
 */
class DeploymentControllerTest {
    /** Starts nothing: its "replicas" live while the test says so. */
    static final class FakeManager implements ReplicaManager {
        final Map<String, Handle> alive = new LinkedHashMap<>();
        final List<String> started = new ArrayList<>();
        final List<String> stopped = new ArrayList<>();
        final Map<String, Integer> perGroup = new HashMap<>();
        int port = 30000;
        boolean reusePorts;  // a new replica takes the lowest port a stopped one freed, as the local platform's does
        final java.util.TreeSet<Integer> freed = new java.util.TreeSet<>();

        @Override
        public Handle start(String version, String source, ModelDeployment.Pool pool) {
            int k = perGroup.merge(version + "/" + pool.name(), 1, Integer::sum);
            int p = reusePorts && !freed.isEmpty() ? freed.pollFirst() : port++;
            Handle h = new Handle(version + "-" + pool.name() + "-" + k, "127.0.0.1:" + p, version, pool.name());
            alive.put(h.id(), h);
            started.add(h.id());
            return h;
        }

        @Override
        public boolean alive(Handle h) {
            return alive.containsKey(h.id());
        }

        @Override
        public String exitReason(Handle h) {
            return "exit code 1: the model's files are broken";
        }

        @Override
        public void stop(Handle h) {
            alive.remove(h.id());
            freed.add(Integer.parseInt(h.address().substring(h.address().lastIndexOf(':') + 1)));
            stopped.add(h.id());
        }

        @Override
        public void close() {
            alive.clear();
        }
    }

    static final class FakeRouter implements Router {
        VersionSelector selector;
        String stable;
        String header;

        @Override
        public void route(VersionSelector selector, String stable) {
            this.selector = selector;
            this.stable = stable;
        }

        @Override
        public void stickiness(String header, boolean user) {
            this.header = header;
        }

        int weight(String version) {
            return selector.versions().stream().filter(w -> w.version().equals(version)).mapToInt(VersionSelector.Weighted::weight).sum();
        }
    }

    /** A replica's cumulative counts, as its GetLoad reports them. */
    static final class Counts {
        long requests;
        long failed;
        final LatencyHistogram ttft = new LatencyHistogram();
        final LatencyHistogram itl = new LatencyHistogram();

        void serve(int n, double ttftMs, double itlMs) {
            for (int i = 0; i < n; i++) {
                requests++;
                ttft.record(ttftMs);
                for (int t = 0; t < 10; t++) {
                    itl.record(itlMs);
                }
            }
        }

        Measurements measurements() {
            var b = Measurements.newBuilder().setRequests(requests).setFailed(failed);
            Arrays.stream(LatencyHistogram.boundsMillis()).forEach(b::addLatencyBoundsMs);
            b.addTimeToFirstToken(PromptLengthLatency.newBuilder().setBucket("<256").addAllCounts(Arrays.stream(ttft.counts()).boxed().toList()));
            b.addAllInterTokenCounts(Arrays.stream(itl.counts()).boxed().toList());
            return b.build();
        }
    }

    static final String BASE = """
            apiVersion: boundless.io/v1alpha1
            kind: ModelDeployment
            metadata: {name: chat}
            spec:
              model: chat-model
              versions:
            %s
              pools:
                - {name: cpu, accelerator: cpu, minReplicas: 1, maxReplicas: 4}
            %s
              rollout:
                steps:
                  - setWeight: 50
                  - analysis: {window: 10s}
                  - setWeight: 100
                  - analysis: {window: 10s}
                progressDeadlineSeconds: 60
                analysis: {minRequests: 20, minSamplesPerBucket: 10, slackMillis: 5}
            """;

    static ModelDeployment deployment(List<String> versions, String autoscaling) {
        StringBuilder v = new StringBuilder();
        for (String name : versions) {
            v.append("    - {name: ").append(name).append(", source: chat-model/").append(name).append("}\n");
        }
        return ModelDeployments.parse(BASE.formatted(v.toString().stripTrailing(), autoscaling), "test");
    }

    final AtomicLong clock = new AtomicLong(1_000_000);
    final FakeManager manager = new FakeManager();
    final FakeRouter router = new FakeRouter();
    final Map<Replica, Counts> counts = new java.util.IdentityHashMap<>();  // per replica: a new process counts from zero
    ReplicaPool pool;
    DeploymentController c;

    @BeforeEach
    void setUp() {
        pool = new ReplicaPool(List.of(), Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(1), 1);
        c = new DeploymentController("chat-model", pool, manager, router, clock::get, Duration.ofSeconds(30));
    }

    @AfterEach
    void tearDown() {
        c.close();
        pool.close();
    }

    /** The health checks: every live replica of these versions answers GetLoad (ready), with its counts and this utilization. */
    void checks(double utilization, String... versions) {
        for (Replica r : pool.all()) {
            if (List.of(versions).contains(r.version()) && manager.alive.values().stream().anyMatch(h -> h.address().equals(r.address()))) {
                r.healthy(true);
                r.loaded(GetLoadResponse.newBuilder().setBusyFraction(utilization)
                        .setMeasurements(counts.computeIfAbsent(r, k -> new Counts()).measurements()).build());
            }
        }
    }

    /** Every ready replica of the version serves n requests at these latencies. */
    void traffic(String version, int n, double ttftMs, double itlMs) {
        for (Replica r : pool.admitted(version)) {
            counts.computeIfAbsent(r, k -> new Counts()).serve(n, ttftMs, itlMs);
        }
    }

    void seconds(int s, Runnable each) {
        for (int i = 0; i < s; i++) {
            clock.addAndGet(1000);
            each.run();
            c.tick();
        }
    }

    List<String> reasons() {
        return c.status().events().stream().map(DeploymentStatus.Event::reason).toList();
    }

    DeploymentStatus.Condition condition(String type) {
        return c.status().conditions().stream().filter(k -> k.type().equals(type)).findFirst().orElseThrow();
    }

    @Test
    void theFirstApplyStartsTheStableVersionAndTrafficWaitsForItsReplicas() {
        c.apply(deployment(List.of("v1"), ""));
        assertThat(manager.started).containsExactly("v1-cpu-1");
        assertThat(condition("Ready").status()).isEqualTo("False");
        assertThat(router.stable).isEqualTo("v1");
        assertThat(router.header).isEqualTo("x-session-id");
        checks(0.1, "v1");
        c.tick();
        assertThat(condition("Ready").status()).isEqualTo("True");
        assertThat(condition("Progressing").reason()).isEqualTo("RolloutComplete");
        var s = c.status();
        assertThat(s.versions()).singleElement().satisfies(v -> {
            assertThat(v.weight()).isEqualTo(100);
            assertThat(v.pools()).singleElement().isEqualTo(new DeploymentStatus.PoolReplicas("cpu", 1, 1, 0));
        });
        assertThat(s.rollout().phase()).isEqualTo("Healthy");
    }

    @Test
    void anEditOfTheStableVersionRollsOutOverItsReplicasMeasuredOnItsOwnRequestsAndKeepsThemWhenPromoted() {
        c.apply(deployment(List.of("v1"), ""));
        checks(0.1, "v1");
        c.tick();
        // the knowledge-edit service publishes chat-model/v1+e-1 and adds it (Admin.AddVersion)
        c.addVersion("e-1", "chat-model/v1+e-1");
        assertThat(manager.started).as("an edit starts no replica").containsExactly("v1-cpu-1");
        assertThat(pool.deltaVersions()).containsEntry("e-1", new ReplicaPool.DeltaVersion("v1", "chat-model/v1+e-1"));
        assertThat(pool.admitted("e-1")).as("the edit is served by the base's replicas").isEqualTo(pool.admitted("v1")).hasSize(1);
        assertThat(pool.deltaSource("e-1")).isEqualTo("chat-model/v1+e-1");
        assertThat(pool.deltaSource("v1")).isEmpty();
        assertThat(c.status().rollout().canary()).isEqualTo("e-1");
        assertThat(c.status().rollout().canaryWeight()).isEqualTo(50);
        // the replica reports the edit's requests apart: the analysis compares them with the base's, equal here
        Counts edit = new Counts();
        Replica r = pool.admitted("v1").getFirst();
        seconds(12, () -> {
            counts.computeIfAbsent(r, k -> new Counts()).serve(10, 40, 10);
            edit.serve(10, 40, 10);
            r.healthy(true);
            r.loaded(GetLoadResponse.newBuilder().setBusyFraction(0.1).setMeasurements(counts.get(r).measurements())
                    .putVersionMeasurements("chat-model/v1+e-1", edit.measurements()).build());
        });
        assertThat(c.status().rollout().lastAnalysis()).as("the analysis ran on the edit's own measurements").isNotNull();
        assertThat(c.status().rollout().lastAnalysis().verdict()).isEqualTo("PASS");
        c.promote();
        assertThat(c.status().rollout().stable()).isEqualTo("e-1");
        c.tick();
        assertThat(manager.stopped).as("the promoted edit keeps its base's replicas").isEmpty();
        assertThat(pool.admitted("e-1")).hasSize(1);
        assertThat(condition("Ready").status()).isEqualTo("True");
    }

    @Test
    void aCanaryOnAPortAnOldReplicaFreedIsMeasuredFromItsOwnCounts() {
        manager.reusePorts = true;
        c.apply(deployment(List.of("v1"), ""));
        checks(0.1, "v1");
        c.tick();
        c.apply(deployment(List.of("v1", "v2"), ""));
        checks(0.1, "v1", "v2");
        seconds(25, () -> {
            traffic("v1", 3, 50, 10);
            traffic("v2", 3, 50, 10);
            checks(0.2, "v1", "v2");
        });
        assertThat(c.status().rollout().stable()).isEqualTo("v2");
        seconds(2, () -> checks(0.2, "v2"));
        assertThat(manager.stopped).as("v1's replica stopped, its port freed").contains("v1-cpu-1");
        // v3 starts on v1's old port; v1's large cumulative counts must not be read as v3's
        c.apply(deployment(List.of("v2", "v3"), ""));
        assertThat(pool.all()).anySatisfy(r -> assertThat(r.version() + "@" + r.address()).isEqualTo("v3@127.0.0.1:30000"));
        checks(0.1, "v2", "v3");
        seconds(11, () -> {
            traffic("v2", 3, 50, 10);
            traffic("v3", 3, 400, 60);
            checks(0.2, "v2", "v3");
        });
        assertThat(c.status().rollout().phase()).as(c.status().rollout().message()).isEqualTo("Degraded");
        assertThat(c.status().rollout().message()).contains("canary is worse");
    }

    @Test
    void aNewLeaderGoesOnFromThePriorStatus() {
        // the previous leader had v2 at 50% (step 2 of 4, its analysis); this controller takes over from its status
        c.apply(deployment(List.of("v1", "v2"), ""), new DeploymentController.Prior("v1", "v2", "Progressing", 1, 50));
        assertThat(c.status().rollout().canary()).isEqualTo("v2");
        assertThat(c.status().rollout().step()).isEqualTo(1);
        assertThat(reasons()).as("no new rollout").doesNotContain("RolloutStarted");
        checks(0.1, "v1", "v2");
        c.tick();
        assertThat(router.weight("v2")).as("the canary keeps its weight").isEqualTo(50);
        seconds(11, () -> {
            traffic("v1", 3, 50, 10);
            traffic("v2", 3, 50, 10);
            checks(0.2, "v1", "v2");
        });
        assertThat(router.weight("v2")).as("the analysis ran in full and the next step set 100%").isEqualTo(100);

        // a rolled-back canary stays rolled back for a new leader: the same spec does not retry it
        var other = new DeploymentController("chat-model", pool, new FakeManager(), new FakeRouter(), clock::get, Duration.ofSeconds(30));
        try {
            other.apply(deployment(List.of("v1", "v2"), ""), new DeploymentController.Prior("v1", "v2", "Degraded", 1, 0));
            assertThat(other.status().rollout().phase()).isEqualTo("Degraded");
            assertThat(other.status().rollout().stable()).isEqualTo("v1");
            assertThat(other.status().rollout().canaryWeight()).isZero();
            assertThat(other.status().conditions()).anySatisfy(k -> assertThat(k.type() + "=" + k.reason()).isEqualTo("Degraded=RolledBack"));
        } finally {
            other.close();
        }
    }

    @Test
    void aSlowerCanaryIsRolledBackAtItsFirstAnalysisAndDrained() {
        var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        var metrics = new DeploymentMetrics(registry, c);
        c.apply(deployment(List.of("v1"), ""));
        checks(0.1, "v1");
        c.tick();
        c.apply(deployment(List.of("v1", "v2"), ""));
        assertThat(manager.started).containsExactly("v1-cpu-1", "v2-cpu-1");
        assertThat(router.weight("v2")).as("no traffic before the canary is ready").isZero();
        checks(0.1, "v1", "v2");
        c.tick();
        assertThat(router.weight("v2")).isEqualTo(50);
        seconds(11, () -> {
            traffic("v1", 3, 50, 10);
            traffic("v2", 3, 400, 60);
            checks(0.2, "v1", "v2");
        });
        var s = c.status();
        assertThat(s.rollout().phase()).isEqualTo("Degraded");
        assertThat(s.rollout().message()).contains("rolled back v2", "TTFT p95", "canary", "stable");
        assertThat(s.rollout().lastAnalysis().verdict()).isEqualTo("FAIL");
        assertThat(s.rollout().lastAnalysis().checks()).anySatisfy(k -> {
            assertThat(k.metric()).startsWith("TTFT p95");
            assertThat(k.canary()).isGreaterThan(300);
            assertThat(k.stable()).isLessThan(60);
        });
        assertThat(router.weight("v2")).isZero();
        assertThat(condition("Degraded").reason()).isEqualTo("RolledBack");
        metrics.refresh();
        assertThat(registry.get("boundless_rollout_weight").tag("version", "v1").gauge().value()).isEqualTo(100);
        assertThat(registry.get("boundless_rollout_weight").tag("version", "v2").gauge().value()).isZero();
        assertThat(registry.get("boundless_rollout_phase").tag("phase", "Degraded").gauge().value()).isEqualTo(1);
        assertThat(registry.get("boundless_deployment_replicas").tags("version", "v1", "state", "ready").gauge().value()).isEqualTo(1);
        assertThat(registry.get("boundless_rollout_outcomes_total").tag("outcome", "RolledBack").counter().count()).isEqualTo(1);
        assertThat(registry.get("boundless_rollout_analyses_total").tag("verdict", "FAIL").counter().count()).isEqualTo(1);
        assertThat(registry.get("boundless_scale_events_total").tag("direction", "up").counter().count()).isEqualTo(2);
        assertThat(reasons()).contains("RolloutStarted", "RolledBack", "ScaledDown");
        // the canary's replica drains: it had no streams, so it stops at the next tick
        c.tick();
        assertThat(manager.stopped).containsExactly("v2-cpu-1");
        assertThat(pool.all()).extracting(Replica::version).containsOnly("v1");
        // applying the same target again does not retry it
        c.apply(deployment(List.of("v1", "v2"), ""));
        assertThat(c.status().rollout().phase()).isEqualTo("Degraded");
        assertThat(manager.started).hasSize(2);
    }

    @Test
    void anEqualCanaryIsPromotedThroughEveryStepAndTheOldVersionDrainedAfterItsStreams() {
        c.apply(deployment(List.of("v1", "v2"), ""));
        checks(0.1, "v1", "v2");
        c.tick();
        assertThat(router.weight("v2")).isEqualTo(50);
        Replica old = pool.admitted("v1").getFirst();
        old.acquire();  // a long stream on the old version, running through the whole rollout
        seconds(25, () -> {
            traffic("v1", 3, 50, 10);
            traffic("v2", 3, 52, 10);
            checks(0.2, "v1", "v2");
        });
        var s = c.status();
        assertThat(s.rollout().phase()).as(s.rollout().message()).isEqualTo("Healthy");
        assertThat(s.rollout().stable()).isEqualTo("v2");
        assertThat(router.stable).isEqualTo("v2");
        assertThat(router.weight("v2")).isEqualTo(100);
        assertThat(reasons()).contains("Promoted");
        // the old version drains: no new requests, and it is stopped only once its stream is done
        assertThat(old.state()).isEqualTo(Replica.State.DRAINING);
        assertThat(old.admitted()).isFalse();
        seconds(3, () -> checks(0.1, "v1", "v2"));
        assertThat(manager.stopped).isEmpty();
        old.release();
        seconds(1, () -> checks(0.1, "v1", "v2"));
        assertThat(manager.stopped).containsExactly("v1-cpu-1");
        assertThat(c.status().events().stream().filter(e -> e.reason().equals("Drained")).findFirst().orElseThrow().message())
                .contains("finished its streams");
    }

    @Test
    void aCanaryThatNeverBecomesReadyGetsNoTrafficAndHitsTheDeadline() {
        c.apply(deployment(List.of("v1"), ""));
        checks(0.1, "v1");
        c.tick();
        c.apply(deployment(List.of("v1", "broken"), ""));
        seconds(70, () -> {
            manager.alive.keySet().removeIf(id -> id.startsWith("broken"));  // it exits as soon as it starts
            checks(0.1, "v1");
            assertThat(router.weight("broken")).isZero();
        });
        var s = c.status();
        assertThat(s.rollout().phase()).isEqualTo("Degraded");
        assertThat(s.rollout().message()).contains("not ready within the progress deadline of 60 s", "v1 keeps all traffic");
        assertThat(condition("Degraded").reason()).isEqualTo("ProgressDeadlineExceeded");
        assertThat(router.stable).isEqualTo("v1");
        assertThat(router.weight("v1")).isEqualTo(100);
        // it was restarted with a growing backoff, not in a tight loop: 1 + 2 + 4 + 8 + 16 + 30 s ... within 60 s
        long starts = manager.started.stream().filter(id -> id.startsWith("broken")).count();
        assertThat(starts).isBetween(5L, 7L);
        assertThat(c.status().events()).anySatisfy(e -> assertThat(e.message()).contains("exited: exit code 1: the model's files are broken"));
        // and after the rollout ended, no more restarts
        int before = manager.started.size();
        seconds(60, () -> checks(0.1, "v1"));
        assertThat(manager.started).hasSize(before);
    }

    @Test
    void loadScalesReplicasUpWithinThePolicyAndDownAfterTheWindowDrained() {
        String autoscaling = """
                  autoscaling:
                    targets: {utilization: 0.5}
                    behavior:
                      scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Pods, value: 1, periodSeconds: 5}]}
                      scaleDown: {stabilizationWindowSeconds: 10, policies: [{type: Pods, value: 1, periodSeconds: 5}]}
                """;
        c.apply(deployment(List.of("v1"), autoscaling));
        checks(0.1, "v1");
        c.tick();
        // load: every ready replica at 100%: one more replica every 5 s, up to maxReplicas 4
        seconds(30, () -> checks(1.0, "v1"));
        assertThat(manager.started).hasSize(4);
        assertThat(c.status().scaling()).singleElement().satisfies(x -> assertThat(x.desired()).isEqualTo(4));
        assertThat(condition("ScalingLimited").status()).isEqualTo("True");
        // load stops: down after the 10 s window, one per 5 s, each drained and stopped; never below minReplicas 1
        seconds(40, () -> checks(0.0, "v1"));
        assertThat(manager.stopped).hasSize(3);
        assertThat(manager.alive).hasSize(1);
        assertThat(reasons()).contains("ScaledUp", "ScaledDown", "Drained");
    }

    @Test
    void badDeploymentsAreRefusedAndChangeNothing() {
        c.apply(deployment(List.of("v1"), ""));
        assertThatThrownBy(() -> c.apply(ModelDeployments.parse(BASE.formatted("    - {name: v1, source: chat-model/v1}", "")
                .replace("model: chat-model", "model: other"), "test"))).hasMessageContaining("this router serves chat-model");
        assertThatThrownBy(() -> c.apply(deployment(List.of("v9"), ""))).hasMessageContaining("no longer lists v1");
        assertThat(c.generation()).isEqualTo(1);
        assertThatThrownBy(() -> c.promote()).hasMessageContaining("no rollout in progress");
    }

    @Test
    void anOperatorPausesSetsTheWeightResumesAndAborts() {
        c.apply(deployment(List.of("v1", "v2"), ""));
        checks(0.1, "v1", "v2");
        c.tick();
        c.pause();
        assertThat(c.status().rollout().phase()).isEqualTo("Paused");
        c.setWeight(20);
        assertThat(router.weight("v2")).isEqualTo(20);
        c.resume();
        assertThat(c.status().rollout().phase()).isEqualTo("Progressing");
        c.abort("admin");
        assertThat(c.status().rollout().phase()).isEqualTo("Degraded");
        assertThat(c.status().rollout().message()).contains("aborted by admin");
        assertThat(router.weight("v2")).isZero();
    }
}
