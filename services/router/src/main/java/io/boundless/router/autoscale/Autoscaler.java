package io.boundless.router.autoscale;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Locale;

/**
 * The desired replica count of one (version, pool), from its replicas' loads and its own history: plain code on
 * plain inputs, the same on the local platform and on Kubernetes (a ReplicaManager carries the count out).
 *
 * <p>The rule is the HorizontalPodAutoscaler's, so SREs can predict it: for each target, {@code ceil(current ×
 * average / target)}, nothing within the tolerance; the largest over the targets; then stabilization (the smallest
 * recommendation of the scale-up window, the largest of the scale-down window), then the rate policies, then
 * min/max. Replicas still starting are, as in HPA, idle capacity when scaling up (the ready replicas' load will
 * spread over them) and at target when scaling down: replicas warming up set off no second round of scale-ups
 * (aibrix#2670), and none is scaled down for the zeros it reports while loading.
 * At zero traffic it scales down to minReplicas (dynamo#6985). Not thread-safe: one controller thread calls it.
 */
public final class Autoscaler {
    private static final double EPS = 1e-9;

    private final ScalingSpec spec;
    private final Deque<long[]> recommendations = new ArrayDeque<>(); // {time ms, replicas}
    private final Deque<long[]> changes = new ArrayDeque<>();         // {time ms, delta} of applied decisions
    private final List<ScaleEvent> events = new ArrayList<>();

    /** What one evaluation decided and why. */
    public record Decision(int current, int desired, String metric, double value, double target, String reason, boolean limited) {
        public boolean changes() {
            return desired != current;
        }
    }

    /** A change of the replica count, with the metric and reason that caused it. */
    public record ScaleEvent(long timeMillis, int from, int to, String metric, String reason) {}

    public Autoscaler(ScalingSpec spec) {
        this.spec = spec;
    }

    public ScalingSpec spec() {
        return spec;
    }

    public List<ScaleEvent> events() {
        return Collections.unmodifiableList(events);
    }

    /**
     * Decides the replica count now. {@code replicas} are the (version, pool)'s replicas, started or starting;
     * {@code waitingAtRouter} counts requests the router holds for it (what wakes a pool scaled to zero).
     */
    public Decision decide(long nowMillis, List<ReplicaLoad> replicas, int waitingAtRouter) {
        int current = replicas.size();
        Proposal p = current == 0 ? fromZero(waitingAtRouter) : propose(replicas);
        remember(recommendations, nowMillis, p.replicas, window());
        int stabilized = stabilize(nowMillis, current);
        int desired = rateLimit(nowMillis, current, stabilized);
        boolean limited = false;
        String reason = p.reason;
        if (desired > spec.maxReplicas()) {
            reason += "; limited to maxReplicas " + spec.maxReplicas();
            desired = spec.maxReplicas();
            limited = true;
        } else if (desired < spec.minReplicas()) {
            desired = spec.minReplicas();
            limited = p.replicas < spec.minReplicas();
            if (limited) {
                reason += "; held at minReplicas " + spec.minReplicas();
            }
        }
        if (desired != stabilized && !limited) {
            reason += String.format(Locale.ROOT, "; %s policy allows %d now", desired > current ? "scale-up" : "scale-down", desired);
        } else if (stabilized != p.replicas && desired == stabilized) {
            reason += String.format(Locale.ROOT, "; stabilized at %d (recommended %d)", stabilized, p.replicas);
        }
        if (desired != current) {
            remember(changes, nowMillis, desired - current, maxPeriodMillis());
            events.add(new ScaleEvent(nowMillis, current, desired, p.metric, reason));
        }
        return new Decision(current, desired, p.metric, p.value, p.target, reason, limited);
    }

    private record Proposal(int replicas, String metric, double value, double target, String reason) {}

    private Proposal fromZero(int waiting) {
        int want = waiting > 0 ? 1 : 0;
        return new Proposal(want, "waiting", waiting, 0, waiting > 0 ? waiting + " requests wait and no replica runs" : "no replica and no traffic");
    }

    private Proposal propose(List<ReplicaLoad> replicas) {
        int n = replicas.size();
        List<ReplicaLoad> ready = replicas.stream().filter(ReplicaLoad::ready).toList();
        var t = spec.targets();
        Proposal best = null;
        if (t.utilization() != null) {
            best = better(best, proposal("utilization", ready, n, t.utilization(), r -> r.utilization()));
        }
        if (t.queueDepthPerReplica() != null) {
            best = better(best, proposal("queueDepthPerReplica", ready, n, t.queueDepthPerReplica(), r -> r.queueDepth()));
        }
        if (t.kvUsage() != null) {
            best = better(best, proposal("kvUsage", ready, n, t.kvUsage(), r -> r.kvUsage()));
        }
        return best;
    }

    private static Proposal better(Proposal a, Proposal b) {
        return a == null || b.replicas > a.replicas ? b : a;
    }

    private Proposal proposal(String metric, List<ReplicaLoad> ready, int n, double target, java.util.function.ToDoubleFunction<ReplicaLoad> value) {
        if (ready.isEmpty()) {
            return new Proposal(n, metric, Double.NaN, target, "no replica is ready yet: " + n + " starting, nothing to measure");
        }
        double sum = 0;
        for (ReplicaLoad r : ready) {
            sum += value.applyAsDouble(r);
        }
        double average = sum / ready.size();
        int starting = n - ready.size();
        // HPA's rule for replicas that are not ready: for a scale-up they are idle capacity (the load the ready ones see
        // will spread over them once they serve), for a scale-down they are at target (their zeros are not low load)
        double up = sum / (n * target);
        double down = (sum + starting * target) / (n * target);
        String what = String.format(Locale.ROOT, "%s %.2f against target %.2f over %d ready", metric, average, target, ready.size())
                + (starting > 0 ? " (+" + starting + " starting)" : "");
        double ratio = up > 1 + spec.tolerance() ? up : down < 1 - spec.tolerance() ? down : 1;
        if (ratio == 1) {
            return new Proposal(n, metric, average, target, what + ": within tolerance " + spec.tolerance());
        }
        int want = (int) Math.ceil(ratio * n - EPS);
        return new Proposal(want, metric, average, target, what + ": " + want + " replicas");
    }

    private int stabilize(long now, int current) {
        int up = Integer.MAX_VALUE;
        int down = Integer.MIN_VALUE;
        long upFrom = now - spec.scaleUp().stabilizationWindowSeconds() * 1000L;
        long downFrom = now - spec.scaleDown().stabilizationWindowSeconds() * 1000L;
        for (long[] r : recommendations) {
            if (r[0] >= upFrom) {
                up = (int) Math.min(up, r[1]);
            }
            if (r[0] >= downFrom) {
                down = (int) Math.max(down, r[1]);
            }
        }
        if (current < up) {
            return up;
        }
        if (current > down) {
            return down;
        }
        return current;
    }

    private int rateLimit(long now, int current, int stabilized) {
        if (stabilized == current) {
            return current;
        }
        boolean up = stabilized > current;
        ScalingSpec.Behavior b = up ? spec.scaleUp() : spec.scaleDown();
        if (b.select() == ScalingSpec.Select.DISABLED) {
            return current;
        }
        Integer limit = null;
        for (ScalingSpec.Policy p : b.policies()) {
            long from = now - p.periodSeconds() * 1000L;
            int moved = 0;
            for (long[] c : changes) {
                if (c[0] > from && (c[1] > 0) == up) {
                    moved += (int) c[1];
                }
            }
            int start = current - moved; // the count at the period's start (moves in this direction undone)
            int l;
            if (up) {
                l = p.type() == ScalingSpec.Policy.Type.PODS ? start + p.value() : (int) Math.ceil(start * (1 + p.value() / 100.0) - EPS);
            } else {
                l = p.type() == ScalingSpec.Policy.Type.PODS ? start - p.value() : (int) Math.floor(start * (1 - p.value() / 100.0) + EPS);
            }
            // MAX: the policy allowing the most change; MIN: the least
            boolean take = limit == null || (b.select() == ScalingSpec.Select.MAX ? (up ? l > limit : l < limit) : (up ? l < limit : l > limit));
            if (take) {
                limit = l;
            }
        }
        return up ? Math.max(current, Math.min(stabilized, limit)) : Math.min(current, Math.max(stabilized, limit));
    }

    private long window() {
        return Math.max(spec.scaleUp().stabilizationWindowSeconds(), spec.scaleDown().stabilizationWindowSeconds()) * 1000L;
    }

    private long maxPeriodMillis() {
        int p = 0;
        for (ScalingSpec.Behavior b : List.of(spec.scaleUp(), spec.scaleDown())) {
            for (ScalingSpec.Policy x : b.policies()) {
                p = Math.max(p, x.periodSeconds());
            }
        }
        return p * 1000L;
    }

    private static void remember(Deque<long[]> q, long now, long value, long keepMillis) {
        q.addLast(new long[] {now, value});
        while (!q.isEmpty() && q.peekFirst()[0] < now - keepMillis) {
            q.removeFirst();
        }
    }
}
