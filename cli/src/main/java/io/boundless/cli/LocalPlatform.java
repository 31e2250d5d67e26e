package io.boundless.cli;

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
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The platform on one machine as real processes on loopback: the tokenizer service, N inference
 * replicas and the router, each a Quarkus application started from the build's
 * {@code services/<name>/target/quarkus-app}. Without a model, the default random-weight model is
 * written into a local model store first and served by name.
 */
public final class LocalPlatform implements AutoCloseable {

    /**
     * What to start. gRPC ports: the router on grpcBase, the tokenizer on grpcBase + 1, inference
     * replicas from grpcBase + 2; HTTP ports (health, metrics, the router's OpenAI API) the same from httpBase.
     * cpus: optional CPU lists per service name ("router", "tokenizer", "inference-1", ...), for benchmarks.
     */
    public record Options(Path root, Path workDir, Path model, int replicas, int grpcBase, int httpBase, Map<String, String> routerEnv,
                          Map<String, String> inferenceEnv, Map<String, String> cpus) {
        public Options {
            if (replicas < 1) {
                throw new IllegalArgumentException("at least one inference replica, not " + replicas);
            }
            routerEnv = Map.copyOf(routerEnv);
            inferenceEnv = Map.copyOf(inferenceEnv);
            cpus = Map.copyOf(cpus);
        }
    }

    /** One started service. */
    public record Service(String name, int grpcPort, int httpPort, List<String> command, Map<String, String> env, Path log) {}

    private final Options options;
    private final List<Service> services = new ArrayList<>();
    private final Map<Service, Process> processes = new LinkedHashMap<>();
    private final String modelName;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    public LocalPlatform(Options options) {
        this.options = options;
        Path java = Path.of(ProcessHandle.current().info().command().orElse("java"));
        Path store = options.workDir().resolve("models");
        Path model;
        if (options.model() == null) {
            modelName = "default-random";
            model = store.resolve(modelName).resolve("1");
        } else {
            model = options.model().toAbsolutePath().normalize();
            String last = model.getFileName().toString();
            modelName = last.matches("\\d+") ? model.getParent().getFileName().toString() : last.replaceFirst("\\.gguf$", "");
        }
        int base = options.grpcBase();
        int hb = options.httpBase();
        List<String> common = List.of(java.toString(), "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "--add-modules", "jdk.incubator.vector", "-Doffline=true");
        Map<String, String> tokEnv = Map.of("BOUNDLESS_TOKENIZER_STORE", store.toString(), "OPT_OUT_TRACKING", "true",
                "QUARKUS_GRPC_SERVER_PORT", Integer.toString(base + 1), "QUARKUS_HTTP_PORT", Integer.toString(hb + 1));
        services.add(new Service("tokenizer", base + 1, hb + 1, concat(common, List.of("-XX:+UseSerialGC", "-Xmx512m", "-jar",
                app("tokenizer").toString())), tokEnv, options.workDir().resolve("logs/tokenizer.log")));
        List<String> replicaAddresses = new ArrayList<>();
        for (int i = 0; i < options.replicas(); i++) {
            int grpc = base + 2 + i;
            replicaAddresses.add("127.0.0.1:" + grpc);
            Map<String, String> env = new LinkedHashMap<>(Map.of("BOUNDLESS_INFERENCE_MODEL", model.toString(), "BOUNDLESS_INFERENCE_MODEL_NAME", modelName,
                    "QUARKUS_GRPC_SERVER_PORT", Integer.toString(grpc), "QUARKUS_HTTP_PORT", Integer.toString(hb + 2 + i),
                    "BOUNDLESS_INFERENCE_THREADS", Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / options.replicas())),
                    "BOUNDLESS_INFERENCE_KV_CACHE_MIB", "128"));
            env.putAll(options.inferenceEnv());
            services.add(new Service("inference-" + (i + 1), grpc, hb + 2 + i,
                    concat(concat(common, inferenceHeap()), List.of("-jar", app("inference").toString())), env,
                    options.workDir().resolve("logs/inference-" + (i + 1) + ".log")));
        }
        Map<String, String> routerEnv = new LinkedHashMap<>(Map.of("BOUNDLESS_ROUTER_MODEL", modelName,
                "BOUNDLESS_ROUTER_TOKENIZER", "127.0.0.1:" + (base + 1), "BOUNDLESS_ROUTER_REPLICAS", String.join(",", replicaAddresses),
                "QUARKUS_GRPC_SERVER_PORT", Integer.toString(base), "QUARKUS_HTTP_PORT", Integer.toString(hb)));
        routerEnv.putAll(options.routerEnv());
        services.add(new Service("router", base, hb, concat(common, List.of("-XX:+UseSerialGC", "-Xmx256m", "-jar",
                app("router").toString())), routerEnv, options.workDir().resolve("logs/router.log")));
        this.model = model;
        this.store = store;
    }

    private final Path model;
    private final Path store;

    public String modelName() {
        return modelName;
    }

    public List<Service> services() {
        return services;
    }

    public Service service(String name) {
        return services.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow(() -> new IllegalArgumentException("no service " + name));
    }

    public Service router() {
        return service("router");
    }

    private Path app(String name) {
        Path jar = options.root().resolve("services").resolve(name).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing: build first (./mvnw install -DskipTests)");
        }
        return jar;
    }

    /** Writes the model store, starts every service, and waits until all are ready. */
    public void start(Duration timeout) throws IOException, InterruptedException {
        Files.createDirectories(options.workDir().resolve("logs"));
        if (options.model() == null) {
            writeDefaultModel();
        } else if (Files.isDirectory(model) && Files.isRegularFile(model.resolve("tokenizer.json"))) {
            Path link = store.resolve(modelName).resolve("1");
            Files.createDirectories(link.getParent());
            if (!Files.exists(link)) {
                Files.createSymbolicLink(link, model);
            }
        } else {
            throw new IllegalArgumentException(model + ": the router needs the model's tokenizer: a Hugging Face directory with tokenizer.json");
        }
        for (Service s : services) {
            if (get("http://127.0.0.1:" + s.httpPort() + "/q/health/live") >= 0) {
                throw new IllegalStateException("something already answers on 127.0.0.1:" + s.httpPort() + " (a platform started earlier?); stop it first");
            }
        }
        for (Service s : services) {
            launch(s);
        }
        long end = System.nanoTime() + timeout.toNanos();
        for (Service s : services) {
            awaitReady(s, end);
        }
    }

    private void writeDefaultModel() throws IOException, InterruptedException {
        writeStoreModel(options.root(), store, options.workDir().resolve("logs/default-model.log"));
    }

    /**
     * Writes a random-weight model with its tokenizer into a model store (DefaultModel of the
     * inference service): {@code <store>/default-random/1}, or with "bench" {@code <store>/bench-random/1}.
     */
    public static void writeStoreModel(Path root, Path store, Path log, String... variant) throws IOException, InterruptedException {
        Path inference = root.resolve("services/inference/target/quarkus-app");
        String cp = inference.resolve("app") + "/*:" + inference.resolve("lib/main") + "/*";
        Path java = Path.of(ProcessHandle.current().info().command().orElse("java"));
        List<String> command = concat(List.of(java.toString(), "--add-modules", "jdk.incubator.vector", "-cp", cp,
                "io.boundless.inference.DefaultModel", store.toString()), List.of(variant));
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("writing the model failed; see " + log);
        }
    }

    private void launch(Service s) throws IOException {
        List<String> command = s.command();
        String cpuList = options.cpus().get(s.name());
        if (cpuList != null) {  // benchmarks pin services to cores (taskset) so that they do not compete
            command = concat(List.of("taskset", "-c", cpuList), command);
        }
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(s.log().toFile()));
        pb.environment().putAll(s.env());
        processes.put(s, pb.start());
    }

    private void awaitReady(Service s, long endNanos) throws InterruptedException {
        while (true) {
            Process p = processes.get(s);
            if (p != null && !p.isAlive()) {
                throw new IllegalStateException("the " + s.name() + " service exited (code " + p.exitValue() + "); see " + s.log());
            }
            if (get("http://127.0.0.1:" + s.httpPort() + "/q/health/ready") == 200) {
                return;
            }
            if (System.nanoTime() > endNanos) {
                throw new IllegalStateException("the " + s.name() + " service did not become ready; see " + s.log());
            }
            Thread.sleep(250);  // the poll interval: readiness of another process has no event to wait on
        }
    }

    /** Waits until the named service reports ready. */
    public void awaitReady(String name, Duration timeout) throws InterruptedException {
        awaitReady(service(name), System.nanoTime() + timeout.toNanos());
    }

    /** HTTP status of a GET, or -1 when nothing answers. */
    public int get(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** Kills a service at once (SIGKILL), as a crash would. */
    public void kill(String name) throws InterruptedException {
        Process p = processes.get(service(name));
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
    }

    /** Starts a stopped service again (same ports, same log). */
    public void restart(String name) throws IOException {
        Service s = service(name);
        Process p = processes.get(s);
        if (p != null && p.isAlive()) {
            throw new IllegalStateException(name + " is still running");
        }
        launch(s);
    }

    public boolean alive(String name) {
        Process p = processes.get(service(name));
        return p != null && p.isAlive();
    }

    /** Stops everything: SIGTERM (graceful), then SIGKILL for what is still running after 20 s. */
    @Override
    public void close() {
        List<Process> all = new ArrayList<>(processes.values());
        java.util.Collections.reverse(all);  // the router first
        all.forEach(Process::destroy);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        for (Process p : all) {
            try {
                if (!p.waitFor(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * The inference JVM's heap options: weights are mapped and the KV cache is native memory, so a
     * small G1 heap (a step's activations) keeps a replica at about model + KV budget + 250 MiB.
     * BOUNDLESS_INFERENCE_JAVA_OPTS replaces them (larger models or steps need more; see OPERATIONS).
     */
    private static List<String> inferenceHeap() {
        String opts = System.getenv("BOUNDLESS_INFERENCE_JAVA_OPTS");
        return opts == null || opts.isBlank() ? List.of("-XX:+UseG1GC", "-Xmx256m") : List.of(opts.trim().split("\\s+"));
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

}
