package io.boundless.router.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.router.rollout.CanaryAnalysis.Result;
import io.boundless.router.rollout.CanaryAnalysis.Verdict;
import io.boundless.router.rollout.RolloutController.Analysis;
import io.boundless.router.rollout.RolloutController.Pause;
import io.boundless.router.rollout.RolloutController.Phase;
import io.boundless.router.rollout.RolloutController.SetWeight;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Rollouts on timelines with scripted analysis verdicts, one tick a second. */
class RolloutControllerTest {
    static final List<RolloutController.Step> STEPS = List.of(new SetWeight(10), new Analysis(Duration.ofSeconds(60)), new SetWeight(50),
            new Pause(Duration.ofSeconds(30)), new Analysis(Duration.ofSeconds(60)));

    static Result result(Verdict v, String why) {
        return new Result(v, why, List.of());
    }

    /** Ticks from {@code from} to {@code to} seconds, answering analyses from the queue; returns the last status. */
    static RolloutController.Status run(RolloutController c, int from, int to, boolean ready, Deque<Result> verdicts, List<Integer> weights) {
        RolloutController.Status s = c.status();
        for (int t = from; t < to; t++) {
            s = c.tick(t * 1000L, ready, window -> verdicts.removeFirst());
            weights.add(s.canaryWeight());
        }
        return s;
    }

    @Test
    void anEqualCanaryIsPromotedThroughEveryStep() {
        RolloutController c = new RolloutController("v1", STEPS, Duration.ofSeconds(600), 3);
        c.start("v2", 0);
        List<Integer> weights = new java.util.ArrayList<>();
        var verdicts = new ArrayDeque<>(List.of(result(Verdict.PASS, "ok"), result(Verdict.PASS, "ok")));
        run(c, 0, 20, false, verdicts, weights);
        assertThat(weights).as("no traffic before the canary is ready").containsOnly(0);
        var s = run(c, 20, 200, true, verdicts, weights);
        assertThat(weights.get(20)).isEqualTo(10);
        assertThat(weights.subList(20, 80)).containsOnly(10);     // the first analysis' window
        assertThat(weights.subList(80, 170)).containsOnly(50);    // 30 s pause + 60 s analysis
        assertThat(s.phase()).isEqualTo(Phase.HEALTHY);
        assertThat(s.stable()).isEqualTo("v2");
        assertThat(s.canary()).isNull();
        assertThat(s.retired()).isEqualTo("v1");
        assertThat(s.message()).isEqualTo("promoted v2 (every step passed); draining v1");
        assertThat(c.selector().select("anyone")).isEqualTo("v2");
    }

    @Test
    void aFailingAnalysisRollsBackAtOnceNamingTheMetric() {
        RolloutController c = new RolloutController("v1", STEPS, Duration.ofSeconds(600), 3);
        c.start("v2", 0);
        var s = run(c, 0, 120, true, new ArrayDeque<>(List.of(result(Verdict.FAIL, "canary is worse: TTFT p95, prompts 0-255: canary 900, stable 300"))),
                new java.util.ArrayList<>());
        assertThat(s.phase()).isEqualTo(Phase.DEGRADED);
        assertThat(s.canaryWeight()).isZero();
        assertThat(s.stable()).isEqualTo("v1");
        assertThat(s.message()).isEqualTo("rolled back v2: canary is worse: TTFT p95, prompts 0-255: canary 900, stable 300");
        assertThat(c.selector().select("anyone")).isEqualTo("v1");
    }

    @Test
    void inconclusiveAnalysesHoldThenPause() {
        RolloutController c = new RolloutController("v1", STEPS, Duration.ofSeconds(600), 3);
        c.start("v2", 0);
        Deque<Result> verdicts = new ArrayDeque<>(List.of(result(Verdict.INCONCLUSIVE, "too few requests"), result(Verdict.INCONCLUSIVE, "too few requests"),
                result(Verdict.INCONCLUSIVE, "too few requests")));
        var s = run(c, 0, 130, true, verdicts, new java.util.ArrayList<>());
        assertThat(s.phase()).isEqualTo(Phase.PROGRESSING);
        assertThat(s.canaryWeight()).as("held, neither advanced nor rolled back").isEqualTo(10);
        assertThat(s.message()).isEqualTo("holding at 10%: too few requests");
        s = run(c, 130, 200, true, verdicts, new java.util.ArrayList<>());
        assertThat(s.phase()).isEqualTo(Phase.PAUSED);
        assertThat(s.message()).contains("3 analyses in a row were inconclusive", "paused at 10%");
        // resumed, the next analysis passes and the rollout goes on
        c.resume(200_000);
        verdicts.addAll(List.of(result(Verdict.PASS, "ok"), result(Verdict.PASS, "ok")));
        s = run(c, 200, 400, true, verdicts, new java.util.ArrayList<>());
        assertThat(s.phase()).isEqualTo(Phase.HEALTHY);
        assertThat(s.stable()).isEqualTo("v2");
    }

    @Test
    void aCanaryThatNeverBecomesReadyHitsTheDeadlineAndStableIsUntouched() {
        RolloutController c = new RolloutController("v1", STEPS, Duration.ofSeconds(120), 3);
        c.start("v2", 0);
        List<Integer> weights = new java.util.ArrayList<>();
        var s = run(c, 0, 200, false, new ArrayDeque<>(), weights);
        assertThat(weights).containsOnly(0);
        assertThat(s.phase()).isEqualTo(Phase.DEGRADED);
        assertThat(s.message()).isEqualTo("version v2 was not ready within the progress deadline of 120 s; v1 keeps all traffic");
        assertThat(s.stable()).isEqualTo("v1");
    }

    @Test
    void manualPauseResumePromoteAndAbort() {
        RolloutController c = new RolloutController("v1", STEPS, Duration.ofSeconds(600), 3);
        c.start("v2", 0);
        run(c, 0, 10, true, new ArrayDeque<>(), new java.util.ArrayList<>());
        var p = c.pause(10_000);
        assertThat(p.phase()).isEqualTo(Phase.PAUSED);
        var s = run(c, 10, 300, true, new ArrayDeque<>(), new java.util.ArrayList<>());
        assertThat(s.canaryWeight()).as("paused: the analysis window does not run out").isEqualTo(10);
        c.resume(300_000);
        // 10 s of the window had passed before the pause: 50 s more
        s = run(c, 300, 349, true, new ArrayDeque<>(), new java.util.ArrayList<>());
        assertThat(s.step()).isEqualTo(1);
        assertThat(c.promote(349_000).stable()).isEqualTo("v2");

        RolloutController d = new RolloutController("v1", STEPS, Duration.ofSeconds(600), 3);
        d.start("v3", 0);
        run(d, 0, 5, true, new ArrayDeque<>(), new java.util.ArrayList<>());
        var a = d.abort(5_000, "alice");
        assertThat(a.phase()).isEqualTo(Phase.DEGRADED);
        assertThat(a.canaryWeight()).isZero();
        assertThat(a.message()).isEqualTo("aborted by alice; v1 keeps all traffic");
        assertThatThrownBy(() -> new RolloutController("v1", STEPS, Duration.ofSeconds(600), 3).promote(0)).hasMessageContaining("no rollout in progress");
        assertThatThrownBy(() -> d.start("v1", 6_000)).hasMessageContaining("already stable");
    }

    @Test
    void anIndefinitePauseWaitsForResume() {
        RolloutController c = new RolloutController("v1", List.of(new SetWeight(20), new Pause(null), new SetWeight(60)), Duration.ofSeconds(600), 3);
        c.start("v2", 0);
        var s = run(c, 0, 100, true, new ArrayDeque<>(), new java.util.ArrayList<>());
        assertThat(s.phase()).isEqualTo(Phase.PAUSED);
        assertThat(s.canaryWeight()).isEqualTo(20);
        c.resume(100_000);
        s = c.tick(101_000, true, window -> null);
        assertThat(s.phase()).isEqualTo(Phase.HEALTHY);
        assertThat(s.stable()).isEqualTo("v2");
    }

    @Test
    void stickinessKeepsAUserOnItsVersionAndTheCanaryRangeOnlyGrows() {
        Map<String, String> at10 = new HashMap<>();
        VersionSelector ten = new VersionSelector(List.of(new VersionSelector.Weighted("v2", 10), new VersionSelector.Weighted("v1", 90)));
        VersionSelector fifty = new VersionSelector(List.of(new VersionSelector.Weighted("v2", 50), new VersionSelector.Weighted("v1", 50)));
        int canary10 = 0;
        int canary50 = 0;
        for (int u = 0; u < 20_000; u++) {
            String user = "user-" + u;
            String v = ten.select(user);
            assertThat(ten.select(user)).as("the same user, the same version").isEqualTo(v);
            at10.put(user, v);
            canary10 += v.equals("v2") ? 1 : 0;
            String w = fifty.select(user);
            canary50 += w.equals("v2") ? 1 : 0;
            if (v.equals("v2")) {
                assertThat(w).as("%s was on the canary at 10%%: still there at 50%%", user).isEqualTo("v2");
            }
        }
        assertThat(canary10 / 20_000.0).isBetween(0.09, 0.11);
        assertThat(canary50 / 20_000.0).isBetween(0.48, 0.52);
        // without a key: a weighted draw
        int drawn = 0;
        for (int i = 0; i < 20_000; i++) {
            drawn += ten.select(null).equals("v2") ? 1 : 0;
        }
        assertThat(drawn / 20_000.0).isBetween(0.08, 0.12);
        assertThatThrownBy(() -> new VersionSelector(List.of(new VersionSelector.Weighted("v1", 0)))).hasMessageContaining("above 0");
    }
}
