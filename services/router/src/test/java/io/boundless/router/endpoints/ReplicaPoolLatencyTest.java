package io.boundless.router.endpoints;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pool's latency outlier ejection on replicas fed token gaps as the router's calls would (no process behind them). */
class ReplicaPoolLatencyTest {
    static final long MS = 1_000_000;

    static void feed(Replica r, long gapMs, int n) {
        for (int i = 0; i < n; i++) {
            r.interTokenGap(gapMs * MS + i % 3 * 100_000, 1);
        }
    }

    @Test
    void aSlowReplicaIsEjectedPerVersionAndPoolItsCallsGivenUpAndJudgedAfreshWhenBack() {
        try (ReplicaPool pool = new ReplicaPool(List.of(), Duration.ofSeconds(1), Duration.ofMillis(200), Duration.ofSeconds(1), 2,
                new LatencyOutliers.Settings(3.0, 20 * MS, 32, 0.5))) {
            Replica a = new Replica("127.0.0.1:1", "v1", "cpu", 1);
            Replica b = new Replica("127.0.0.1:2", "v1", "cpu", 1);
            Replica slow = new Replica("127.0.0.1:3", "v1", "cpu", 1);
            Replica canary = new Replica("127.0.0.1:4", "v2", "cpu", 1);  // another version: not compared with v1's
            for (Replica r : List.of(a, b, slow, canary)) {
                pool.add(r);
                r.healthy(true);
            }
            feed(a, 10, 64);
            feed(b, 10, 64);
            feed(slow, 90, 64);
            feed(canary, 400, 64);
            List<String> given = new ArrayList<>();
            slow.onLost(why -> given.add("slow: " + why));
            a.onLost(why -> given.add("a: " + why));

            pool.ejectSlow();
            assertThat(slow.admitted()).isFalse();
            assertThat(a.admitted()).isTrue();
            assertThat(b.admitted()).isTrue();
            assertThat(canary.admitted()).as("alone in its version: no peer to compare with").isTrue();
            assertThat(pool.latencyEjections()).isEqualTo(1);
            assertThat(given).singleElement().asString().startsWith("slow: it is a latency outlier (inter-token latency 90 ms, its peers' 10 ms)");
            assertThat(slow.interTokenGaps().samples()).as("judged afresh when back").isZero();

            // nothing more to find until it has a window again; a fast window then keeps it in
            pool.ejectSlow();
            assertThat(pool.latencyEjections()).isEqualTo(1);
        }
    }

    @Test
    void ejectionsInARowLastLongerAndAFailureEjectionDoesNotShortenOne() throws Exception {
        try (ReplicaPool pool = new ReplicaPool(List.of(), Duration.ofSeconds(1), Duration.ofMillis(150), Duration.ofSeconds(1), 2,
                new LatencyOutliers.Settings(3.0, 20 * MS, 32, 0.5))) {
            Replica a = new Replica("127.0.0.1:1", "v1", "cpu", 1);
            Replica slow = new Replica("127.0.0.1:3", "v1", "cpu", 1);
            pool.add(a);
            pool.add(slow);
            a.healthy(true);
            slow.healthy(true);
            feed(a, 10, 64);
            feed(slow, 90, 64);
            pool.ejectSlow();
            long first = waitAdmitted(slow, true);
            feed(slow, 90, 64);
            pool.ejectSlow();
            // a call failing on it now ejects it for the base time only: the longer one stays
            pool.eject(slow, "UNAVAILABLE test");
            long second = waitAdmitted(slow, true);
            assertThat(pool.latencyEjections()).isEqualTo(2);
            assertThat(second).as("the second ejection in a row is twice the first").isGreaterThan(first + 100);
        }
    }

    /** Waits until the replica's ejection passed (it is marked healthy as its next check would), returning the ms it took. */
    static long waitAdmitted(Replica r, boolean healthy) throws InterruptedException {
        long t0 = System.nanoTime();
        while (!r.admitted()) {
            r.healthy(healthy);
            if (System.nanoTime() - t0 > 5_000 * MS) {
                throw new AssertionError(r + " still ejected after 5 s");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(MS);
        }
        return (System.nanoTime() - t0) / MS;
    }
}
