package io.boundless.router.autoscale;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.Seeds;
import io.boundless.router.autoscale.ScalingSpec.Behavior;
import io.boundless.router.autoscale.ScalingSpec.Policy;
import io.boundless.router.autoscale.ScalingSpec.Select;
import io.boundless.router.autoscale.ScalingSpec.Targets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The autoscaler on synthetic load traces, no processes. A trace is demand over time in replicas' worth of work: each
 * ready replica's utilization is demand / ready replicas (at most 1). New replicas take {@code warmUp} seconds before
 * they are ready and report load; the controller decides once a second.
 */
class AutoscalerTest {
    static final Targets UTILIZATION_60 = new Targets(0.6, null, null);

    /** A fleet driven by a demand trace. */
    static final class Fleet {
        final Autoscaler scaler;
        final int warmUp;
        final List<Integer> readyAt = new ArrayList<>(); // second each replica is ready
        final List<Integer> counts = new ArrayList<>();  // replicas after each second's decision
        int maxSeen;

        Fleet(ScalingSpec spec, int initial, int warmUp) {
            this.scaler = new Autoscaler(spec);
            this.warmUp = warmUp;
            for (int i = 0; i < initial; i++) {
                readyAt.add(-1);
            }
        }

        List<ReplicaLoad> loads(int t, double demand) {
            long ready = readyAt.stream().filter(r -> r <= t).count();
            double u = ready == 0 ? 0 : Math.min(1, demand / ready);
            int queue = ready == 0 ? 0 : (int) Math.max(0, Math.round((demand - ready) * 4 / ready));
            List<ReplicaLoad> out = new ArrayList<>();
            for (int r : readyAt) {
                out.add(r <= t ? new ReplicaLoad(true, u, queue, Math.min(1, u * 0.9)) : ReplicaLoad.starting());
            }
            return out;
        }

        Fleet run(int seconds, DoubleUnaryOperator demand) {
            int start = counts.size();
            for (int t = start; t < start + seconds; t++) {
                var d = scaler.decide(t * 1000L, loads(t, demand.applyAsDouble(t)), 0);
                while (readyAt.size() < d.desired()) {
                    readyAt.add(t + warmUp);
                }
                while (readyAt.size() > d.desired()) {
                    readyAt.removeLast(); // the newest (a starting one first) leaves
                }
                counts.add(readyAt.size());
                maxSeen = Math.max(maxSeen, readyAt.size());
            }
            return this;
        }

        int last() {
            return counts.getLast();
        }

        int at(int t) {
            return counts.get(t);
        }
    }

    static ScalingSpec spec(int min, int max, Behavior up, Behavior down) {
        return new ScalingSpec(min, max, UTILIZATION_60, up, down, 0.1);
    }

    @Test
    void aStepScalesToTheRuleWithoutACascadeWhileNewReplicasWarmUp() {
        // demand 1.2 replicas' worth (2 at 60%), then 3.0 (5 at 60%); new replicas take 30 s to load
        Fleet f = new Fleet(spec(1, 10, null, null), 2, 30).run(60, t -> 1.2).run(240, t -> 3.0);
        assertThat(f.at(59)).isEqualTo(2);
        assertThat(f.at(60)).as("the step is seen at once (no scale-up window by default)").isEqualTo(4);
        // 2 ready replicas at 100% ask for ceil(2 × 1 / 0.6) = 4; while the two new ones load, the ready ones' load counts
        // as spread over all four (83% of target): nothing more is asked until they serve; then 3.0 over 4 at 75% asks for 5
        assertThat(f.counts.subList(60, 90)).containsOnly(4);
        assertThat(f.last()).isEqualTo(5);
        assertThat(f.maxSeen).as("no overshoot from replicas that report nothing while they load").isEqualTo(5);
        assertThat(f.scaler.events()).hasSize(2);
        assertThat(f.scaler.events().getFirst().metric()).isEqualTo("utilization");
        assertThat(f.scaler.events().getFirst().reason()).contains("utilization 1.00 against target 0.60 over 2 ready");
    }

    @Test
    void aShortSpikeIsIgnoredWithAScaleUpWindow() {
        Behavior up = new Behavior(30, List.of(new Policy(Policy.Type.PODS, 4, 15)), Select.MAX);
        Fleet f = new Fleet(spec(1, 10, up, null), 2, 10).run(60, t -> 1.2).run(10, t -> 3.0).run(100, t -> 1.2);
        assertThat(f.maxSeen).as("a 10 s spike under a 30 s scale-up window").isEqualTo(2);
        assertThat(f.scaler.events()).isEmpty();
        // a sustained rise passes the window
        f.run(120, t -> 3.0);
        assertThat(f.last()).isEqualTo(5);
    }

    @Test
    void aRampIsTrackedWithinThePoliciesAndMax() {
        Behavior up = new Behavior(0, List.of(new Policy(Policy.Type.PODS, 1, 20)), Select.MAX);
        Fleet f = new Fleet(spec(1, 6, up, null), 1, 5).run(600, t -> 0.3 + t * 0.01);
        for (int t = 20; t < f.counts.size(); t++) {
            assertThat(f.at(t) - f.at(t - 20)).as("at most one replica per 20 s, second %d", t).isLessThanOrEqualTo(1);
        }
        assertThat(f.maxSeen).isEqualTo(6);
        assertThat(f.last()).isEqualTo(6);
        var last = f.scaler.decide(600_000, f.loads(600, 6.3), 0);
        assertThat(last.limited()).isTrue();
        assertThat(last.reason()).contains("limited to maxReplicas 6");
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void noiseAroundTheTargetDoesNotFlap(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        // 3 replicas at 60% on average, ±15% noise every second, for 30 minutes
        Fleet f = new Fleet(spec(1, 10, null, null), 3, 20).run(1800, t -> 1.8 * (1 + 0.15 * (2 * rnd.nextDouble() - 1)));
        // the noise crosses the 10% tolerance, so it may scale up once or twice and back once; then it holds
        var events = f.scaler.events();
        assertThat(events.size()).as("seed %d: scale events on noise: %s", seed, events).isLessThanOrEqualTo(3);
        assertThat(events.stream().filter(e -> e.to() < e.from()).count()).as("seed %d: at most one scale-down: %s", seed, events).isLessThanOrEqualTo(1);
        assertThat(events).as("seed %d: settled after 10 minutes", seed).allMatch(e -> e.timeMillis() < 600_000);
        assertThat(f.counts).allMatch(c -> c >= 3 && c <= 5);
    }

    @Test
    void scaleDownWaitsForItsWindowAndStopsAtMin() {
        Fleet f = new Fleet(spec(2, 10, null, null), 5, 10).run(30, t -> 3.0).run(600, t -> 0.3);
        assertThat(f.counts.subList(30, 30 + 299)).as("the 300 s scale-down window").containsOnly(5);
        assertThat(f.at(30 + 301)).isEqualTo(2);
        assertThat(f.last()).isEqualTo(2);
        var d = f.scaler.decide(700_000, f.loads(700, 0), 0);
        assertThat(d.desired()).as("zero traffic: down to minReplicas, not stuck").isEqualTo(2);
    }

    @Test
    void zeroTrafficScalesToMinZeroAndWaitingRequestsWakeIt() {
        Behavior down = new Behavior(60, List.of(new Policy(Policy.Type.PERCENT, 100, 15)), Select.MAX);
        Fleet f = new Fleet(spec(0, 4, null, down), 2, 10).run(120, t -> 0);
        assertThat(f.last()).isZero();
        Autoscaler a = f.scaler;
        assertThat(a.decide(200_000, List.of(), 0).desired()).isZero();
        var wake = a.decide(201_000, List.of(), 3);
        assertThat(wake.desired()).isEqualTo(1);
        assertThat(wake.reason()).contains("3 requests wait and no replica runs");
    }

    @Test
    void thePercentAndPodsPoliciesCombineAsSelectSays() {
        // from 2 ready at 100% (want 4): MAX of +100% (4) and +1 (3) is 4; MIN is 3
        List<Policy> both = List.of(new Policy(Policy.Type.PERCENT, 100, 60), new Policy(Policy.Type.PODS, 1, 60));
        List<ReplicaLoad> busy = List.of(new ReplicaLoad(true, 1, 0, 0), new ReplicaLoad(true, 1, 0, 0));
        assertThat(new Autoscaler(spec(1, 10, new Behavior(0, both, Select.MAX), null)).decide(0, busy, 0).desired()).isEqualTo(4);
        assertThat(new Autoscaler(spec(1, 10, new Behavior(0, both, Select.MIN), null)).decide(0, busy, 0).desired()).isEqualTo(3);
        assertThat(new Autoscaler(spec(1, 10, new Behavior(0, List.of(), Select.DISABLED), null)).decide(0, busy, 0).desired()).isEqualTo(2);
        // a period's budget is shared by the changes in it
        Autoscaler a = new Autoscaler(spec(1, 10, new Behavior(0, List.of(new Policy(Policy.Type.PODS, 2, 60)), Select.MAX), null));
        assertThat(a.decide(0, busy, 0).desired()).isEqualTo(4);
        List<ReplicaLoad> four = List.of(new ReplicaLoad(true, 1, 0, 0), new ReplicaLoad(true, 1, 0, 0), new ReplicaLoad(true, 1, 0, 0),
                new ReplicaLoad(true, 1, 0, 0));
        assertThat(a.decide(30_000, four, 0).desired()).as("2 already added in this 60 s period").isEqualTo(4);
        assertThat(a.decide(61_000, four, 0).desired()).isEqualTo(6);
    }

    @Test
    void theLargestMetricWins() {
        ScalingSpec s = new ScalingSpec(1, 10, new Targets(0.8, 2.0, 0.8), null, null, 0.1);
        // utilization 0.5 (wants 2 of 3), queue 6 per replica (wants 9), kv 0.7 (within tolerance)
        var d = new Autoscaler(s).decide(0, List.of(new ReplicaLoad(true, 0.5, 6, 0.7), new ReplicaLoad(true, 0.5, 6, 0.7),
                new ReplicaLoad(true, 0.5, 6, 0.7)), 0);
        assertThat(d.metric()).isEqualTo("queueDepthPerReplica");
        assertThat(d.desired()).as("by default the larger of +100%% and +4 per 15 s: 7 now").isEqualTo(7);
        assertThat(d.reason()).contains("queueDepthPerReplica 6.00 against target 2.00 over 3 ready: 9 replicas", "scale-up policy allows 7 now");
    }

    @Test
    void badSpecsAreRefusedWithTheReason() {
        assertThatThrownBy(() -> new ScalingSpec(3, 2, UTILIZATION_60, null, null, 0.1)).hasMessageContaining("minReplicas <= maxReplicas");
        assertThatThrownBy(() -> new ScalingSpec(1, 2, new Targets(null, null, null), null, null, 0.1)).hasMessageContaining("at least one target");
        assertThatThrownBy(() -> new Targets(1.5, null, null)).hasMessageContaining("utilization must be in (0, 1]");
        assertThatThrownBy(() -> new Policy(Policy.Type.PODS, 0, 15)).hasMessageContaining("value > 0");
        assertThatThrownBy(() -> new Behavior(-1, List.of(), Select.MAX)).hasMessageContaining("stabilizationWindowSeconds");
        assertThat(Seeds.FIXED).isPositive();
    }
}
