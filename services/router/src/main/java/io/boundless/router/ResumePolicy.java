package io.boundless.router;

import io.grpc.Status;

/**
 * What a request does when an inference call fails: before any token of it reached the router the whole
 * call goes to another replica (RETRY); after tokens, each unfinished sample continues on another replica
 * of the same version from the tokens it had produced (RESUME: the engine restores the sample's random
 * stream at that token, so greedy and seeded samples equal an uninterrupted run and the client sees one
 * stream); a deadline, a cancel or a refusal of the request itself ends it (FAIL), after the text of the
 * tokens already received. Plain code on plain inputs, so that every case has a test.
 */
public final class ResumePolicy {
    public enum Action { RETRY, RESUME, FAIL }

    private ResumePolicy() {}

    /**
     * @param code        how the call ended
     * @param tokensSoFar whether any token of the call's samples reached the router (on this call or before it)
     */
    public static Action onFailure(Status.Code code, boolean tokensSoFar) {
        if (!replicaFault(code)) {
            return Action.FAIL;
        }
        return tokensSoFar ? Action.RESUME : Action.RETRY;
    }

    /**
     * The codes that say the replica failed (it died, its device failed, it is shutting down, its queue is full), not the
     * request: another replica may serve it.
     */
    public static boolean replicaFault(Status.Code code) {
        return switch (code) {
            case UNAVAILABLE, INTERNAL, UNKNOWN, ABORTED, DATA_LOSS, RESOURCE_EXHAUSTED -> true;
            default -> false;
        };
    }

    /** Whether the replica is ejected for the failure (a full queue is load, not a fault). */
    public static boolean ejects(Status.Code code) {
        return replicaFault(code) && code != Status.Code.RESOURCE_EXHAUSTED;
    }
}
