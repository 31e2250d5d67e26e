package io.boundless.router.control;

import io.boundless.router.endpoints.Replica;
import io.boundless.router.rollout.ModelDeployment;
import java.util.List;
import java.util.Set;

/**
 * The replicas of each (version, pool) and how their number changes, for the {@link DeploymentController}: local
 * processes ({@link ProcessFleet}) or a Deployment per (version, pool) on Kubernetes. The controller decides how many;
 * the fleet gets there, drains before it removes, and says when it cannot add (exits in a row, unschedulable pods).
 */
public interface Fleet extends AutoCloseable {
    /** A (version, pool). */
    record Key(String version, String pool) {}

    /** Where the fleet reports what it did (the controller's events: Kubernetes Events there). */
    interface Events {
        void event(long now, String type, String reason, String message);
    }

    /**
     * What the fleet knows of a (version, pool).
     *
     * @param serving       its replicas that take requests or will once ready (not draining)
     * @param starting      replicas that exist but the router cannot reach yet (a Pod with no ready endpoint): they count
     *                      as replicas, without load, so that the autoscaler does not add more while they load
     * @param draining      replicas leaving: no new requests, their streams finishing
     * @param limitedReason why replicas cannot be added now (ReplicasExiting, Unschedulable), or null
     * @param limited       the same in a sentence, or null
     */
    record State(List<Replica> serving, int starting, int draining, String limitedReason, String limited) {
        public static final State EMPTY = new State(List.of(), 0, 0, null, null);

        /** The replicas there are, not counting the ones leaving. */
        public int current() {
            return serving.size() + starting;
        }
    }

    /** Once a tick, before the controller decides: notices replicas that exited and drains that finished. */
    void observe(long now, Events events);

    State state(Key key);

    /** Every (version, pool) it has replicas of (a version that left the spec is drained through these). */
    Set<Key> keys();

    /**
     * Gets {@code key} to {@code desired} replicas: starts replicas (unless limited), or drains the ones to remove.
     * {@code source} and {@code pool} are null for a version or pool that left the spec (desired is 0 then).
     */
    void scale(Key key, String source, ModelDeployment.Pool pool, double capacity, int desired, String why, long now, Events events);

    /** Stops what it started (locally: every process; on Kubernetes: nothing, the cluster keeps it). */
    @Override
    void close();
}
