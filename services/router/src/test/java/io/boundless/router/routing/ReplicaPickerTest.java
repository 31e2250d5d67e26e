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
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 4, 1.25);
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
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 4, 1.25);
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
    void shortPromptsGoToTheLeastBusyReplica() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 4, 1.25);
        replicas.get(0).acquire();
        replicas.get(1).acquire();
        replicas.get(3).acquire();
        assertThat(picker.pick(new int[] {1, 2, 3}, replicas)).isSameAs(replicas.get(2));
    }

    @Test
    void onlyCandidatesArePicked() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.PREFIX, 16, 4, 1.25);
        int[] p = prompt(5, 1, 80);
        Replica home = picker.pick(p, replicas);
        List<Replica> rest = replicas.stream().filter(r -> r != home).toList();
        assertThat(picker.pick(p, rest)).isIn(rest);
        assertThat(picker.pick(p, List.of())).isNull();
    }

    @Test
    void roundRobinCyclesThroughCandidates() {
        ReplicaPicker picker = new ReplicaPicker(ReplicaPicker.Policy.ROUND_ROBIN, 16, 4, 1.25);
        Set<Replica> seen = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            seen.add(picker.pick(prompt(1, 1, 80), replicas));
        }
        assertThat(seen).hasSize(4);
    }
}
