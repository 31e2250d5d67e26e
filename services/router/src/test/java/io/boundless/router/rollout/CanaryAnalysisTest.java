package io.boundless.router.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.router.rollout.CanaryAnalysis.Bucket;
import io.boundless.router.rollout.CanaryAnalysis.Verdict;
import io.boundless.router.rollout.CanaryAnalysis.Window;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Analysis verdicts for an equal, a slower, an erroring and a too-little-traffic canary, and the edges between. */
class CanaryAnalysisTest {
    final CanaryAnalysis analysis = new CanaryAnalysis(CanaryAnalysis.Spec.defaults());

    static Window window(long requests, long errors, double shortTtft, double longTtft, double itl) {
        return new Window(requests, errors, List.of(new Bucket("0-255", shortTtft, requests / 2), new Bucket("256-1023", longTtft, requests / 2)), itl,
                requests * 30);
    }

    @Test
    void anEqualCanaryPasses() {
        var r = analysis.analyze(window(200, 1, 80, 310, 22), window(600, 2, 78, 300, 21));
        assertThat(r.verdict()).as(r.reason()).isEqualTo(Verdict.PASS);
        assertThat(r.checks()).hasSize(4).allMatch(c -> c.verdict() == Verdict.PASS);
    }

    @Test
    void aSlowerCanaryFailsNamingTheMetricAndBothFigures() {
        var r = analysis.analyze(window(200, 0, 80, 900, 22), window(600, 0, 78, 300, 21));
        assertThat(r.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(r.reason()).contains("TTFT p95, prompts 256-1023: canary 900, stable 300", "at most 1.25x stable or 20 ms above it");
        // slower per token
        var itl = analysis.analyze(window(200, 0, 80, 300, 60), window(600, 0, 78, 300, 21));
        assertThat(itl.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(itl.reason()).contains("inter-token latency p95: canary 60, stable 21");
    }

    @Test
    void anErroringCanaryFails() {
        var r = analysis.analyze(window(200, 10, 80, 300, 22), window(600, 3, 78, 300, 21));
        assertThat(r.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(r.reason()).contains("error rate: canary 0.05, stable 0.005");
    }

    @Test
    void tooLittleTrafficIsInconclusiveNotAFailure() {
        var r = analysis.analyze(window(12, 3, 800, 3000, 90), window(600, 0, 78, 300, 21));
        assertThat(r.verdict()).isEqualTo(Verdict.INCONCLUSIVE);
        assertThat(r.reason()).isEqualTo("too few requests to compare: canary 12, stable 600, need 50 each");
        // enough requests, but no prompt-length bucket measured on both sides: hold too
        var noOverlap = analysis.analyze(new Window(200, 0, List.of(new Bucket("0-255", 80, 200)), 22, 5000),
                new Window(600, 0, List.of(new Bucket("256-1023", 300, 600)), 21, 9000));
        assertThat(noOverlap.verdict()).isEqualTo(Verdict.INCONCLUSIVE);
        assertThat(noOverlap.reason()).contains("no prompt-length bucket has 10 samples on both sides");
    }

    @Test
    void aFasterCanaryOrTinyDifferencesPass() {
        assertThat(analysis.analyze(window(200, 0, 40, 150, 10), window(600, 0, 80, 300, 21)).verdict()).isEqualTo(Verdict.PASS);
        // twice as slow, but 2 ms on an idle model: within the slack
        assertThat(analysis.analyze(window(200, 0, 4, 6, 2), window(600, 0, 2, 3, 1)).verdict()).isEqualTo(Verdict.PASS);
    }

    @Test
    void badThresholdsAreRefused() {
        assertThatThrownBy(() -> new CanaryAnalysis.Spec(0.01, 0.9, 1.2, 20, 50, 10)).hasMessageContaining("ratios >= 1");
    }
}
