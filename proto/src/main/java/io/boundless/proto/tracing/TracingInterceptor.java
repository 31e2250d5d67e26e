package io.boundless.proto.tracing;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapSetter;

/**
 * The client side of a traced hop on the channels the services build themselves (Quarkus instruments only the
 * clients it injects): a CLIENT span per call, child of the OpenTelemetry context current when the call starts, and
 * that context in the call's headers (W3C traceparent, the propagators configured), so the server's span is its
 * child; a call outside any trace (the health checks) is not traced. The services' servers are instrumented by Quarkus. The OpenTelemetry in use is the service's, set at start
 * by {@link TracingSetup}; until then (and with the SDK off) nothing is recorded or sent.
 */
public final class TracingInterceptor implements ClientInterceptor {
    private static volatile OpenTelemetry otel = OpenTelemetry.noop();
    private static final TracingInterceptor INSTANCE = new TracingInterceptor();
    private static final TextMapSetter<Metadata> SETTER = (headers, key, value) -> {
        if (headers != null) {
            headers.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value);
        }
    };

    /**
     * The parent of a call's span where it is not the current context: a request's context, captured where it arrived,
     * for calls made later from other threads ({@code stub.withOption(PARENT, context)}).
     */
    public static final CallOptions.Key<Context> PARENT = CallOptions.Key.create("boundless.trace-parent");

    private TracingInterceptor() {}

    /** The interceptor to put on a channel. */
    public static ClientInterceptor client() {
        return INSTANCE;
    }

    /** The service's OpenTelemetry (Quarkus' bean). */
    public static void use(OpenTelemetry openTelemetry) {
        otel = openTelemetry;
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        OpenTelemetry t = otel;
        Context parent = options.getOption(PARENT) != null ? options.getOption(PARENT) : Context.current();
        if (!Span.fromContext(parent).getSpanContext().isValid()) {
            return next.newCall(method, options);  // not part of a trace (a health check): no root span of its own
        }
        Span span = t.getTracer("io.boundless").spanBuilder(method.getFullMethodName()).setSpanKind(SpanKind.CLIENT).setParent(parent)
                .setAttribute("rpc.system", "grpc").setAttribute("rpc.service", String.valueOf(method.getServiceName()))
                .setAttribute("rpc.method", String.valueOf(method.getBareMethodName())).setAttribute("server.address", next.authority())
                .startSpan();
        Context context = parent.with(span);
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
            @Override
            public void start(Listener<R> listener, Metadata headers) {
                t.getPropagators().getTextMapPropagator().inject(context, headers, SETTER);
                super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                    @Override
                    public void onClose(Status status, Metadata trailers) {
                        span.setAttribute("rpc.grpc.status_code", status.getCode().value());
                        if (!status.isOk()) {
                            span.setStatus(StatusCode.ERROR, status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription()));
                        }
                        span.end();
                        super.onClose(status, trailers);
                    }
                }, headers);
            }

            @Override
            public void cancel(String message, Throwable cause) {
                span.setStatus(StatusCode.ERROR, "cancelled: " + message);
                super.cancel(message, cause);
            }
        };
    }
}
