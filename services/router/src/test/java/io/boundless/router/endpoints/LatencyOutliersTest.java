package io.boundless.router.endpoints;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.router.endpoints.LatencyOutliers.Candidate;
import io.boundless.router.endpoints.LatencyOutliers.Outlier;
import io.boundless.router.endpoints.LatencyOutliers.Settings;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LatencyOutliersTest {
    static final long MS = 1_000_000;
    static final Settings S = new Settings(3.0, 20 * MS, 16, 0.5);

    /** A replica's window filled with n gaps drawn around meanMs (±20%). */
    static Candidate<String> replica(String name, double meanMs, int n, SplittableRandom rnd) {
        var w = new LatencyOutliers.Window(64);
        for (int i = 0; i < n; i++) {
            w.record((long) (meanMs * MS * (0.8 + 0.4 * rnd.nextDouble())));
        }
        return new Candidate<>(name, w.typical(), w.samples());
    }

    static List<String> names(List<Outlier<String>> o) {
        return o.stream().map(Outlier::replica).toList();
    }

    @Test
    void theOneSlowReplicaOfFourIsEjectedAgainstItsPeersMedian() {
        var rnd = new SplittableRandom(1);
        var c = List.of(replica("a", 10, 64, rnd), replica("b", 12, 64, rnd), replica("slow", 60, 64, rnd), replica("c", 9, 64, rnd));
        var out = LatencyOutliers.find(c, S);
        assertThat(names(out)).containsExactly("slow");
        assertThat(out.getFirst().peersNanos()).isBetween(8 * MS, 13 * MS);
        assertThat(out.getFirst().nanos()).isBetween(48 * MS, 72 * MS);
    }

    @Test
    void ofTwoReplicasTheSlowOneGoesTheOtherStays() {
        var rnd = new SplittableRandom(2);
        assertThat(names(LatencyOutliers.find(List.of(replica("fast", 8, 40, rnd), replica("slow", 50, 40, rnd)), S))).containsExactly("slow");
        // and never the last one admitted, whatever the share allows
        assertThat(LatencyOutliers.find(List.of(replica("fast", 8, 40, rnd), replica("slow", 50, 40, rnd)), new Settings(3, 0, 16, 1.0)))
                .extracting(Outlier::replica).containsExactly("slow");
        assertThat(LatencyOutliers.find(List.of(replica("only", 500, 64, rnd)), S)).isEmpty();
    }

    @Test
    void smallDifferencesAndSlowSpellsWithFewSamplesAreNoOutliers() {
        var rnd = new SplittableRandom(3);
        // 3.5x slower, but only 2.5 ms: under the least excess
        assertThat(LatencyOutliers.find(List.of(replica("a", 1, 64, rnd), replica("b", 1, 64, rnd), replica("c", 3.5, 64, rnd)), S)).isEmpty();
        // twice as slow: under the factor
        assertThat(LatencyOutliers.find(List.of(replica("a", 30, 64, rnd), replica("b", 30, 64, rnd), replica("c", 60, 64, rnd)), S)).isEmpty();
        // slow, but 10 samples: not judged yet; nor is a group whose peers have too few
        assertThat(LatencyOutliers.find(List.of(replica("a", 10, 64, rnd), replica("b", 10, 64, rnd), replica("c", 100, 10, rnd)), S)).isEmpty();
        assertThat(LatencyOutliers.find(List.of(replica("a", 10, 5, rnd), replica("c", 100, 64, rnd)), S)).isEmpty();
    }

    @Test
    void atMostTheShareIsEjectedSlowestFirst() {
        var rnd = new SplittableRandom(4);
        List<Candidate<String>> c = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            c.add(replica("ok" + i, 10, 64, rnd));
        }
        c.add(replica("slow", 80, 64, rnd));
        c.add(replica("slower", 200, 64, rnd));
        c.add(replica("slowest", 400, 64, rnd));
        // 7 admitted, share 0.3: two may go
        assertThat(names(LatencyOutliers.find(c, new Settings(3, 20 * MS, 16, 0.3)))).containsExactly("slowest", "slower");
        assertThat(LatencyOutliers.find(c, new Settings(3, 20 * MS, 16, 0.0))).isEmpty();
        assertThat(names(LatencyOutliers.find(c, S))).containsExactly("slowest", "slower", "slow");
    }

    @Test
    void theWindowKeepsTheLastGapsAndTheirMeanWithoutTheSlowestFewPercent() {
        var w = new LatencyOutliers.Window(5);
        assertThat(w.typical()).isZero();
        for (long v : new long[] {100, 1, 2, 3, 4, 5}) {  // the 100 falls out of the ring
            w.record(v);
        }
        assertThat(w.samples()).isEqualTo(5);
        assertThat(w.typical()).isEqualTo(3);  // under 20 samples: the plain mean
        w.clear();
        assertThat(w.samples()).isZero();

        var big = new LatencyOutliers.Window(64);
        for (int i = 0; i < 60; i++) {
            big.record(10);
        }
        for (int i = 0; i < 4; i++) {
            big.record(10_000);  // four long stalls in 64: the slowest ceil(3.2) = 4 are left out
        }
        assertThat(big.typical()).isEqualTo(10);
    }

    @Test
    void aReplicaThatStallsBetweenFastBurstsIsSlowForItsClients() {
        // bursts of 4 tokens 3 ms apart, then a 100 ms stall: each gap in a burst is fast, the replica is not
        var bursty = new LatencyOutliers.Window(64);
        var steady = new LatencyOutliers.Window(64);
        for (int i = 0; i < 64; i++) {
            bursty.record(i % 4 == 3 ? 100 * MS : 3 * MS);
            steady.record(5 * MS);
        }
        var out = LatencyOutliers.find(List.of(new Candidate<>("bursty", bursty.typical(), 64), new Candidate<>("steady", steady.typical(), 64),
                new Candidate<>("steady2", steady.typical(), 64)), new Settings(3, 10 * MS, 32, 0.5));
        assertThat(names(out)).containsExactly("bursty");
    }

    @Test
    void settingsOutOfRangeAreRefusedSayingWhy() {
        assertThatThrownBy(() -> new Settings(1.0, 0, 16, 0.5)).hasMessageContaining("factor is above 1");
        assertThatThrownBy(() -> new Settings(3, 0, 0, 0.5)).hasMessageContaining("at least 1 sample");
        assertThatThrownBy(() -> new Settings(3, 0, 16, 1.5)).hasMessageContaining("in [0, 1]");
    }
}
