package io.boundless.inference.grpc;

import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.sched.Engine;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.jboss.logging.Logger;

/** The one mapping from engine exceptions to gRPC status. Clients get a message, never a stack trace. */
final class GrpcErrors {
    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);

    static StatusRuntimeException toStatus(Throwable t) {
        Status status = switch (t) {
            case StatusRuntimeException s -> s.getStatus();
            case Engine.OverloadedException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
            case Engine.UnavailableException e -> Status.UNAVAILABLE.withDescription(e.getMessage());
            case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
            case ModelFormatException e -> Status.FAILED_PRECONDITION.withDescription(e.getMessage());
            case IllegalStateException e -> Status.FAILED_PRECONDITION.withDescription(e.getMessage());
            default -> {
                LOG.error("unexpected error serving a request", t);
                yield Status.INTERNAL.withDescription("internal error (" + t.getClass().getSimpleName() + "); see the server log");
            }
        };
        return status.asRuntimeException();
    }

    private GrpcErrors() {}
}
