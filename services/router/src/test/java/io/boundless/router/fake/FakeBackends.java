package io.boundless.router.fake;

import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Real gRPC servers on loopback for the router under test: one {@link FakeTokenizer} and four {@link FakeReplica}s,
 * started before Quarkus and named in its configuration (fast health checks, short ejections, three attempts, an
 * in-flight limit of 4, a 3 s request timeout).
 */
public final class FakeBackends implements QuarkusTestResourceLifecycleManager {
    public static final FakeTokenizer TOKENIZER = new FakeTokenizer();
    public static final List<FakeReplica> REPLICAS = List.of(new FakeReplica("r0"), new FakeReplica("r1"), new FakeReplica("r2"), new FakeReplica("r3"));
    public static final int MAX_IN_FLIGHT = 4;
    private final List<Server> servers = new ArrayList<>();
    /** What the fakes received as W3C trace context: {method, traceparent header or null}, in arrival order. */
    public static final java.util.concurrent.ConcurrentLinkedQueue<String[]> TRACEPARENTS = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private static final io.grpc.Metadata.Key<String> TRACEPARENT = io.grpc.Metadata.Key.of("traceparent", io.grpc.Metadata.ASCII_STRING_MARSHALLER);
    private static final io.grpc.ServerInterceptor RECORD = new io.grpc.ServerInterceptor() {
        @Override
        public <Q, R> io.grpc.ServerCall.Listener<Q> interceptCall(io.grpc.ServerCall<Q, R> call, io.grpc.Metadata headers, io.grpc.ServerCallHandler<Q, R> next) {
            TRACEPARENTS.add(new String[] {call.getMethodDescriptor().getFullMethodName(), headers.get(TRACEPARENT)});
            return next.startCall(call, headers);
        }
    };

    @Override
    public Map<String, String> start() {
        try {
            Server tok = ServerBuilder.forPort(0).addService(io.grpc.ServerInterceptors.intercept(TOKENIZER, RECORD)).build().start();
            servers.add(tok);
            List<String> addresses = new ArrayList<>();
            for (FakeReplica r : REPLICAS) {
                Server s = ServerBuilder.forPort(0).addService(io.grpc.ServerInterceptors.intercept(r, RECORD)).build().start();
                servers.add(s);
                addresses.add("127.0.0.1:" + s.getPort());
            }
            return Map.of("boundless.router.model", "fake", "boundless.router.tokenizer", "127.0.0.1:" + tok.getPort(),
                    "boundless.router.replicas", addresses.stream().collect(Collectors.joining(",")),
                    "boundless.router.health.interval", "100ms", "boundless.router.health.ejection", "300ms",
                    "boundless.router.max-attempts", "3", "boundless.router.max-in-flight", String.valueOf(MAX_IN_FLIGHT),
                    "boundless.router.request-timeout", "3s");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void stop() {
        servers.forEach(Server::shutdownNow);
    }
}
