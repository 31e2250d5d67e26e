package io.boundless.router.autoscale;

import java.util.List;

/**
 * How one (version, pool) scales, in the names Kubernetes' HorizontalPodAutoscaler uses.
 *
 * @param minReplicas  the fewest replicas, also at zero traffic
 * @param maxReplicas  the most replicas
 * @param targets      the per-replica targets; each one set is a metric the desired count is computed from
 * @param scaleUp      how fast it may grow (default: no stabilization, +100% or +4 replicas per 15 s, the larger)
 * @param scaleDown    how fast it may shrink (default: a 300 s stabilization window, -100% per 15 s)
 * @param tolerance    a metric within this fraction of its target changes nothing (0.1, as HPA)
 */
public record ScalingSpec(int minReplicas, int maxReplicas, Targets targets, Behavior scaleUp, Behavior scaleDown, double tolerance) {

    public ScalingSpec {
        if (minReplicas < 0 || maxReplicas < Math.max(1, minReplicas)) {
            throw new IllegalArgumentException("replicas must satisfy 0 <= minReplicas <= maxReplicas and maxReplicas >= 1, not min "
                    + minReplicas + ", max " + maxReplicas);
        }
        if (targets == null || !targets.any()) {
            throw new IllegalArgumentException("autoscaling needs at least one target (utilization, queueDepthPerReplica or kvUsage)");
        }
        if (tolerance < 0 || tolerance >= 1) {
            throw new IllegalArgumentException("tolerance is a fraction from 0 to below 1, not " + tolerance);
        }
        scaleUp = scaleUp == null ? Behavior.DEFAULT_UP : scaleUp;
        scaleDown = scaleDown == null ? Behavior.DEFAULT_DOWN : scaleDown;
    }

    /**
     * Per-replica targets; null where not used.
     *
     * @param utilization          the accelerator's busy fraction (NVML where present, else the engine's), 0 to 1
     * @param queueDepthPerReplica requests waiting per replica
     * @param kvUsage              the KV cache's used fraction, 0 to 1
     */
    public record Targets(Double utilization, Double queueDepthPerReplica, Double kvUsage) {
        public Targets {
            check("utilization", utilization, true);
            check("queueDepthPerReplica", queueDepthPerReplica, false);
            check("kvUsage", kvUsage, true);
        }

        private static void check(String name, Double v, boolean fraction) {
            if (v != null && (!(v > 0) || (fraction && v > 1))) {
                throw new IllegalArgumentException("target " + name + " must be " + (fraction ? "in (0, 1]" : "positive") + ", not " + v);
            }
        }

        boolean any() {
            return utilization != null || queueDepthPerReplica != null || kvUsage != null;
        }
    }

    /** A scaling direction's stabilization window, rate policies and how the policies combine. */
    public record Behavior(int stabilizationWindowSeconds, List<Policy> policies, Select select) {
        public static final Behavior DEFAULT_UP = new Behavior(0, List.of(new Policy(Policy.Type.PERCENT, 100, 15), new Policy(Policy.Type.PODS, 4, 15)),
                Select.MAX);
        public static final Behavior DEFAULT_DOWN = new Behavior(300, List.of(new Policy(Policy.Type.PERCENT, 100, 15)), Select.MAX);

        public Behavior {
            if (stabilizationWindowSeconds < 0) {
                throw new IllegalArgumentException("stabilizationWindowSeconds must be >= 0, not " + stabilizationWindowSeconds);
            }
            policies = List.copyOf(policies);
            select = select == null ? Select.MAX : select;
            if (policies.isEmpty() && select != Select.DISABLED) {
                throw new IllegalArgumentException("a scaling behavior needs at least one policy, or selectPolicy Disabled");
            }
        }
    }

    /** At most {@code value} replicas (PODS) or percent of the replicas (PERCENT) of change per {@code periodSeconds}. */
    public record Policy(Type type, int value, int periodSeconds) {
        public enum Type { PODS, PERCENT }

        public Policy {
            if (value <= 0 || periodSeconds <= 0 || periodSeconds > 1800) {
                throw new IllegalArgumentException("a scaling policy needs value > 0 and periodSeconds in 1..1800, not " + value + " per " + periodSeconds + " s");
            }
        }
    }

    /** Which policy wins when several allow different changes: the one allowing the most (MAX), the least (MIN), or none. */
    public enum Select { MAX, MIN, DISABLED }
}
