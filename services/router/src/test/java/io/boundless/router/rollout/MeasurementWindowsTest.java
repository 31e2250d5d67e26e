package io.boundless.router.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.boundless.proto.LatencyHistogram;
import io.boundless.proto.inference.v1.Measurements;
import io.boundless.proto.inference.v1.PromptLengthLatency;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/** The analysis window from replicas' cumulative readings, and the histogram's p95 against the exact one. */
class MeasurementWindowsTest {

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void theHistogramsP95IsWithinItsBucketWidthOfTheExactOne(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (double median : new double[] {0.8, 12, 340, 9000}) {
            LatencyHistogram h = new LatencyHistogram();
            double[] xs = new double[2000];
            for (int i = 0; i < xs.length; i++) {
                xs[i] = median * Math.exp(0.6 * gaussian(r));
                h.record(xs[i]);
            }
            Arrays.sort(xs);
            double exact = xs[(int) Math.ceil(0.95 * xs.length) - 1];
            double read = LatencyHistogram.quantile(LatencyHistogram.boundsMillis(), h.counts(), 0.95);
            assertThat(read / exact).as("seed %d, median %.1f ms: p95 %.3f read as %.3f", seed, median, exact, read)
                    .isCloseTo(1, within(LatencyHistogram.GROWTH - 1));
        }
        assertThat(LatencyHistogram.quantile(LatencyHistogram.boundsMillis(), new long[132], 0.95)).isNaN();
    }

    private static double gaussian(SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    /** A reading: requests, failures, and ttftAt / itlAt samples at those latencies (cumulative). */
    private static Measurements reading(long requests, long failed, long ttftSamples, double ttftMs, long itlSamples, double itlMs) {
        LatencyHistogram t = new LatencyHistogram();
        LatencyHistogram i = new LatencyHistogram();
        for (long k = 0; k < ttftSamples; k++) {
            t.record(ttftMs);
        }
        for (long k = 0; k < itlSamples; k++) {
            i.record(itlMs);
        }
        var b = Measurements.newBuilder().setRequests(requests).setFailed(failed);
        Arrays.stream(LatencyHistogram.boundsMillis()).forEach(b::addLatencyBoundsMs);
        b.addTimeToFirstToken(PromptLengthLatency.newBuilder().setBucket("<256").addAllCounts(Arrays.stream(t.counts()).boxed().toList()));
        b.addAllInterTokenCounts(Arrays.stream(i.counts()).boxed().toList());
        return b.build();
    }

    @Test
    void aWindowIsTheDifferenceOfReadingsSummedOverTheVersionsReplicas() {
        MeasurementWindows w = new MeasurementWindows(Duration.ofMinutes(5));
        // stable: two replicas; before the window 100 requests each at 50 ms, in it 40 more each at 50 ms
        w.record("a", "v1", 0, reading(100, 1, 100, 50, 1000, 10));
        w.record("b", "v1", 0, reading(100, 0, 100, 50, 1000, 10));
        w.record("a", "v1", 60_000, reading(140, 1, 140, 50, 1400, 10));
        w.record("b", "v1", 60_000, reading(140, 2, 140, 50, 1400, 10));
        // canary: started within the window (counts from zero), slower
        w.record("c", "v2", 30_000, reading(5, 0, 5, 200, 50, 40));
        w.record("c", "v2", 60_000, reading(30, 3, 30, 200, 300, 40));
        var stable = w.window("v1", 60_000, Duration.ofSeconds(60));
        assertThat(stable.requests()).isEqualTo(80);
        assertThat(stable.errors()).isEqualTo(2);
        assertThat(stable.ttft()).singleElement().satisfies(b -> {
            assertThat(b.samples()).isEqualTo(80);
            assertThat(b.p95Millis()).isCloseTo(50, within(5.0));
        });
        assertThat(stable.itlSamples()).isEqualTo(800);
        var canary = w.window("v2", 60_000, Duration.ofSeconds(60));
        assertThat(canary.requests()).isEqualTo(30);
        assertThat(canary.errors()).isEqualTo(3);
        assertThat(canary.ttft().getFirst().p95Millis()).isCloseTo(200, within(20.0));
        assertThat(canary.itlP95Millis()).isCloseTo(40, within(4.0));
        // the analysis on these figures: the canary is slower
        var result = new CanaryAnalysis(new CanaryAnalysis.Spec(0.2, 1.25, 1.25, 20, 20, 10)).analyze(canary, stable);
        assertThat(result.verdict()).isEqualTo(CanaryAnalysis.Verdict.FAIL);
        assertThat(result.reason()).contains("TTFT p95");
    }

    @Test
    void aRestartedReplicaCountsFromZeroAndOldReadingsAreDropped() {
        MeasurementWindows w = new MeasurementWindows(Duration.ofSeconds(60));
        w.record("a", "v1", 0, reading(500, 0, 500, 50, 0, 0));
        w.record("a", "v1", 30_000, reading(10, 0, 10, 50, 0, 0));  // restarted: its counts went down
        var win = w.window("v1", 30_000, Duration.ofSeconds(60));
        assertThat(win.requests()).isEqualTo(10);
        assertThat(win.itlSamples()).isZero();
        assertThat(win.itlP95Millis()).isNaN();
        // a replica with no reading in the window adds nothing; pruned after the longest window
        assertThat(w.window("v1", 200_000, Duration.ofSeconds(60)).requests()).isZero();
        w.prune(200_000);
        assertThat(w.window("v1", 30_000, Duration.ofSeconds(60)).requests()).isZero();
    }
}
