package io.boundless.router.control;

import io.boundless.router.rollout.ModelDeployment;

/**
 * Carries out the controller's decisions about replicas: the only part that knows what a replica is made of (a
 * local process here; a Pod of a Deployment per (version, pool) on Kubernetes). The controller decides when to start
 * one, drains it (no new requests, its streams finish) and only then asks to stop it.
 */
public interface ReplicaManager extends AutoCloseable {
    /** A started replica: an id for logs and status, the gRPC address it will serve on, and what it serves. */
    record Handle(String id, String address, String version, String pool) {}

    /** Starts one replica of the version (its model-store source) in the pool. It is not ready yet: the health checks say when. */
    Handle start(String version, String source, ModelDeployment.Pool pool) throws Exception;

    /** Whether the replica still runs (a process that exited, a Pod that is gone: no). */
    boolean alive(Handle h);

    /** Why a replica that is not alive stopped, in one line (its exit code, the reason it logged), or null. */
    default String exitReason(Handle h) {
        return null;
    }

    /** Stops it gracefully (SIGTERM: the inference service finishes what it still holds within its grace period). */
    void stop(Handle h);

    /** Stops every replica it started. */
    @Override
    void close();
}
