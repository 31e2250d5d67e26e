package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.ChatResponse;
import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Faults on {@code boundless up}'s processes (two replicas of the default model; health checks every 300 ms with a 1 s
 * deadline, two failures eject): a replica frozen with SIGSTOP mid-stream — its streams continue on the other
 * replica once its health checks fail, token for token as an uninterrupted run, and it is admitted again after
 * SIGCONT; the tokenizer killed — requests get UNAVAILABLE at once with retry information, nothing hangs — and
 * restarted — requests are served again. Before the faults, mutual TLS: the tokenizer and the replicas refuse a
 * plaintext client and one with a certificate of another CA, and a renewal of every certificate takes without a
 * restart while a stream runs. Each fault's figures go to e2e/target/chaos.tsv.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChaosE2ETest {
    static final int GRPC = 19370;
    static final int HTTP = 18370;
    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private final StringBuilder figures = new StringBuilder("fault\tmeasure\tvalue\n");
    private LocalPlatform platform;
    private ManagedChannel channel;
    private RouterGrpc.RouterStub router;

    @BeforeAll
    void start() throws Exception {
        Path work = root.resolve("e2e/target/chaos-e2e");
        Files.createDirectories(work);
        platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 2, GRPC, HTTP, Map.of("BOUNDLESS_ROUTER_HEALTH_INTERVAL", "300ms",
                "BOUNDLESS_ROUTER_HEALTH_TIMEOUT", "1s", "BOUNDLESS_ROUTER_HEALTH_EJECTION", "2s", "BOUNDLESS_ROUTER_SHUTDOWN_GRACE", "2s",
                "QUARKUS_LOG_CATEGORY__IO_BOUNDLESS_ROUTER_ENDPOINTS__LEVEL", "DEBUG",
                // the default model decodes in ~2 ms a token here: a 20 ms excess would take a 10x slower replica to see
                "BOUNDLESS_ROUTER_HEALTH_LATENCY_MIN_EXCESS", "5ms"), Map.of(), Map.of()));
        platform.start(Duration.ofMinutes(4));
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
        router = RouterGrpc.newStub(channel);
    }

    @AfterAll
    void stop() throws Exception {
        Files.writeString(root.resolve("e2e/target/chaos.tsv"), figures.toString());
        System.out.print(figures);
        if (channel != null) {
            channel.shutdownNow();
        }
        if (platform != null) {
            for (String name : List.of("inference-1", "inference-2")) {
                ProcessHandle p = platform.process(name);
                if (p != null) {
                    signal(p, "CONT");  // a frozen process would not end on SIGTERM
                }
            }
            platform.close();
        }
    }

    private static void signal(ProcessHandle p, String sig) throws Exception {
        assertThat(new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).inheritIO().start().waitFor()).isZero();
    }

    private record Result(int tokens, List<Integer> ids, Status error, long firstNanos, long endNanos, io.grpc.Metadata trailers) {}

    private CompletableFuture<Result> chat(String text, int tokens, AtomicInteger started) {
        ChatRequest req = ChatRequest.newBuilder().setModel("default-random").addMessages(ChatMessage.newBuilder().setRole("user").setContent(text))
                .setSampling(Sampling.newBuilder().setMaxTokens(tokens).setTemperature(0).setIgnoreEos(true)).build();
        CompletableFuture<Result> done = new CompletableFuture<>();
        router.withDeadlineAfter(180, TimeUnit.SECONDS).chat(req, new StreamObserver<>() {
            final List<Integer> ids = new ArrayList<>();
            long first;

            @Override
            public void onNext(ChatResponse value) {
                if (ids.isEmpty() && value.getTokensCount() > 0) {
                    first = System.nanoTime();
                    started.incrementAndGet();
                }
                value.getTokensList().forEach(t -> ids.add(t.getTokenId()));
            }

            @Override
            public void onError(Throwable t) {
                done.complete(new Result(ids.size(), ids, Status.fromThrowable(t), first, System.nanoTime(), Status.trailersFromThrowable(t)));
            }

            @Override
            public void onCompleted() {
                done.complete(new Result(ids.size(), ids, null, first, System.nanoTime(), null));
            }
        });
        return done;
    }

    private int readyReplicas() {
        return RouterGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance())
                .getModels(0).getReadyReplicas();
    }

    private int load(int port) {
        ManagedChannel c = platform.channel(port);  // a replica: mutual TLS
        try {
            var l = io.boundless.proto.inference.v1.InferenceGrpc.newBlockingStub(c).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getLoad(io.boundless.proto.inference.v1.GetLoadRequest.getDefaultInstance());
            return l.getRunning() + l.getQueueDepth();
        } finally {
            c.shutdownNow();
        }
    }

    @Test
    @Order(0)
    void theInnerServicesLetInOnlyPeersWithACertificateOfThePlatformsCa() throws Exception {
        Path tls = platform.tlsDirectory();
        int tokenizer = GRPC + 1;
        int replica = GRPC + 2;
        for (int port : new int[] {tokenizer, replica}) {
            // plaintext
            ManagedChannel plain = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
            // a certificate of another CA, which the client trusts besides the platform's
            Path other = Files.createDirectories(root.resolve("e2e/target/chaos-e2e/foreign-tls"));
            io.boundless.proto.tls.LocalCa.inDirectory(other, "foreign-ca").issue("intruder", List.of(), List.of(), Duration.ofDays(1)).write(other, "intruder");
            Files.writeString(other.resolve("both.crt"), Files.readString(other.resolve("ca.crt")) + Files.readString(tls.resolve("ca.crt")));
            var intruderTls = io.boundless.proto.tls.PeerTls.load(other.resolve("intruder.crt"), other.resolve("intruder.key"), other.resolve("both.crt"));
            ManagedChannel intruder = io.boundless.proto.tls.PeerTls.channelBuilder(intruderTls, "127.0.0.1", port).build();
            try {
                for (ManagedChannel c : List.of(plain, intruder)) {
                    long t0 = System.nanoTime();
                    var e = org.assertj.core.api.Assertions.catchThrowableOfType(StatusRuntimeException.class, () -> io.boundless.proto.inference.v1.InferenceGrpc
                            .newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS).getLoad(io.boundless.proto.inference.v1.GetLoadRequest.getDefaultInstance()));
                    assertThat(e).as("refused on " + port).isNotNull();
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                    figures.append("mtls\trefused ").append(c == plain ? "plaintext" : "foreign CA").append(" on ").append(port == tokenizer ? "tokenizer" : "replica")
                            .append(" (ms)\t").append((System.nanoTime() - t0) / 1_000_000).append('\n');
                }
            } finally {
                plain.shutdownNow();
                intruder.shutdownNow();
                intruderTls.close();
            }
        }
        // the platform's own certificate is let in (the replica answers GetLoad; the tokenizer answered at start)
        assertThat(load(replica)).isZero();
    }

    @Test
    @Order(1)
    void renewedCertificatesTakeWithoutARestartAndNothingFailsMeanwhile() throws Exception {
        var before = io.boundless.proto.tls.PeerTls.servedCertificate("127.0.0.1", GRPC + 1, platform.clientTls()).getSerialNumber();
        var pids = platform.services().stream().collect(java.util.stream.Collectors.toMap(LocalPlatform.Service::name, s -> platform.process(s.name()).pid()));
        AtomicInteger started = new AtomicInteger();
        CompletableFuture<Result> during = chat("a story told while the certificates change", 200, started);
        long renewed = System.nanoTime();
        platform.issueCertificates();
        for (int port : new int[] {GRPC + 1, GRPC + 2, GRPC + 3}) {
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).until(() ->
                    !io.boundless.proto.tls.PeerTls.servedCertificate("127.0.0.1", port, platform.clientTls()).getSerialNumber().equals(before));
        }
        figures.append("mtls\tevery inner service shows its renewed certificate after (ms)\t").append((System.nanoTime() - renewed) / 1_000_000).append('\n');
        Result r = during.get(120, TimeUnit.SECONDS);
        assertThat(r.error()).as("the stream in flight while certificates changed").isNull();
        assertThat(r.tokens()).isEqualTo(200);
        // the router's calls after the renewal (its own certificate renewed too) are served
        assertThat(chat("and one after", 5, new AtomicInteger()).get(60, TimeUnit.SECONDS).error()).isNull();
        assertThat(platform.services()).allSatisfy(s -> assertThat(platform.process(s.name()).pid()).as(s.name() + " not restarted").isEqualTo(pids.get(s.name())));
    }

    @Test
    @Order(2)
    void aFrozenReplicasStreamsContinueElsewhereAndItIsAdmittedAgainWhenItWakes() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> readyReplicas() == 2);
        int streams = 4;
        int tokens = 600;
        AtomicInteger started = new AtomicInteger();
        List<CompletableFuture<Result>> running = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            running.add(chat(i + " is the number of the story you tell me now, frozen or not", tokens, started));
            int n = i + 1;
            await().atMost(Duration.ofSeconds(60)).until(() -> started.get() == n);  // one at a time: spread by load
        }
        int onFirst = load(GRPC + 2);
        assertThat(onFirst).as("streams on both replicas").isBetween(1, streams - 1);
        ProcessHandle victim = platform.process("inference-1");
        long frozenAt = System.nanoTime();
        signal(victim, "STOP");
        List<Result> results = new ArrayList<>();
        for (var f : running) {
            results.add(f.get(150, TimeUnit.SECONDS));  // none hangs until its deadline
        }
        double recovered = (results.stream().mapToLong(Result::endNanos).max().orElseThrow() - frozenAt) / 1e9;
        assertThat(results).as("no stream is lost: the frozen replica's continue on the other").allSatisfy(r -> {
            assertThat(r.error()).isNull();
            assertThat(r.tokens()).isEqualTo(tokens);
        });
        assertThat(readyReplicas()).as("the frozen replica is not admitted").isEqualTo(1);
        signal(victim, "CONT");
        long woke = System.nanoTime();
        await().atMost(Duration.ofSeconds(30)).until(() -> readyReplicas() == 2);
        double readmitted = (System.nanoTime() - woke) / 1e9;
        // the same requests uninterrupted: token for token what the resumed streams gave
        for (int i = 0; i < streams; i++) {
            Result again = chat(i + " is the number of the story you tell me now, frozen or not", tokens, new AtomicInteger()).get(150, TimeUnit.SECONDS);
            assertThat(again.ids()).as("stream %d resumed seamlessly", i).isEqualTo(results.get(i).ids());
        }
        figures.append(String.format(java.util.Locale.ROOT, "SIGSTOP replica\tstreams carried by it / lost\t%d / 0\n", onFirst));
        figures.append(String.format(java.util.Locale.ROOT, "SIGSTOP replica\tfrozen to the last stream ended (s)\t%.1f\n", recovered));
        figures.append(String.format(java.util.Locale.ROOT, "SIGSTOP replica\tSIGCONT to admitted again (s)\t%.1f\n", readmitted));
    }

    private HttpResponse<String> complete() throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/completions")).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"default-random\",\"prompt\":\"Hello\",\"max_tokens\":4}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    @Order(3)
    void withTheTokenizerDownRequestsFailAtOnceWithRetryInformationAndAreServedWhenItIsBack() throws Exception {
        assertThat(complete().statusCode()).isEqualTo(200);
        platform.kill("tokenizer");
        long t0 = System.nanoTime();
        var down = complete();
        double refusedIn = (System.nanoTime() - t0) / 1e9;
        assertThat(down.statusCode()).as(down.body()).isEqualTo(503);
        assertThat(down.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(down.body()).contains("the tokenizer service failed: UNAVAILABLE");
        try {
            RouterGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).chat(ChatRequest.newBuilder().setModel("default-random")
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hi")).build()).next();
            throw new AssertionError("the chat succeeded without a tokenizer");
        } catch (StatusRuntimeException e) {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(e.getTrailers().get(io.grpc.Metadata.Key.of("retry-after", io.grpc.Metadata.ASCII_STRING_MARSHALLER))).isEqualTo("1");
        }
        long restart = System.nanoTime();
        platform.restart("tokenizer");
        platform.awaitReady("tokenizer", Duration.ofMinutes(2));
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> complete().statusCode() == 200);
        double back = (System.nanoTime() - restart) / 1e9;
        figures.append(String.format(java.util.Locale.ROOT, "tokenizer killed\trefused in (ms)\t%.0f\n", refusedIn * 1000));
        figures.append(String.format(java.util.Locale.ROOT, "tokenizer killed\trestart to served again (s)\t%.1f\n", back));
    }

    private String routerLog() throws IOException {
        return Files.readString(root.resolve("e2e/target/chaos-e2e/logs/router.log"));
    }

    @Test
    @Order(4)
    void aSlowReplicaIsEjectedByLatencyItsStreamsContinueOnTheOtherAndItComesBack() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> readyReplicas() == 2);
        ProcessHandle victim = platform.process("inference-1");
        // slowed, not frozen: awake 20 ms of every ~120, so it answers its health checks (within 1 s) but decodes several times slower
        var slowing = new java.util.concurrent.atomic.AtomicBoolean(true);
        Thread slower = Thread.ofPlatform().daemon().start(() -> {
            try {
                while (slowing.get()) {
                    signal(victim, "STOP");
                    java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
                    signal(victim, "CONT");
                    java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            } finally {
                try {
                    signal(victim, "CONT");
                } catch (Exception e) {
                    // the process is gone: nothing to wake
                }
            }
        });
        long slowedAt = System.nanoTime();
        int streams = 4;
        int tokens = 400;
        AtomicInteger started = new AtomicInteger();
        List<CompletableFuture<Result>> running = new ArrayList<>();
        try {
            for (int i = 0; i < streams; i++) {
                running.add(chat(i + " is the number of the slow story", tokens, started));
                int n = i + 1;
                try {
                    await().atMost(Duration.ofSeconds(60)).until(() -> started.get() == n);  // one at a time: spread by load
                } catch (org.awaitility.core.ConditionTimeoutException e) {
                    throw new AssertionError("stream " + n + " did not start; replicas' running + queued: " + load(GRPC + 2) + ", " + load(GRPC + 3)
                            + "; ready " + readyReplicas(), e);
                }
            }
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).until(() -> routerLog().contains("a latency outlier"));
            double ejectedAfter = (System.nanoTime() - slowedAt) / 1e9;
            List<Result> results = new ArrayList<>();
            for (var f : running) {
                results.add(f.get(150, TimeUnit.SECONDS));
            }
            double allDone = (System.nanoTime() - slowedAt) / 1e9;
            assertThat(results).as("no stream is lost: the slow replica's continue on the other").allSatisfy(r -> {
                assertThat(r.error()).isNull();
                assertThat(r.tokens()).isEqualTo(tokens);
            });
            assertThat(routerLog()).containsPattern("ejecting inference replica 127\\.0\\.0\\.1:" + (GRPC + 2) + " for \\d+ ms: a latency outlier");
            assertThat(platform.get("http://127.0.0.1:" + HTTP + "/q/metrics")).isEqualTo(200);
            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(metrics).containsPattern("boundless_router_replica_latency_ejections_total [1-9]");
            figures.append(String.format(java.util.Locale.ROOT, "slow replica (SIGSTOP 100 ms, SIGCONT 20 ms)\tslowed to ejected by latency (s)\t%.1f\n", ejectedAfter));
            figures.append(String.format(java.util.Locale.ROOT, "slow replica (SIGSTOP 100 ms, SIGCONT 20 ms)\tstreams lost\t0 of %d\n", streams));
            figures.append(String.format(java.util.Locale.ROOT, "slow replica (SIGSTOP 100 ms, SIGCONT 20 ms)\tslowed to its streams all done (s)\t%.1f\n", allDone));
        } finally {
            slowing.set(false);
            slower.join();
        }
        long woke = System.nanoTime();
        await().atMost(Duration.ofSeconds(60)).until(() -> readyReplicas() == 2);
        figures.append(String.format(java.util.Locale.ROOT, "slow replica (SIGSTOP 100 ms, SIGCONT 20 ms)\tfast again to admitted (s)\t%.1f\n", (System.nanoTime() - woke) / 1e9));
    }

    /** The test's channel to the router reconnects at once (not after gRPC's backoff) and a chat is served on it. */
    private void servedAgainOverGrpc() {
        channel.resetConnectBackoff();
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
            channel.resetConnectBackoff();
            return chat("are you back?", 2, new AtomicInteger()).get(10, TimeUnit.SECONDS).error() == null;
        });
    }

    private static final io.grpc.Metadata.Key<String> RETRY_AFTER = io.grpc.Metadata.Key.of("retry-after", io.grpc.Metadata.ASCII_STRING_MARSHALLER);

    @Test
    @Order(5)
    void aRouterRestartedUnderLoadEndsItsStreamsWithRetryInformationAndNothingHangs() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> readyReplicas() == 2);
        // SIGTERM: the streams in flight may finish within the shutdown grace (2 s here), the rest end with
        // UNAVAILABLE and retry-after; requests arriving meanwhile are refused the same way
        AtomicInteger started = new AtomicInteger();
        List<CompletableFuture<Result>> running = new ArrayList<>();
        running.add(chat("a short one", 8, started));
        for (int i = 0; i < 3; i++) {
            running.add(chat(i + " a story longer than the router's shutdown grace", 5000, started));
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> started.get() == 4);
        long stopAt = System.nanoTime();
        var stopped = CompletableFuture.supplyAsync(() -> {
            try {
                return platform.terminate("router", Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        List<Result> results = new ArrayList<>();
        for (var f : running) {
            results.add(f.get(20, TimeUnit.SECONDS));  // nothing hangs: all ended within the grace and a little
        }
        double ended = (results.stream().mapToLong(Result::endNanos).max().orElseThrow() - stopAt) / 1e9;
        assertThat(stopped.get(30, TimeUnit.SECONDS)).as("the router exits by itself after SIGTERM").isTrue();
        double exited = (System.nanoTime() - stopAt) / 1e9;
        assertThat(results.getFirst().error()).as("the short stream finished within the grace").isNull();
        assertThat(results.getFirst().tokens()).isEqualTo(8);
        for (Result r : results.subList(1, results.size())) {
            assertThat(r.error()).as("a stream longer than the grace").isNotNull();
            assertThat(r.error().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(r.error().getDescription()).contains("the router is shutting down").contains("retry it");
            assertThat(r.tokens()).as("the text sent before the end").isPositive().isLessThan(5000);
            assertThat(r.trailers().get(RETRY_AFTER)).as("retry information").isEqualTo("1");
        }
        assertThat(routerLog()).contains("requests still running after PT2S end with UNAVAILABLE and Retry-After");
        // a restart: served again
        long restart = System.nanoTime();
        platform.restart("router");
        platform.awaitReady("router", Duration.ofMinutes(2));
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> complete().statusCode() == 200);
        double back = (System.nanoTime() - restart) / 1e9;
        servedAgainOverGrpc();

        // SIGKILL (a crash): the streams end at once with UNAVAILABLE from the client's own transport; none hangs
        AtomicInteger started2 = new AtomicInteger();
        List<CompletableFuture<Result>> crashed = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            crashed.add(chat(i + " a story the router will not finish", 5000, started2));
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> started2.get() == 3);
        long killAt = System.nanoTime();
        platform.kill("router");
        for (var f : crashed) {
            Result r = f.get(10, TimeUnit.SECONDS);
            assertThat(r.error()).isNotNull();
            assertThat(r.error().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        }
        double crashEnded = (System.nanoTime() - killAt) / 1e9;
        // new calls while it is down fail at once too (connection refused), not at their deadlines
        long t0 = System.nanoTime();
        Result down = chat("anyone there?", 4, new AtomicInteger()).get(10, TimeUnit.SECONDS);
        assertThat(down.error().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        double refusedDown = (System.nanoTime() - t0) / 1e9;
        platform.restart("router");
        platform.awaitReady("router", Duration.ofMinutes(2));
        servedAgainOverGrpc();
        figures.append(String.format(java.util.Locale.ROOT, "router SIGTERM under load\tstreams past the 2 s grace ended, with retry-after, after (s)\t%.1f\n", ended));
        figures.append(String.format(java.util.Locale.ROOT, "router SIGTERM under load\texited after (s)\t%.1f\n", exited));
        figures.append(String.format(java.util.Locale.ROOT, "router SIGTERM under load\trestart to served again (s)\t%.1f\n", back));
        figures.append(String.format(java.util.Locale.ROOT, "router SIGKILL under load\tits streams ended UNAVAILABLE after (s)\t%.2f\n", crashEnded));
        figures.append(String.format(java.util.Locale.ROOT, "router SIGKILL under load\ta call while it is down refused in (ms)\t%.0f\n", refusedDown * 1000));
    }
}
