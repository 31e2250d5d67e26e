package io.boundless.e2e.bench;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.AdminGrpc;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.ChatResponse;
import io.boundless.proto.router.v1.GetDeploymentStatusRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The autoscaler against static peak provisioning on a committed bursty trace ({@code traces/bursty.csv}: open-loop
 * Poisson arrivals, quiet at 2 req/s, two 40 s bursts at 12 req/s): the same trace through a deployment whose pool is
 * fixed at its peak of 3 replicas, then through one that autoscales from 1 to 3. Reports, per run, TTFT p50/p95/p99
 * (client side), the share of requests within the TTFT SLOs, failed requests, and replica-seconds (inference
 * processes alive each second, starting and draining ones included); for the autoscaled run also the seconds from
 * each load step to a new replica serving.
 *
 * <pre>java ... io.boundless.e2e.bench.AutoscaleBenchmark &lt;repo root&gt;</pre>
 */
public final class AutoscaleBenchmark {
    private static final int GRPC = 19900;
    private static final int HTTP = 18900;
    private static final double[] SLOS_MS = {500, 1000, 2000};

    record Outcome(long arrivalNanos, double ttftMs, boolean ok) {}

    record Run(String name, List<Outcome> outcomes, double replicaSeconds, List<Double> stepToServing, int peakReplicas) {}

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        int[] trace = trace();
        System.out.printf("# machine: %d cores; %s; trace traces/bursty.csv: %d s, %d requests expected%n", Runtime.getRuntime().availableProcessors(),
                java.time.LocalDate.now(), trace.length, java.util.Arrays.stream(trace).sum());
        Run fixed = run(root, "static peak (3 replicas)", """
                    - {name: cpu, accelerator: cpu, minReplicas: 3, maxReplicas: 3}
                """, "", trace);
        Run scaled = run(root, "autoscaled (1 to 3)", """
                    - {name: cpu, accelerator: cpu, minReplicas: 1, maxReplicas: 3}
                """, """
                  autoscaling:
                    targets: {utilization: 0.6, queueDepthPerReplica: 2}
                    behavior:
                      scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Pods, value: 2, periodSeconds: 10}]}
                      scaleDown: {stabilizationWindowSeconds: 30, policies: [{type: Pods, value: 1, periodSeconds: 15}]}
                """, trace);
        System.out.println();
        System.out.printf("%-26s %8s %8s %8s %8s %9s %9s %9s %7s %14s%n", "run", "requests", "TTFT p50", "p95", "p99", "<=500ms", "<=1000ms", "<=2000ms",
                "failed", "replica-s");
        for (Run r : List.of(fixed, scaled)) {
            List<Double> t = r.outcomes.stream().filter(Outcome::ok).map(Outcome::ttftMs).sorted().toList();
            long failed = r.outcomes.stream().filter(o -> !o.ok()).count();
            System.out.printf("%-26s %8d %8.0f %8.0f %8.0f %8.1f%% %8.1f%% %8.1f%% %7d %14.0f%n", r.name, r.outcomes.size(), q(t, 0.5), q(t, 0.95), q(t, 0.99),
                    attain(r, SLOS_MS[0]), attain(r, SLOS_MS[1]), attain(r, SLOS_MS[2]), failed, r.replicaSeconds);
        }
        for (double slo : SLOS_MS) {
            System.out.printf("SLO TTFT <= %.0f ms: autoscaled attains %.1f%% of static's attainment%n", slo, 100 * attain(scaled, slo) / attain(fixed, slo));
        }
        System.out.printf("replica-seconds: autoscaled uses %.1f%% of static's%n", 100 * scaled.replicaSeconds / fixed.replicaSeconds);
        System.out.println("seconds from a load step to a new replica serving: " + scaled.stepToServing);
    }

    static double q(List<Double> sorted, double p) {
        return sorted.isEmpty() ? Double.NaN : sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1));
    }

    /** Share of all requests (failed ones count as missing the SLO) whose TTFT was within slo. */
    static double attain(Run r, double slo) {
        long within = r.outcomes.stream().filter(o -> o.ok() && o.ttftMs() <= slo).count();
        return 100.0 * within / r.outcomes.size();
    }

    static int[] trace() throws IOException {
        try (InputStream in = AutoscaleBenchmark.class.getResourceAsStream("/traces/bursty.csv")) {
            List<Integer> rates = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#") || line.startsWith("second")) {
                    continue;
                }
                rates.add(Integer.parseInt(line.split(",")[1].strip()));
            }
            return rates.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    static Run run(Path root, String name, String pools, String autoscaling, int[] trace) throws Exception {
        Path work = root.resolve("e2e/target/bench-autoscale");
        Files.createDirectories(work);
        Path file = work.resolve("deployment.yaml");
        Files.writeString(file, """
                apiVersion: boundless.io/v1alpha1
                kind: ModelDeployment
                metadata: {name: bench}
                spec:
                  model: default-random
                  versions:
                    - {name: v1, source: default-random/1}
                  pools:
                %s%s""".formatted(pools, autoscaling));
        System.out.println("\n## " + name);
        try (LocalPlatform platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 1, GRPC, HTTP,
                Map.of("BOUNDLESS_ROUTER_HEALTH_INTERVAL", "500ms"), Map.of(), Map.of(), null, file))) {
            platform.start(Duration.ofMinutes(4));
            ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
            try {
                var admin = AdminGrpc.newBlockingStub(channel);
                long settle = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
                int initial = pools.contains("minReplicas: 3") ? 3 : 1;
                while (ready(admin) < initial && System.nanoTime() < settle) {
                    Thread.sleep(500);  // polling another process's readiness, within a deadline: there is no event to wait on
                }
                warmUp(channel);
                return drive(name, channel, admin, platform, trace);
            } finally {
                channel.shutdownNow();
            }
        }
    }

    static int ready(AdminGrpc.AdminBlockingStub admin) {
        return admin.getDeploymentStatus(GetDeploymentStatusRequest.getDefaultInstance()).getStatus().getVersionsList().stream()
                .flatMap(v -> v.getPoolsList().stream()).mapToInt(p -> p.getReady()).sum();
    }

    static ChatRequest request(int i) {
        return ChatRequest.newBuilder().setModel("default-random")
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Request number " + i + " of the bursty trace, please answer"))
                .setSampling(Sampling.newBuilder().setMaxTokens(32).setTemperature(0).setIgnoreEos(true)).build();
    }

    /** A few requests on every replica, outside the measurement. */
    static void warmUp(ManagedChannel channel) {
        var stub = RouterGrpc.newBlockingStub(channel);
        for (int i = 0; i < 30; i++) {
            stub.withDeadlineAfter(60, TimeUnit.SECONDS).chat(request(-i)).forEachRemaining(r -> { });
        }
    }

    static Run drive(String name, ManagedChannel channel, AdminGrpc.AdminBlockingStub admin, LocalPlatform platform, int[] trace) throws Exception {
        var stub = RouterGrpc.newStub(channel);
        ConcurrentLinkedQueue<Outcome> outcomes = new ConcurrentLinkedQueue<>();
        AtomicInteger inFlight = new AtomicInteger();
        SplittableRandom random = new SplittableRandom(2026);
        List<Double> stepToServing = new ArrayList<>();
        double replicaSeconds = 0;
        int peak = 0;
        int id = 0;
        long start = System.nanoTime();
        int lastReady = ready(admin);
        long stepAt = -1;
        for (int t = 0; t < trace.length; t++) {
            long secondStart = start + TimeUnit.SECONDS.toNanos(t);
            if (t > 0 && trace[t] > trace[t - 1]) {
                stepAt = secondStart;
            }
            // Poisson arrivals within the second
            double at = 0;
            List<Double> arrivals = new ArrayList<>();
            while (true) {
                at += -Math.log(1 - random.nextDouble()) / trace[t];
                if (at >= 1) {
                    break;
                }
                arrivals.add(at);
            }
            for (double a : arrivals) {
                long when = secondStart + (long) (a * 1e9);
                long wait = when - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                long sent = System.nanoTime();
                inFlight.incrementAndGet();
                stub.withDeadlineAfter(120, TimeUnit.SECONDS).chat(request(id++), new StreamObserver<ChatResponse>() {
                    double ttft = -1;

                    @Override
                    public void onNext(ChatResponse r) {
                        if (ttft < 0 && r.getTokensCount() > 0) {
                            ttft = (System.nanoTime() - sent) / 1e6;
                        }
                    }

                    @Override
                    public void onError(Throwable e) {
                        outcomes.add(new Outcome(sent, ttft, false));
                        inFlight.decrementAndGet();
                    }

                    @Override
                    public void onCompleted() {
                        outcomes.add(new Outcome(sent, ttft, ttft >= 0));
                        inFlight.decrementAndGet();
                    }
                });
            }
            long secondEnd = secondStart + TimeUnit.SECONDS.toNanos(1);
            long rest = secondEnd - System.nanoTime();
            if (rest > 0) {
                TimeUnit.NANOSECONDS.sleep(rest);
            }
            int alive = platform.deploymentReplicas().size();
            replicaSeconds += alive;
            peak = Math.max(peak, alive);
            int ready = ready(admin);
            if (ready > lastReady && stepAt >= 0) {
                stepToServing.add(Math.round((System.nanoTime() - stepAt) / 1e8) / 10.0);
                stepAt = -1;
            }
            lastReady = ready;
            if (t % 10 == 0) {
                System.out.printf("t=%3d s  rate %2d/s  in flight %3d  replicas %d (ready %d)%n", t, trace[t], inFlight.get(), alive, ready);
            }
        }
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (inFlight.get() > 0 && System.nanoTime() < end) {
            Thread.sleep(100);  // the last requests' answers, within a deadline (the load is open loop: no join to wait on)
        }
        List<Outcome> all = new ArrayList<>(outcomes);
        Collections.sort(all, (a, b) -> Long.compare(a.arrivalNanos(), b.arrivalNanos()));
        return new Run(name, all, replicaSeconds, stepToServing, peak);
    }
}
