package io.boundless.router;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.router.ResumePolicy.Action;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

class ResumePolicyTest {
    @Test
    void aReplicasFaultIsRetriedBeforeTokensAndResumedAfter() {
        for (Status.Code c : new Status.Code[] {Status.Code.UNAVAILABLE, Status.Code.INTERNAL, Status.Code.UNKNOWN, Status.Code.ABORTED,
                Status.Code.DATA_LOSS, Status.Code.RESOURCE_EXHAUSTED}) {
            assertThat(ResumePolicy.onFailure(c, false)).as("%s before tokens", c).isEqualTo(Action.RETRY);
            assertThat(ResumePolicy.onFailure(c, true)).as("%s after tokens", c).isEqualTo(Action.RESUME);
        }
    }

    @Test
    void theRequestsOwnEndIsNeitherRetriedNorResumed() {
        for (Status.Code c : new Status.Code[] {Status.Code.DEADLINE_EXCEEDED, Status.Code.CANCELLED, Status.Code.INVALID_ARGUMENT,
                Status.Code.FAILED_PRECONDITION, Status.Code.UNAUTHENTICATED, Status.Code.NOT_FOUND}) {
            assertThat(ResumePolicy.onFailure(c, false)).as("%s", c).isEqualTo(Action.FAIL);
            assertThat(ResumePolicy.onFailure(c, true)).as("%s", c).isEqualTo(Action.FAIL);
        }
    }

    @Test
    void aFullQueueIsLoadNotAFault() {
        assertThat(ResumePolicy.ejects(Status.Code.RESOURCE_EXHAUSTED)).isFalse();
        assertThat(ResumePolicy.ejects(Status.Code.UNAVAILABLE)).isTrue();
        assertThat(ResumePolicy.ejects(Status.Code.DEADLINE_EXCEEDED)).isFalse();
    }
}
