package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.cli.LocalPlatform;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Overload on {@code boundless up}'s processes (two replicas of the default model, a router admitting 8 requests at
 * once, 4 of them batch): the platform's capacity is measured first (requests per second with 8 clients), then
 * requests arrive open-loop at 10× that rate for 12 s, half interactive and half batch. What must hold: every
 * answer is 200 or 429 (nothing else, nothing hangs), a 429 comes at once (the router never queues: median under
 * 100 ms, p99 under 2 s on a 2-core machine that also runs the platform and this load) with Retry-After, admitted
 * interactive requests keep their median latency within {@value #LATENCY_FACTOR}× the median at capacity, interactive
 * requests are admitted before batch ones, the router's resident memory stays under {@value #RSS_LIMIT_MB} MB, and once
 * the load stops every request is served again at the unloaded latency. The figures go to e2e/target/overload.tsv (docs/PERFORMANCE.md "Reliability").
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OverloadE2ETest {
    static final int GRPC = 19350;
    static final int HTTP = 18350;
    static final int MAX_IN_FLIGHT = 8;
    static final double LATENCY_FACTOR = 2.5;
    static final int RSS_LIMIT_MB = 400;
    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).executor(Executors.newVirtualThreadPerTaskExecutor())
            .build();
    private LocalPlatform platform;

    @BeforeAll
    void start() throws Exception {
        Path work = root.resolve("e2e/target/overload-e2e");
        Files.createDirectories(work);
        platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 2, GRPC, HTTP, Map.of("BOUNDLESS_ROUTER_MAX_IN_FLIGHT",
                String.valueOf(MAX_IN_FLIGHT), "BOUNDLESS_ROUTER_BATCH_MAX_IN_FLIGHT", String.valueOf(MAX_IN_FLIGHT / 2)), Map.of(), Map.of()));
        platform.start(Duration.ofMinutes(4));
    }

    @AfterAll
    void stop() {
        if (platform != null) {
            platform.close();
        }
    }

    /** One answer; body only where it is neither served nor shed (what went wrong). */
    record Result(boolean batch, int status, double seconds, String retryAfter, String body) {}

    private Result call(boolean batch) {
        String body = "{\"model\":\"default-random\",\"prompt\":\"The weather today is\",\"max_tokens\":16,\"temperature\":0,\"priority\":\""
                + (batch ? "batch" : "interactive") + "\"}";
        long t0 = System.nanoTime();
        try {
            var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/completions")).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            return new Result(batch, r.statusCode(), (System.nanoTime() - t0) / 1e9, r.headers().firstValue("Retry-After").orElse(null),
                    r.statusCode() == 200 || r.statusCode() == 429 ? null : r.body());
        } catch (Exception e) {
            return new Result(batch, -1, (System.nanoTime() - t0) / 1e9, null, e.toString());
        }
    }

    static double quantile(List<Double> xs, double q) {
        if (xs.isEmpty()) {
            return Double.NaN;
        }
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.get(Math.min(s.size() - 1, (int) Math.floor(q * s.size())));
    }

    private long rssMb() {
        ProcessHandle p = platform.process("router");
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
                }
            }
        } catch (Exception e) {
            return -1;
        }
        return -1;
    }

    @Test
    void atTenTimesCapacityTheRouterShedsAtOnceKeepsAdmittedLatencyAndRecovers() throws Exception {
        for (int i = 0; i < 3; i++) {
            assertThat(call(false).status()).isEqualTo(200);  // warm up
        }
        List<Double> unloaded = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Result r = call(false);
            assertThat(r.status()).isEqualTo(200);
            unloaded.add(r.seconds());
        }
        double base = quantile(unloaded, 0.5);

        // capacity: 8 closed-loop clients (the admission limit) for 6 s
        ConcurrentLinkedQueue<Result> saturated = new ConcurrentLinkedQueue<>();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(6);
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < MAX_IN_FLIGHT; c++) {
                pool.submit(() -> {
                    while (System.nanoTime() < until) {
                        saturated.add(call(false));
                    }
                });
            }
        }
        double capacity = saturated.stream().filter(r -> r.status() == 200).count() / 6.0;
        double atCapacity = quantile(saturated.stream().filter(r -> r.status() == 200).map(Result::seconds).toList(), 0.5);
        assertThat(capacity).isPositive();

        // 10x: open loop, each arrival its own virtual thread; the router's memory sampled every 200 ms
        double rate = 10 * capacity;
        int seconds = 12;
        int arrivals = (int) Math.round(rate * seconds);
        ConcurrentLinkedQueue<Result> results = new ConcurrentLinkedQueue<>();
        List<Long> rss = Collections.synchronizedList(new ArrayList<>());
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        sampler.scheduleAtFixedRate(() -> rss.add(rssMb()), 0, 200, TimeUnit.MILLISECONDS);
        long t0 = System.nanoTime();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < arrivals; i++) {
                long at = t0 + (long) (i / rate * 1e9);
                long wait = at - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                boolean batch = (i & 1) == 1;
                pool.submit(() -> results.add(call(batch)));
            }
        }
        sampler.shutdownNow();
        double offeredSeconds = (System.nanoTime() - t0) / 1e9;

        List<Result> all = new ArrayList<>(results);
        assertThat(all).hasSize(arrivals);
        assertThat(all).allSatisfy(r -> assertThat(r.status()).as("every answer is served or shed").isIn(200, 429));
        List<Result> shed = all.stream().filter(r -> r.status() == 429).toList();
        assertThat(shed).as("10x the capacity is shed in part").isNotEmpty();
        assertThat(shed).allSatisfy(r -> assertThat(r.retryAfter()).isNotNull());
        double shedP99 = quantile(shed.stream().map(Result::seconds).toList(), 0.99);
        List<Double> admittedInteractive = all.stream().filter(r -> r.status() == 200 && !r.batch()).map(Result::seconds).toList();
        double admittedP50 = quantile(admittedInteractive, 0.5);
        double admittedP99 = quantile(admittedInteractive, 0.99);
        long shedInteractive = shed.stream().filter(r -> !r.batch()).count();
        long shedBatch = shed.stream().filter(Result::batch).count();
        long maxRss = rss.stream().mapToLong(Long::longValue).max().orElse(-1);

        // recovery: once the load stops, every request is served, at about the unloaded latency
        List<Double> after = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Result r = call(i % 2 == 1);
            assertThat(r.status()).as("served after the load").isEqualTo(200);
            after.add(r.seconds());
        }
        double afterP50 = quantile(after, 0.5);

        String figures = String.format(Locale.ROOT, """
                measure\tvalue
                unloaded latency p50 (s)\t%.3f
                capacity (requests/s at %d in flight)\t%.1f
                offered (requests/s, 10x)\t%.1f
                requests offered\t%d
                admitted interactive / batch\t%d / %d
                shed interactive / batch\t%d / %d
                latency p50 at capacity (s)\t%.3f
                shed latency p50 / p99 (ms)\t%.1f / %.1f
                admitted interactive latency p50 / p99 (s)\t%.3f / %.3f
                admitted p50 / unloaded p50\t%.2f
                router RSS max (MB)\t%d
                latency p50 after the load (s)\t%.3f
                """, base, MAX_IN_FLIGHT, capacity, arrivals / offeredSeconds, arrivals, admittedInteractive.size(),
                all.stream().filter(r -> r.status() == 200 && r.batch()).count(), shedInteractive, shedBatch, atCapacity, quantile(shed.stream().map(Result::seconds).toList(), 0.5) * 1000, shedP99 * 1000, admittedP50, admittedP99,
                admittedP50 / base, maxRss, afterP50);
        Files.writeString(root.resolve("e2e/target/overload.tsv"), figures);
        System.out.println(figures);

        assertThat(quantile(shed.stream().map(Result::seconds).toList(), 0.5)).as("a refusal comes at once (s)").isLessThan(0.1);
        assertThat(shedP99).as("refusals p99 (s)").isLessThan(2);
        assertThat(admittedP50).as("admitted interactive latency within %s x the %.3f s at capacity", LATENCY_FACTOR, atCapacity)
                .isLessThan(LATENCY_FACTOR * atCapacity);
        long admittedBatch = all.stream().filter(r -> r.status() == 200 && r.batch()).count();
        assertThat((long) admittedInteractive.size()).as("interactive is admitted before batch").isGreaterThan(admittedBatch);
        assertThat(shedBatch).as("batch is shed first").isGreaterThan(shedInteractive);
        assertThat(maxRss).as("router resident memory (MB)").isPositive().isLessThan(RSS_LIMIT_MB);
        assertThat(afterP50).as("latency after the load").isLessThan(2 * base + 0.05);
    }
}
