package io.boundless.e2e.bench;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.inference.v1.InferenceGrpc;
import io.boundless.proto.inference.v1.SamplingParameters;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.tokenizer.v1.EncodeRequest;
import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Router benchmarks on the local platform (real processes, the default model, 2 replicas).
 *
 * <p>overhead: the same workload (distinct 40-token prompts, 16 greedy tokens) sent straight to one
 * inference replica (prompts tokenized beforehand) and through the router as text (tokenize, route,
 * detokenize); at 1, 16 and 64 concurrent streams: end-to-end latency, time to first token and
 * inter-token latency, p50 and p99. The replica is pinned to CPU 0 and everything else (router,
 * tokenizer, this client) to CPU 1, so that the router's work does not slow the replica down: on a
 * 2-core machine running both, that contention, not the router's latency, would be measured.
 *
 * <p>affinity: 8 long system prompts (~400 tokens), 200 chat requests (a random system prompt and a
 * unique question each), 8 at a time, through the router with prefix-affinity routing and then, on a
 * freshly started platform, round-robin, each after one warm-up request per system prompt; on "bench-random" (the default model's tokenizer, 6 layers
 * of hidden 768), whose prefill costs, relative to the per-request overheads, about what a real
 * model's does. Each replica's KV cache (27 MiB, 2,304 tokens) holds about five of the eight
 * prefixes, as a production cache holds a fraction of a fleet's prefixes: TTFT p50/p95 and the share
 * of prompt tokens served from the prefix cache.
 *
 * <pre>java ... io.boundless.e2e.bench.RouterBenchmark &lt;repo root&gt; [overhead|affinity|all]</pre>
 */
public final class RouterBenchmark {
    private static final int GRPC = 19400;
    private static final int HTTP = 18400;

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        String what = args.length > 1 ? args[1] : "all";
        System.out.printf("# machine: %d cores; %s%n", Runtime.getRuntime().availableProcessors(), java.time.LocalDate.now());
        if (what.equals("overhead") || what.equals("all")) {
            overhead(root);
        }
        if (what.equals("affinity") || what.equals("all")) {
            affinity(root);
        }
        System.exit(0);
    }

    // ---------------------------------------------------------------- overhead

    private static void overhead(Path root) throws Exception {
        pin("1");
        try (LocalPlatform p = platform(root, "prefix", Map.of("BOUNDLESS_INFERENCE_THREADS", "1"), 1,
                Map.of("inference-1", "0", "router", "1", "tokenizer", "1"))) {
            ManagedChannel routerCh = channel(GRPC);
            ManagedChannel tokCh = channel(GRPC + 1);
            List<ManagedChannel> replicas = List.of(channel(GRPC + 2));
            var router = RouterGrpc.newStub(routerCh);
            var tokenizer = TokenizerGrpc.newBlockingStub(tokCh);
            int[] round = {0};
            // warm-up of both paths (JIT in the router, tokenizer and replicas)
            runDirect(replicas, tokenizer, prompts(40, 1000), 4);
            runRouter(router, prompts(40, 2000), 4);
            System.out.println();
            System.out.println("| streams | path | requests | latency p50 | latency p99 | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 |");
            System.out.println("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
            for (int c : new int[] {1, 16, 64}) {
                int n = c == 1 ? 40 : c == 16 ? 96 : 192;
                Stats direct = runDirect(replicas, tokenizer, prompts(n, 10_000 * c + round[0]++), c);
                Stats routed = runRouter(router, prompts(n, 20_000 * c + round[0]++), c);
                direct.print(c, "direct to inference");
                routed.print(c, "through the router");
                System.out.printf("| %d | **added by the router** | | %+.2f ms | %+.2f ms | %+.2f ms | %+.2f ms | %+.3f ms (%+.1f%%) | %+.3f ms |%n", c,
                        routed.latency.p(50) - direct.latency.p(50), routed.latency.p(99) - direct.latency.p(99),
                        routed.ttft.p(50) - direct.ttft.p(50), routed.ttft.p(99) - direct.ttft.p(99),
                        routed.itl.p(50) - direct.itl.p(50), 100 * (routed.itl.p(50) - direct.itl.p(50)) / direct.itl.p(50),
                        routed.itl.p(99) - direct.itl.p(99));
            }
            System.out.println();
            System.out.println("Router metrics (histogram quantiles from /q/metrics are coarse; means):");
            metrics(p.router().httpPort());
            routerCh.shutdownNow();
            tokCh.shutdownNow();
            replicas.forEach(ManagedChannel::shutdownNow);
        } finally {
            pin("0-" + (Runtime.getRuntime().availableProcessors() - 1));
        }
    }

    /** Pins every thread of this JVM to the CPUs (taskset), and the threads it starts later. */
    private static void pin(String cpus) throws Exception {
        new ProcessBuilder("taskset", "-a", "-p", "-c", cpus, Long.toString(ProcessHandle.current().pid()))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    }

    /** Mean of each router histogram (sum / count) from its Prometheus text. */
    private static void metrics(int httpPort) throws Exception {
        var http = java.net.http.HttpClient.newHttpClient();
        String text = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + httpPort + "/q/metrics")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        Map<String, Double> sums = new java.util.TreeMap<>();
        Map<String, Double> counts = new java.util.TreeMap<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("boundless_router_") && line.contains("_seconds_sum ")) {
                sums.put(line.substring(0, line.indexOf("_sum ")), Double.parseDouble(line.substring(line.indexOf(' ') + 1)));
            } else if (line.startsWith("boundless_router_") && line.contains("_seconds_count ")) {
                counts.put(line.substring(0, line.indexOf("_count ")), Double.parseDouble(line.substring(line.indexOf(' ') + 1)));
            }
        }
        sums.forEach((k, v) -> System.out.printf("- %s: mean %.3f ms over %.0f%n", k, 1000 * v / counts.get(k), counts.get(k)));
    }

    /** Distinct prompts: "Request <seed>-<i>: " followed by words, about 40 tokens each. */
    private static List<String> prompts(int n, int seed) {
        Random rnd = new Random(seed);
        String[] words = "the router picks a replica that holds the prefix and streams tokens back as text while the queue stays short".split(" ");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder b = new StringBuilder("Request " + seed + "-" + i + ":");
            for (int w = 0; w < 24; w++) {
                b.append(' ').append(words[rnd.nextInt(words.length)]);
            }
            out.add(b.toString());
        }
        return out;
    }

    private static Stats runDirect(List<ManagedChannel> replicas, TokenizerGrpc.TokenizerBlockingStub tokenizer, List<String> prompts, int concurrency)
            throws Exception {
        List<List<Integer>> ids = new ArrayList<>();
        for (String s : prompts) {
            ids.add(tokenizer.encode(EncodeRequest.newBuilder().setModel("default-random").setText(s).setAddSpecialTokens(true).build()).getIdsList());
        }
        return run(prompts.size(), concurrency, (i, t) -> {
            var req = io.boundless.proto.inference.v1.GenerateRequest.newBuilder().addAllPromptIds(ids.get(i))
                    .setSampling(SamplingParameters.newBuilder().setTemperature(0).setMaxNewTokens(16)).build();
            InferenceGrpc.newStub(replicas.get(i % replicas.size())).withDeadlineAfter(120, TimeUnit.SECONDS)
                    .generate(req, timed(t, io.boundless.proto.inference.v1.GenerateResponse::getTokensCount, null));
        });
    }

    private static Stats runRouter(RouterGrpc.RouterStub router, List<String> prompts, int concurrency) throws Exception {
        return run(prompts.size(), concurrency, (i, t) -> {
            var req = GenerateRequest.newBuilder().setModel("default-random").setText(prompts.get(i))
                    .setSampling(Sampling.newBuilder().setTemperature(0).setMaxTokens(16)).build();
            router.withDeadlineAfter(120, TimeUnit.SECONDS).generate(req, timed(t, io.boundless.proto.router.v1.GenerateResponse::getTokensCount, null));
        });
    }

    /** A stream observer that times tokens into t (and hands each message to also, if set). */
    private static <T> StreamObserver<T> timed(Timing t, java.util.function.ToIntFunction<T> tokens, Consumer<T> also) {
        return new StreamObserver<>() {
            @Override
            public void onNext(T v) {
                if (tokens.applyAsInt(v) > 0) {
                    t.token();
                }
                if (also != null) {
                    also.accept(v);
                }
            }

            @Override
            public void onError(Throwable e) {
                t.fail(e);
            }

            @Override
            public void onCompleted() {
                t.done();
            }
        };
    }

    // ---------------------------------------------------------------- affinity

    private static void affinity(Path root) throws Exception {
        System.out.println();
        System.out.println("| routing | requests | TTFT p50 | TTFT p95 | prompt tokens from the prefix cache |");
        System.out.println("|---|---:|---:|---:|---:|");
        double[] p95 = new double[2];
        int k = 0;
        Path store = root.resolve("e2e/target/bench/models");
        LocalPlatform.writeStoreModel(root, store, root.resolve("e2e/target/bench/logs/bench-model.log"), "bench");
        Path benchModel = store.resolve("bench-random/1");
        for (String policy : new String[] {"prefix", "round-robin"}) {
            try (LocalPlatform p = platform(root, policy, Map.of("BOUNDLESS_INFERENCE_KV_CACHE_MIB", "27"), 2, Map.of(), benchModel)) {
                ManagedChannel ch = channel(GRPC);
                var router = RouterGrpc.newStub(ch);
                List<String> systems = new ArrayList<>();
                Random rnd = new Random(8);
                String[] words = ("operators roll out model versions by weighted canary and watch the first token latency of every "
                        + "request while the autoscaler adds replicas when the queue grows and the cache fills").split(" ");
                for (int s = 0; s < 8; s++) {
                    StringBuilder b = new StringBuilder("System prompt " + s + ". ");
                    for (int w = 0; w < 170; w++) {
                        b.append(words[rnd.nextInt(words.length)]).append(' ');
                    }
                    systems.add(b.toString());
                }
                long[] cached = new long[2];
                Random pick = new Random(200);
                int[] which = new int[200];
                for (int i = 0; i < which.length; i++) {
                    which[i] = pick.nextInt(8);
                }
                // steady state: each system prompt has been seen once (cold misses are not what routing decides)
                run(8, 1, (i, t) -> router.withDeadlineAfter(120, TimeUnit.SECONDS).chat(ChatRequest.newBuilder().setModel(p.modelName())
                        .addMessages(ChatMessage.newBuilder().setRole("system").setContent(systems.get(i)))
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Warm-up: hello"))
                        .setSampling(Sampling.newBuilder().setTemperature(0).setMaxTokens(1)).build(),
                        timed(t, io.boundless.proto.router.v1.ChatResponse::getTokensCount, null)));
                Stats st = run(200, 8, (i, t) -> {
                    ChatRequest req = ChatRequest.newBuilder().setModel(p.modelName())
                            .addMessages(ChatMessage.newBuilder().setRole("system").setContent(systems.get(which[i])))
                            .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Question " + i + ": why?"))
                            .setSampling(Sampling.newBuilder().setTemperature(0).setMaxTokens(4)).build();
                    router.withDeadlineAfter(120, TimeUnit.SECONDS).chat(req, timed(t, io.boundless.proto.router.v1.ChatResponse::getTokensCount, v -> {
                        if (v.hasUsage()) {
                            synchronized (cached) {
                                cached[0] += v.getUsage().getCachedPromptTokens();
                                cached[1] += v.getUsage().getPromptTokens();
                            }
                        }
                    }));
                });
                System.out.printf("| %s | 200 | %.1f ms | %.1f ms | %.0f%% (prompts: %d tokens on average) |%n", policy, st.ttft.p(50), st.ttft.p(95),
                        100.0 * cached[0] / cached[1], cached[1] / 200);
                p95[k++] = st.ttft.p(95);
                ch.shutdownNow();
            }
        }
        System.out.printf("%nTTFT p95, round-robin / prefix affinity: %.2fx%n", p95[1] / p95[0]);
    }

    // ---------------------------------------------------------------- plumbing

    private static LocalPlatform platform(Path root, String policy, Map<String, String> inferenceEnv, int replicas, Map<String, String> cpus)
            throws Exception {
        return platform(root, policy, inferenceEnv, replicas, cpus, null);
    }

    private static LocalPlatform platform(Path root, String policy, Map<String, String> inferenceEnv, int replicas, Map<String, String> cpus,
            Path model) throws Exception {
        LocalPlatform p = new LocalPlatform(new LocalPlatform.Options(root, root.resolve("e2e/target/bench"), model, replicas, GRPC, HTTP,
                Map.of("BOUNDLESS_ROUTER_ROUTING_POLICY", policy), inferenceEnv, cpus));
        p.start(Duration.ofMinutes(4));
        return p;
    }

    private static ManagedChannel channel(int port) {
        return ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    }

    /** One request's timing: start, first token, gaps between tokens, end. */
    private static final class Timing {
        final long start = System.nanoTime();
        long last;
        long first;
        final List<Double> gaps = new ArrayList<>();
        final CompletableFuture<Void> finished = new CompletableFuture<>();

        synchronized void token() {
            long now = System.nanoTime();
            if (first == 0) {
                first = now;
            } else {
                gaps.add((now - last) / 1e6);
            }
            last = now;
        }

        void done() {
            finished.complete(null);
        }

        void fail(Throwable e) {
            finished.completeExceptionally(e);
        }
    }

    private interface Sender {
        void send(int i, Timing t);
    }

    private static Stats run(int n, int concurrency, Sender sender) throws Exception {
        Semaphore slots = new Semaphore(concurrency);
        List<Timing> timings = Collections.synchronizedList(new ArrayList<>());
        List<CompletableFuture<Void>> all = new ArrayList<>();
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        for (int i = 0; i < n; i++) {
            slots.acquire();
            Timing t = new Timing();
            timings.add(t);
            int idx = i;
            t.finished.whenComplete((v, e) -> slots.release());
            all.add(t.finished);
            pool.submit(() -> sender.send(idx, t));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(10, TimeUnit.MINUTES);
        pool.shutdown();
        Stats s = new Stats();
        for (Timing t : timings) {
            s.latency.add((t.last - t.start) / 1e6);
            s.ttft.add((t.first - t.start) / 1e6);
            t.gaps.forEach(s.itl::add);
        }
        s.n = n;
        return s;
    }

    private static final class Series {
        final List<Double> v = new ArrayList<>();

        void add(double x) {
            v.add(x);
        }

        double p(double q) {
            List<Double> s = new ArrayList<>(v);
            Collections.sort(s);
            return s.isEmpty() ? Double.NaN : s.get(Math.min(s.size() - 1, (int) Math.ceil(q / 100 * s.size()) - 1));
        }
    }

    private static final class Stats {
        final Series latency = new Series();
        final Series ttft = new Series();
        final Series itl = new Series();
        int n;

        void print(int c, String path) {
            System.out.printf("| %d | %s | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.3f ms | %.3f ms |%n", c, path, n, latency.p(50), latency.p(99),
                    ttft.p(50), ttft.p(99), itl.p(50), itl.p(99));
        }
    }


    private RouterBenchmark() {}
}
