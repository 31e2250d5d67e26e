package io.boundless.router.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Puts the call's "authorization" metadata into the gRPC context, where the service checks it, and the call's
 * metadata, where the service reads the session header that keeps a user on one model version.
 */
@ApplicationScoped
@GlobalInterceptor
public class AuthInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> CREDENTIALS = Context.key("boundless-authorization");
    static final Context.Key<Metadata> HEADERS = Context.key("boundless-headers");

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String value = headers.get(AUTHORIZATION);
        return Contexts.interceptCall(Context.current().withValue(CREDENTIALS, value).withValue(HEADERS, headers), call, headers, next);
    }
}
