package io.boundless.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.router.endpoints.Replica;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ReplicaPickerTest {
    private final List<Replica> replicas = IntStream.range(0, 4).mapToObj(i -> new Replica("127.0.0.1:" + (20000 + i))).toList();

    @AfterEach
    void close() {
        replicas.forEach(Replica::close);
    }

    private static int[] prompt(int system, int question, int length) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) {
            p[i] = i < 64 ? system * 1000 + i : question * 7 + i;
        }
        return p;
    }

    @Test
    void promptsSharingTheirLeadingBlocksLandOnOneReplica() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        Map<Integer, Set<Replica>> bySystem = new HashMap<>();
        for (int system = 0; system < 16; system++) {
            for (int q = 0; q < 5; q++) {
                bySystem.computeIfAbsent(system, k -> new HashSet<>()).add(picker.pick(prompt(system, q, 100), replicas));
            }
        }
        bySystem.values().forEach(set -> assertThat(set).hasSize(1));
        // and the 16 prefixes spread over the replicas
        Set<Replica> used = new HashSet<>();
        bySystem.values().forEach(used::addAll);
        assertThat(used.size()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void aReplicaAboveTheLoadBoundPassesTheRequestOnAlongTheRing() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        int[] p = prompt(3, 0, 80);
        Replica home = picker.pick(p, replicas);
        for (int i = 0; i < 10; i++) {
            home.acquire(); // the prefix's replica is busy: 10 outstanding, the others 0
        }
        Replica other = picker.pick(p, replicas);
        assertThat(other).isNotSameAs(home);
        // bound = ceil(1.25 * (10 + 1) / 4) = 4: a replica with 3 outstanding still takes it
        for (Replica r : replicas) {
            if (r != home) {
                for (int i = 0; i < 3; i++) {
                    r.acquire();
                }
            }
        }
        assertThat(picker.pick(p, replicas)).isNotSameAs(home);
    }

    @Test
    void newPrefixesAreSpreadByLoadSoEachReplicaGetsItsShare() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        List<Replica> two = replicas.subList(0, 2);
        Map<Replica, Integer> prefixes = new HashMap<>();
        for (int system = 0; system < 8; system++) {
            Replica r = picker.pick(prompt(system, 0, 100), two);
            r.acquire(); // in flight while the next new prefix arrives
            prefixes.merge(r, 1, Integer::sum);
        }
        assertThat(prefixes.values()).containsExactly(4, 4);
        // and later requests for each prefix go back to where it was sent
        for (Replica r : two) {
            while (r.outstanding() > 0) {
                r.release();
            }
        }
        for (int system = 0; system < 8; system++) {
            Replica first = picker.pick(prompt(system, 1, 100), two);
            assertThat(picker.pick(prompt(system, 2, 120), two)).isSameAs(first);
        }
    }

    @Test
    void newPrefixesArrivingOneAtATimeAreSpreadOverTheCaches() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 2, 1000);
        Map<Replica, Integer> prefixes = new HashMap<>();
        for (int system = 0; system < 12; system++) {
            prefixes.merge(picker.pick(prompt(system, 0, 100), replicas), 1, Integer::sum);  // nothing outstanding: load ties
        }
        assertThat(prefixes.values()).containsExactlyInAnyOrder(3, 3, 3, 3);
    }

    @Test
    void theLongestRememberedPrefixWins() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        int[] shortShared = prompt(9, 0, 64);          // 4 blocks, the system prompt only
        int[] conversation = prompt(9, 1, 160);        // the same 4 blocks and 6 more
        Replica a = picker.pick(shortShared, replicas.subList(0, 1));
        Replica b = picker.pick(conversation, replicas.subList(1, 2));
        assertThat(a).isNotSameAs(b);
        int[] nextTurn = java.util.Arrays.copyOf(conversation, 200);  // the conversation continued
        assertThat(picker.pick(nextTurn, replicas)).isSameAs(b);
    }

    @Test
    void rememberedPrefixesAreBounded() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 50);
        for (int system = 0; system < 40; system++) {
            picker.pick(prompt(system, 0, 100), replicas);
        }
        assertThat(picker.remembered()).isEqualTo(50);
    }

    @Test
    void shortPromptsGoToTheLeastBusyReplica() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        replicas.get(0).acquire();
        replicas.get(1).acquire();
        replicas.get(3).acquire();
        assertThat(picker.pick(new int[] {1, 2, 3}, replicas)).isSameAs(replicas.get(2));
    }

    @Test
    void onlyCandidatesArePicked() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        int[] p = prompt(5, 1, 80);
        Replica home = picker.pick(p, replicas);
        List<Replica> rest = replicas.stream().filter(r -> r != home).toList();
        assertThat(picker.pick(p, rest)).isIn(rest);
        assertThat(picker.pick(p, List.of())).isNull();
    }

    @Test
    void roundRobinCyclesThroughCandidates() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.ROUND_ROBIN, 16, 64, 1.25, 1000);
        Set<Replica> seen = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            seen.add(picker.pick(prompt(1, 1, 80), replicas));
        }
        assertThat(seen).hasSize(4);
    }

    @Test
    void loadIsWeighedByCapacity() {
        // a GH200-like replica (capacity 2) beside an H100-like one (1): new prefixes, each held, split 2:1
        Replica big = new Replica("127.0.0.1:20100", "v1", "gh200", 2.0);
        Replica small = new Replica("127.0.0.1:20101", "v1", "h100", 1.0);
        try {
            ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
            Map<Replica, Integer> got = new HashMap<>();
            for (int i = 0; i < 300; i++) {
                Replica r = picker.pick(prompt(100 + i, 0, 80), List.of(big, small));
                r.acquire();
                got.merge(r, 1, Integer::sum);
            }
            assertThat(got.get(big)).isBetween(199, 201);
            assertThat(got.get(small)).isBetween(99, 101);
        } finally {
            big.close();
            small.close();
        }
    }

    @Test
    void prefixHashesAreSeededByVersion() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        int[] p = prompt(1, 1, 64);
        assertThat(picker.blockHashes(p, 4, "v1")).isNotEqualTo(picker.blockHashes(p, 4, "v2"));
        assertThat(picker.blockHashes(p, 4, "")).isEqualTo(picker.blockHashes(p, 4));
    }

    /** Regression: a pick while other requests start and end on the replicas always returns one (it once divided by zero). */
    @Test
    void picksWhileLoadsChangeUnderItAlwaysReturnAReplica() throws Exception {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 64, 1.25, 1000);
        var stop = new java.util.concurrent.atomic.AtomicBoolean();
        var churn = new java.util.ArrayList<Thread>();
        for (int t = 0; t < 3; t++) {
            int seed = t;
            churn.add(Thread.ofPlatform().start(() -> {
                var rnd = new java.util.SplittableRandom(seed);
                while (!stop.get()) {
                    Replica r = replicas.get(rnd.nextInt(replicas.size()));
                    r.acquire();
                    r.release();
                }
            }));
        }
        try {
            var rnd = new java.util.SplittableRandom(7);
            for (int i = 0; i < 200_000; i++) {
                int[] p = new int[rnd.nextInt(0, 40)];  // short prompts: no block to be affine to, so least-loaded picks
                for (int j = 0; j < p.length; j++) {
                    p[j] = rnd.nextInt(1000);
                }
                assertThat(picker.pick(p, replicas)).isNotNull();
            }
        } finally {
            stop.set(true);
            for (Thread t : churn) {
                t.join();
            }
        }
    }
}
