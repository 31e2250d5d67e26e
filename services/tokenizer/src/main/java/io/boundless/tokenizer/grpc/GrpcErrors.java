package io.boundless.tokenizer.grpc;

import io.boundless.tokenizer.InvalidRequestException;
import io.boundless.tokenizer.LimitExceededException;
import io.boundless.tokenizer.ModelLoadException;
import io.boundless.tokenizer.UnknownModelException;
import io.boundless.tokenizer.template.TemplateException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.jboss.logging.Logger;

/** The one mapping from domain exceptions to gRPC status. Clients get a message, never a stack trace. */
final class GrpcErrors {
    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);

    static StatusRuntimeException toStatus(Throwable t) {
        Status status = switch (t) {
            case StatusRuntimeException s -> s.getStatus();
            case UnknownModelException e -> Status.NOT_FOUND.withDescription(e.getMessage());
            case InvalidRequestException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
            case LimitExceededException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
            case TemplateException e -> Status.INVALID_ARGUMENT.withDescription("chat template error: " + e.getMessage());
            case ModelLoadException e -> {
                LOG.error(e.getMessage(), e);
                yield Status.FAILED_PRECONDITION.withDescription(e.getMessage());
            }
            case OutOfMemoryError e -> {
                LOG.error("out of memory serving a request", e);
                yield Status.RESOURCE_EXHAUSTED.withDescription("the server ran out of memory for this request");
            }
            default -> {
                LOG.error("unexpected error serving a request", t);
                yield Status.INTERNAL.withDescription("internal error (" + t.getClass().getSimpleName() + "); see the server log");
            }
        };
        return status.asRuntimeException();
    }

    private GrpcErrors() {}
}
