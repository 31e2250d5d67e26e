package io.boundless.router.control;

import io.boundless.proto.inference.v1.GetLoadResponse;
import io.boundless.router.endpoints.Replica;
import io.boundless.router.endpoints.ReplicaPool;
import io.boundless.router.rollout.ModelDeployment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A fleet of replicas that a {@link ReplicaManager} starts one by one (local processes). A replica leaves in three
 * steps: it is drained (no new requests), its streams finish (the router's and the replica's own counts reach zero)
 * or the grace period passes, then it is stopped. A replica that exits is replaced after a backoff that doubles with
 * each exit in a row (a version whose files are broken crash-loops slowly).
 */
public final class ProcessFleet implements Fleet {
    private static final class Member {
        final ReplicaManager.Handle handle;
        final Replica replica;
        long drainingSince = -1;

        Member(ReplicaManager.Handle handle, Replica replica) {
            this.handle = handle;
            this.replica = replica;
        }
    }

    private static final class Group {
        final List<Member> members = new ArrayList<>();
        int exitsInARow;
        long nextStartAt;
        String lastExit;

        List<Member> serving() {
            return members.stream().filter(m -> m.drainingSince < 0).toList();
        }
    }

    private final ReplicaPool pool;
    private final ReplicaManager manager;
    private final Duration drainGrace;
    private final Map<Key, Group> groups = new LinkedHashMap<>();

    public ProcessFleet(ReplicaPool pool, ReplicaManager manager, Duration drainGrace) {
        this.pool = pool;
        this.manager = manager;
        this.drainGrace = drainGrace;
    }

    @Override
    public void observe(long now, Events events) {
        for (var e : groups.entrySet()) {
            Key key = e.getKey();
            Group g = e.getValue();
            for (var it = g.members.iterator(); it.hasNext(); ) {
                Member m = it.next();
                if (m.replica.admitted()) {
                    g.exitsInARow = 0;
                }
                if (!manager.alive(m.handle)) {
                    it.remove();
                    pool.remove(m.replica);
                    if (m.drainingSince >= 0) {
                        continue;  // it was leaving anyway
                    }
                    g.exitsInARow++;
                    long backoff = Math.min(30_000L, 1000L << Math.min(5, g.exitsInARow - 1));
                    g.nextStartAt = now + backoff;
                    String why = manager.exitReason(m.handle);
                    g.lastExit = why;
                    events.event(now, "Warning", "ReplicaExited", "replica " + m.handle.id() + " of " + key.version() + " in pool " + key.pool() + " exited"
                            + (why == null ? "" : ": " + why) + "; replaced in " + backoff / 1000 + " s (" + g.exitsInARow + " in a row)");
                    continue;
                }
                if (m.drainingSince < 0) {
                    continue;
                }
                GetLoadResponse l = m.replica.lastLoad();
                boolean idle = m.replica.outstanding() == 0 && (l == null || !m.replica.healthy() || l.getRunning() + l.getQueueDepth() == 0);
                boolean late = now - m.drainingSince > drainGrace.toMillis();
                if (!idle && !late) {
                    continue;
                }
                it.remove();
                manager.stop(m.handle);
                pool.remove(m.replica);
                events.event(now, late && !idle ? "Warning" : "Normal", "Drained", "replica " + m.handle.id() + " of " + key.version() + " in pool "
                        + key.pool() + (idle ? " finished its streams in " + (now - m.drainingSince) / 1000 + " s" : " still had streams after the grace period of "
                        + drainGrace.toSeconds() + " s") + " and was stopped");
            }
        }
    }

    @Override
    public State state(Key key) {
        Group g = groups.get(key);
        if (g == null) {
            return State.EMPTY;
        }
        String limited = g.exitsInARow == 0 ? null : "replicas of " + key.version() + " in pool " + key.pool() + " keep exiting (" + g.exitsInARow
                + " in a row" + (g.lastExit == null ? "" : ", the last: " + g.lastExit) + ")";
        return new State(g.serving().stream().map(m -> m.replica).toList(), 0, (int) g.members.stream().filter(m -> m.drainingSince >= 0).count(),
                limited == null ? null : "ReplicasExiting", limited);
    }

    @Override
    public Set<Key> keys() {
        return Set.copyOf(groups.keySet());
    }

    @Override
    public void scale(Key key, String source, ModelDeployment.Pool p, double capacity, int desired, String why, long now, Events events) {
        Group g = groups.computeIfAbsent(key, k -> new Group());
        List<Member> serving = g.serving();
        if (desired > serving.size()) {
            if (now < g.nextStartAt || source == null || p == null) {
                return;  // backing off after exits
            }
            int add = desired - serving.size();
            for (int i = 0; i < add; i++) {
                try {
                    ReplicaManager.Handle h = manager.start(key.version(), source, p);
                    Replica r = new Replica(h.address(), key.version(), key.pool(), capacity);
                    g.members.add(new Member(h, r));
                    pool.add(r);
                } catch (Exception e) {
                    g.lastExit = e.getMessage();
                    g.nextStartAt = now + 5000;
                    events.event(now, "Warning", "FailedCreate", "could not start a replica of " + key.version() + " in pool " + key.pool() + ": " + e.getMessage());
                    return;
                }
            }
            events.event(now, "Normal", "ScaledUp", key.version() + " in pool " + key.pool() + ": " + serving.size() + " -> " + desired + " (" + why + ")");
        } else if (desired < serving.size()) {
            // the ones not serving yet first, then the least busy
            List<Member> order = new ArrayList<>(serving);
            order.sort(Comparator.comparing((Member m) -> m.replica.admitted()).thenComparingInt(m -> m.replica.outstanding()));
            for (Member m : order.subList(0, serving.size() - desired)) {
                m.drainingSince = now;
                m.replica.drain();
            }
            events.event(now, "Normal", "ScaledDown", key.version() + " in pool " + key.pool() + ": " + serving.size() + " -> " + desired + " (" + why
                    + "); draining " + (serving.size() - desired));
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
