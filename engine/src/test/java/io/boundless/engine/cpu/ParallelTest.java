package io.boundless.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** The thread team: every index exactly once per call, failures surface in the caller, concurrent callers are safe. */
class ParallelTest {

    @Test
    void coversEveryIndexExactlyOnceCallAfterCall() {
        Parallel p = new Parallel(3);
        try {
            for (int call = 0; call < 2_000; call++) {
                int n = 1 + call % 257;
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                p.forRange(n, 1 + call % 5, (from, to) -> {
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertThat(hits.get(i)).as("call %d, index %d of %d", call, i, n).isEqualTo(1);
                }
                if (call % 500 == 0) { // idle workers park after their spin; the next call must wake them
                    await().atMost(Duration.ofSeconds(10)).until(p::allWorkersParked);
                }
            }
        } finally {
            p.close();
        }
    }

    @Test
    void aBodysFailureIsRethrownInTheCallerAndTheTeamKeepsWorking() {
        Parallel p = new Parallel(2);
        try {
            assertThatThrownBy(() -> p.forRange(100, 1, (from, to) -> {
                if (from <= 50 && 50 < to) {
                    throw new IllegalStateException("row 50");
                }
            })).isInstanceOf(IllegalStateException.class).hasMessage("row 50");
            AtomicIntegerArray hits = new AtomicIntegerArray(100);
            p.forRange(100, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 100; i++) {
                assertThat(hits.get(i)).isEqualTo(1);
            }
        } finally {
            p.close();
        }
    }

    @Test
    void callsFromSeveralThreadsAtOnceAreEachComplete() throws Exception {
        Parallel p = new Parallel(2);
        try {
            int callers = 4;
            CountDownLatch start = new CountDownLatch(1);
            Thread[] threads = new Thread[callers];
            AtomicIntegerArray[] hits = new AtomicIntegerArray[callers];
            Throwable[] failures = new Throwable[callers];
            for (int c = 0; c < callers; c++) {
                int id = c;
                hits[c] = new AtomicIntegerArray(1_000);
                threads[c] = new Thread(() -> {
                    try {
                        start.await();
                        for (int call = 0; call < 200; call++) {
                            p.forRange(1_000, 16, (from, to) -> {
                                for (int i = from; i < to; i++) {
                                    hits[id].incrementAndGet(i);
                                }
                            });
                        }
                    } catch (Throwable t) {
                        failures[id] = t;
                    }
                });
                threads[c].start();
            }
            start.countDown();
            for (Thread t : threads) {
                t.join();
            }
            for (int c = 0; c < callers; c++) {
                assertThat(failures[c]).isNull();
                for (int i = 0; i < 1_000; i++) {
                    assertThat(hits[c].get(i)).as("caller %d, index %d", c, i).isEqualTo(200);
                }
            }
        } finally {
            p.close();
        }
    }
}
