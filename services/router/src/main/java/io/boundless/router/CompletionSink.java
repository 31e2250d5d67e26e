package io.boundless.router;

import io.boundless.proto.router.v1.GenerateResponse;
import io.grpc.StatusRuntimeException;

/**
 * Where a request's output goes (the gRPC stream or an HTTP response). Calls come one at a time,
 * never concurrently: chunks in order, then exactly one of onCompleted (after a chunk with usage) or
 * onError.
 */
public interface CompletionSink {
    void onChunk(GenerateResponse chunk);

    void onError(StatusRuntimeException error);

    void onCompleted();
}
