package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningPath;
import io.boundless.proto.router.v1.ReasoningStage;
import io.grpc.StatusRuntimeException;

/** Where a reasoning request's events go, in order, from one thread: stages and paths, then exactly one of result or error. */
public interface ReasoningSink {
    void stage(ReasoningStage stage);

    void path(ReasoningPath path);

    void result(ReasonResult result);

    void error(StatusRuntimeException error);
}
