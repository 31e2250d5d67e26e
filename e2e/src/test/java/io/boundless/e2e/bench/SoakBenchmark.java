package io.boundless.e2e.bench;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.ChatResponse;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A soak: the local platform (tokenizer, router, two replicas of the default model, all on mutual TLS) under a steady
 * open-loop load for a long time, sampling every process's resident memory and open file descriptors every 10 s. The
 * load mixes the three ways in: HTTP chat completions, HTTP streamed completions and gRPC Chat streams (32 tokens
 * each). At the end it prints the verdict against stated bounds — after a warm-up of a fifth of the run, resident
 * memory may not grow by more than 15% from the warm-up's end to the run's end in any process, open descriptors
 * stay within 32 of their warm-up level, and errors stay within 0.1% of requests — and writes the samples
 * ({@code soak.tsv}, {@code soak-requests.tsv}) and a plot of both curves ({@code soak.svg}). Exit status 1 when a
 * bound does not hold.
 *
 * <pre>java ... io.boundless.e2e.bench.SoakBenchmark &lt;repo root&gt; [minutes=30] [requests per second=4] [out dir]</pre>
 */
public final class SoakBenchmark {
    private static final int GRPC = 19750;
    private static final int HTTP = 18750;
    private static final double RSS_GROWTH = 0.15;
    private static final int FD_SLACK = 32;
    private static final double ERROR_BUDGET = 0.001;

    record Sample(double t, String service, double rssMb, int fds) {}

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        double minutes = args.length > 1 ? Double.parseDouble(args[1]) : 30;
        double rate = args.length > 2 ? Double.parseDouble(args[2]) : 4;
        Path out = args.length > 3 ? Path.of(args[3]) : root.resolve("e2e/target/soak");
        Files.createDirectories(out);
        System.out.printf(Locale.ROOT, "# soak: %.0f min at %.1f requests/s; %d cores; %s%n", minutes, rate, Runtime.getRuntime().availableProcessors(),
                java.time.LocalDateTime.now().withNano(0));
        Path work = out.resolve("platform");
        List<Sample> samples = java.util.Collections.synchronizedList(new ArrayList<>());
        Map<String, AtomicLong> outcomes = new ConcurrentHashMap<>();
        ConcurrentLinkedQueue<double[]> latencies = new ConcurrentLinkedQueue<>();  // {t, seconds, ok}
        boolean held;
        try (LocalPlatform p = new LocalPlatform(new LocalPlatform.Options(root, work, null, 2, GRPC, HTTP, Map.of(), Map.of(), Map.of()))) {
            p.start(Duration.ofMinutes(4));
            ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().build();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            RouterGrpc.RouterStub router = RouterGrpc.newStub(channel);
            ScheduledExecutorService clock = Executors.newScheduledThreadPool(2);
            var clients = Executors.newVirtualThreadPerTaskExecutor();
            long t0 = System.nanoTime();
            long end = t0 + (long) (minutes * 60e9);
            AtomicLong sent = new AtomicLong();
            clock.scheduleAtFixedRate(() -> {
                double t = (System.nanoTime() - t0) / 1e9;
                for (var s : p.services()) {
                    ProcessHandle h = p.process(s.name());
                    if (h != null) {
                        samples.add(new Sample(t, s.name(), rssMb(h.pid()), fds(h.pid())));
                    }
                }
            }, 0, 10, TimeUnit.SECONDS);
            clock.scheduleAtFixedRate(() -> {
                if (System.nanoTime() > end) {
                    return;
                }
                long n = sent.incrementAndGet();
                double t = (System.nanoTime() - t0) / 1e9;
                clients.submit(() -> {
                    long s0 = System.nanoTime();
                    String outcome = switch ((int) (n % 3)) {
                        case 0 -> httpCall(http, false, n);
                        case 1 -> httpCall(http, true, n);
                        default -> grpcChat(router, n);
                    };
                    outcomes.computeIfAbsent(outcome, k -> new AtomicLong()).incrementAndGet();
                    latencies.add(new double[] {t, (System.nanoTime() - s0) / 1e9, outcome.equals("ok") ? 1 : 0});
                });
            }, 0, (long) (1e9 / rate), TimeUnit.NANOSECONDS);
            long lastReport = t0;
            while (System.nanoTime() < end) {
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L);
                if (System.nanoTime() - lastReport > 60e9) {
                    lastReport = System.nanoTime();
                    double t = (lastReport - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "[%5.0f s / %.0f s] %d requests, outcomes %s, ETA %.0f s%n", t, minutes * 60, sent.get(),
                            new TreeMap<>(outcomes), minutes * 60 - t);
                }
            }
            clock.shutdown();
            clients.shutdown();
            clients.awaitTermination(2, TimeUnit.MINUTES);
            channel.shutdownNow();
            held = report(List.copyOf(samples), outcomes, new ArrayList<>(latencies), minutes * 60, out);
        }
        System.exit(held ? 0 : 1);
    }

    private static String httpCall(HttpClient http, boolean stream, long n) {
        String body = "{\"model\":\"default-random\",\"messages\":[{\"role\":\"user\",\"content\":\"soak request " + n
                + "\"}],\"max_tokens\":32,\"temperature\":0.7" + (stream ? ",\"stream\":true" : "") + "}";
        try {
            var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HTTP + "/v1/chat/completions")).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return "http " + r.statusCode();
            }
            return stream && !r.body().contains("data: [DONE]") ? "http stream cut" : "ok";
        } catch (IOException e) {
            return "http " + e.getClass().getSimpleName();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private static String grpcChat(RouterGrpc.RouterStub router, long n) {
        var done = new java.util.concurrent.CompletableFuture<String>();
        router.withDeadlineAfter(60, TimeUnit.SECONDS).chat(ChatRequest.newBuilder().setModel("default-random")
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("soak stream " + n))
                .setSampling(Sampling.newBuilder().setMaxTokens(32).setTemperature(0.7f)).build(), new StreamObserver<ChatResponse>() {
                    @Override
                    public void onNext(ChatResponse value) {}

                    @Override
                    public void onError(Throwable t) {
                        done.complete("grpc " + Status.fromThrowable(t).getCode());
                    }

                    @Override
                    public void onCompleted() {
                        done.complete("ok");
                    }
                });
        try {
            return done.get(90, TimeUnit.SECONDS);
        } catch (Exception e) {
            return "grpc hung";
        }
    }

    static double rssMb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // the process ended between the listing and the read
        }
        return Double.NaN;
    }

    static int fds(long pid) {
        try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return (int) s.count();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Prints the verdict and writes the samples and the plot; returns whether every bound held. */
    static boolean report(List<Sample> samples, Map<String, AtomicLong> outcomes, List<double[]> latencies, double seconds, Path out) throws IOException {
        double warm = seconds / 5;
        boolean held = true;
        StringBuilder tsv = new StringBuilder("t_s\tservice\trss_mb\tfds\n");
        samples.forEach(s -> tsv.append(String.format(Locale.ROOT, "%.0f\t%s\t%.1f\t%d%n", s.t(), s.service(), s.rssMb(), s.fds())));
        Files.writeString(out.resolve("soak.tsv"), tsv);
        StringBuilder req = new StringBuilder("t_s\tseconds\tok\n");
        latencies.forEach(l -> req.append(String.format(Locale.ROOT, "%.2f\t%.4f\t%.0f%n", l[0], l[1], l[2])));
        Files.writeString(out.resolve("soak-requests.tsv"), req);

        Map<String, List<Sample>> by = new LinkedHashMap<>();
        samples.forEach(s -> by.computeIfAbsent(s.service(), k -> new ArrayList<>()).add(s));
        System.out.println("| process | RSS at warm-up end (MB) | RSS at end (MB) | RSS max (MB) | growth | fds at warm-up end | fds min–max after | bound held |");
        System.out.println("|---|---:|---:|---:|---:|---:|---|---|");
        for (var e : by.entrySet()) {
            List<Sample> after = e.getValue().stream().filter(s -> s.t() >= warm).toList();
            if (after.isEmpty()) {
                continue;
            }
            Sample w = after.getFirst();
            Sample last = after.getLast();
            double max = after.stream().mapToDouble(Sample::rssMb).max().orElse(Double.NaN);
            int fdMin = after.stream().mapToInt(Sample::fds).min().orElse(-1);
            int fdMax = after.stream().mapToInt(Sample::fds).max().orElse(-1);
            double growth = last.rssMb() / w.rssMb() - 1;
            boolean ok = growth <= RSS_GROWTH && fdMax - w.fds() <= FD_SLACK;
            held &= ok;
            System.out.printf(Locale.ROOT, "| %s | %.0f | %.0f | %.0f | %+.1f%% | %d | %d–%d | %s |%n", e.getKey(), w.rssMb(), last.rssMb(), max, growth * 100,
                    w.fds(), fdMin, fdMax, ok ? "yes" : "NO");
        }
        long total = outcomes.values().stream().mapToLong(AtomicLong::get).sum();
        long ok = outcomes.getOrDefault("ok", new AtomicLong()).get();
        double errorShare = total == 0 ? 1 : (total - ok) / (double) total;
        held &= errorShare <= ERROR_BUDGET && total > 0;
        System.out.printf(Locale.ROOT, "requests: %d, outcomes %s; errors %.3f%% (budget %.1f%%)%n", total, new TreeMap<>(outcomes), errorShare * 100,
                ERROR_BUDGET * 100);
        for (double[] span : new double[][] {{warm, warm + 300}, {seconds - 300, seconds}}) {
            double[] l = latencies.stream().filter(x -> x[2] == 1 && x[0] >= span[0] && x[0] < span[1]).mapToDouble(x -> x[1]).sorted().toArray();
            if (l.length > 0) {
                System.out.printf(Locale.ROOT, "latency %4.0f–%4.0f s: p50 %.3f s, p99 %.3f s over %d requests%n", span[0], span[1], l[l.length / 2],
                        l[Math.min(l.length - 1, (int) (l.length * 0.99))], l.length);
            }
        }
        System.out.println("bounds: RSS growth after warm-up <= " + (int) (RSS_GROWTH * 100) + "%, fds within " + FD_SLACK
                + " of the warm-up's, errors <= " + ERROR_BUDGET * 100 + "%: " + (held ? "held" : "NOT held"));
        Files.writeString(out.resolve("soak.svg"), svg(by, seconds));
        System.out.println("wrote " + out.resolve("soak.tsv") + ", " + out.resolve("soak-requests.tsv") + ", " + out.resolve("soak.svg"));
        return held;
    }

    /** Two panels, resident memory and open descriptors over time, one line per process. */
    static String svg(Map<String, List<Sample>> by, double seconds) {
        int w = 760;
        int h = 220;
        int left = 60;
        String[] colors = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">%n", w, 2 * h + 40));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", w, 2 * h + 40));
        for (int panel = 0; panel < 2; panel++) {
            boolean rss = panel == 0;
            double max = by.values().stream().flatMap(List::stream).mapToDouble(x -> rss ? x.rssMb() : x.fds()).filter(Double::isFinite).max().orElse(1) * 1.1;
            int top = 20 + panel * (h + 20);
            int plotH = h - 40;
            int plotW = w - left - 150;
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>%n", left, top - 5,
                    rss ? "resident memory (MB)" : "open file descriptors"));
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>%n", left, top, plotW, plotH));
            for (int k = 0; k <= 4; k++) {
                double v = max * k / 4;
                int y = top + plotH - (int) (plotH * k / 4.0);
                s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f</text>%n", left - 4, y + 4, v));
                double t = seconds * k / 4;
                int x = left + (int) (plotW * k / 4.0);
                s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.0f min</text>%n", x, top + plotH + 14, t / 60));
            }
            int c = 0;
            for (var e : by.entrySet()) {
                StringBuilder pts = new StringBuilder();
                for (Sample x : e.getValue()) {
                    double v = rss ? x.rssMb() : x.fds();
                    if (Double.isFinite(v) && v >= 0) {
                        pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + plotW * Math.min(1, x.t() / seconds), top + plotH - plotH * v / max));
                    }
                }
                String color = colors[c % colors.length];
                s.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>%n", color, pts.toString().trim()));
                s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>%n", left + plotW + 10, top + 14 + 14 * c, color, e.getKey()));
                c++;
            }
        }
        return s.append("</svg>\n").toString();
    }
}
