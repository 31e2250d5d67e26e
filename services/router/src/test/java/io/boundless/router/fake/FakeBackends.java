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

    @Override
    public Map<String, String> start() {
        try {
            Server tok = ServerBuilder.forPort(0).addService(TOKENIZER).build().start();
            servers.add(tok);
            List<String> addresses = new ArrayList<>();
            for (FakeReplica r : REPLICAS) {
                Server s = ServerBuilder.forPort(0).addService(r).build().start();
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
