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
                          Map<String, String> inferenceEnv, Map<String, String> cpus, Path chatTemplate, Path deployment,
                          Map<String, String> knowledgeEditEnv, boolean plaintext) {
        public Options {
            if (replicas < 1) {
                throw new IllegalArgumentException("at least one inference replica, not " + replicas);
            }
            if (knowledgeEditEnv != null && deployment == null) {
                throw new IllegalArgumentException("the knowledge-edit service publishes edits as versions of a deployment: it needs one");
            }
            routerEnv = Map.copyOf(routerEnv);
            inferenceEnv = Map.copyOf(inferenceEnv);
            cpus = Map.copyOf(cpus);
            knowledgeEditEnv = knowledgeEditEnv == null ? null : Map.copyOf(knowledgeEditEnv);
        }

        /** On mutual TLS between the services (certificates of a CA of its own, in the work directory's tls/). */
        public Options(Path root, Path workDir, Path model, int replicas, int grpcBase, int httpBase, Map<String, String> routerEnv,
                       Map<String, String> inferenceEnv, Map<String, String> cpus, Path chatTemplate, Path deployment,
                       Map<String, String> knowledgeEditEnv) {
            this(root, workDir, model, replicas, grpcBase, httpBase, routerEnv, inferenceEnv, cpus, chatTemplate, deployment, knowledgeEditEnv, false);
        }

        /** Without the knowledge-edit service. */
        public Options(Path root, Path workDir, Path model, int replicas, int grpcBase, int httpBase, Map<String, String> routerEnv,
                       Map<String, String> inferenceEnv, Map<String, String> cpus, Path chatTemplate, Path deployment) {
            this(root, workDir, model, replicas, grpcBase, httpBase, routerEnv, inferenceEnv, cpus, chatTemplate, deployment, null);
        }

        /** Static replicas (no deployment file). */
        public Options(Path root, Path workDir, Path model, int replicas, int grpcBase, int httpBase, Map<String, String> routerEnv,
                       Map<String, String> inferenceEnv, Map<String, String> cpus, Path chatTemplate) {
            this(root, workDir, model, replicas, grpcBase, httpBase, routerEnv, inferenceEnv, cpus, chatTemplate, null);
        }

        /** Without a chat template file: the model's own template, if any. */
        public Options(Path root, Path workDir, Path model, int replicas, int grpcBase, int httpBase, Map<String, String> routerEnv,
                       Map<String, String> inferenceEnv, Map<String, String> cpus) {
            this(root, workDir, model, replicas, grpcBase, httpBase, routerEnv, inferenceEnv, cpus, null);
        }
    }

    /** One started service. */
    public record Service(String name, int grpcPort, int httpPort, List<String> command, Map<String, String> env, Path log) {}

    static final String DEFAULT_MODEL = "default-random";
    /** The knowledge-edit service's ports: this far above the router's (after the inference replicas' range). */
    public static final int KNOWLEDGE_EDIT_OFFSET = 66;
    /** The trained default model of {@code boundless up}: models/boundless-world in the repository. */
    static final String TRAINED_MODEL = "boundless-world";
    /** The version under which a model given from outside the store is linked into it. */
    static final String LINKED_VERSION = "linked";
    /** Marks a store entry as made by boundless up (so that it may be replaced). */
    static final String LINK_MARKER = ".boundless-linked";
    /** What the tokenizer service reads of a model's directory. */
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "chat_template.jinja", "chat_templates");

    private final Options options;
    private final List<Service> services = new ArrayList<>();
    private final Map<Service, Process> processes = new LinkedHashMap<>();
    private final Map<Service, Long> logStarts = new LinkedHashMap<>();
    private final String modelName;
    private final ModelSource source;  // null for the default model
    private final String tokenizerModel;
    private final boolean linked;       // the tokenizer files are linked into the store at start (a model from elsewhere)
    private final Path store;           // the local model store the tokenizer service reads
    private volatile boolean canChat;   // the tokenizer's answer, once started
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /**
     * Plans the platform; a model that cannot be served ({@link ModelSource#check}) is refused here,
     * before anything is written or started.
     */
    public LocalPlatform(Options options) {
        this.options = options;
        Path java = Path.of(ProcessHandle.current().info().command().orElse("java"));
        Path store = options.workDir().resolve("models").toAbsolutePath().normalize();
        Path model;
        List<String> sources = List.of();
        if (options.deployment() != null) {
            if (options.model() != null || options.chatTemplate() != null) {
                throw new ModelSource.Refused("--deployment names the model's versions and their sources: --model and --chat-template do not go with it");
            }
            Deployment d = Deployment.read(options.deployment());
            source = null;
            modelName = d.model();
            sources = d.sources();
            model = null;
            tokenizerModel = sources.getFirst();  // the versions of one model share its tokenizer
            linked = false;
        } else if (options.model() == null) {
            if (options.chatTemplate() != null) {
                throw new ModelSource.Refused("--chat-template needs --model: the default model has a chat template of its own");
            }
            source = null;
            modelName = DEFAULT_MODEL;
            model = store.resolve(modelName).resolve("1");
            tokenizerModel = modelName + "/1";
            linked = false;
        } else {
            source = ModelSource.check(options.model(), options.chatTemplate());
            model = source.path();
            modelName = source.name();
            var inStore = storeName(store, source);
            linked = inStore.isEmpty();
            tokenizerModel = inStore.orElse(modelName + "/" + LINKED_VERSION);
        }
        int base = options.grpcBase();
        int hb = options.httpBase();
        List<String> common = List.of(java.toString(), "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "--add-modules", "jdk.incubator.vector", "-Doffline=true");
        this.tlsDir = options.workDir().resolve("tls").toAbsolutePath().normalize();
        Map<String, String> tokEnv = new LinkedHashMap<>(Map.of("BOUNDLESS_TOKENIZER_STORE", store.toString(), "OPT_OUT_TRACKING", "true",
                "QUARKUS_GRPC_SERVER_PORT", Integer.toString(base + 1), "QUARKUS_HTTP_PORT", Integer.toString(hb + 1)));
        tokEnv.putAll(tlsEnv("tokenizer"));
        services.add(new Service("tokenizer", base + 1, hb + 1, concat(common, List.of("-XX:+UseSerialGC", "-Xmx512m", "-jar",
                app("tokenizer").toString())), tokEnv, options.workDir().resolve("logs/tokenizer.log")));
        List<String> replicaAddresses = new ArrayList<>();
        for (int i = 0; options.deployment() == null && i < options.replicas(); i++) {
            int grpc = base + 2 + i;
            replicaAddresses.add("127.0.0.1:" + grpc);
            Map<String, String> env = new LinkedHashMap<>(Map.of("BOUNDLESS_INFERENCE_MODEL", model.toString(), "BOUNDLESS_INFERENCE_MODEL_NAME", modelName,
                    "QUARKUS_GRPC_SERVER_PORT", Integer.toString(grpc), "QUARKUS_HTTP_PORT", Integer.toString(hb + 2 + i),
                    "BOUNDLESS_INFERENCE_THREADS", Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / options.replicas())),
                    "BOUNDLESS_INFERENCE_KV_CACHE_MIB", "128"));
            env.putAll(tlsEnv("inference"));
            env.putAll(options.inferenceEnv());
            services.add(new Service("inference-" + (i + 1), grpc, hb + 2 + i,
                    concat(concat(common, inferenceHeap()), List.of("-jar", app("inference").toString())), env,
                    options.workDir().resolve("logs/inference-" + (i + 1) + ".log")));
        }
        Map<String, String> routerEnv = new LinkedHashMap<>(Map.of("BOUNDLESS_ROUTER_MODEL", modelName, "BOUNDLESS_ROUTER_TOKENIZER_MODEL", tokenizerModel,
                "BOUNDLESS_ROUTER_TOKENIZER", "127.0.0.1:" + (base + 1),
                "QUARKUS_GRPC_SERVER_PORT", Integer.toString(base), "QUARKUS_HTTP_PORT", Integer.toString(hb)));
        if (options.deployment() == null) {
            routerEnv.put("BOUNDLESS_ROUTER_REPLICAS", String.join(",", replicaAddresses));
        } else {
            // the router runs the deployment's replicas itself, as processes of its own, on the ports after the tokenizer's
            routerEnv.put("BOUNDLESS_ROUTER_DEPLOYMENT", options.deployment().toAbsolutePath().normalize().toString());
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_JAVA", java.toString());
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_JAVA_OPTIONS", String.join(",", concat(common.subList(1, common.size()), inferenceHeap())));
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_INFERENCE_JAR", app("inference").toString());
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_STORE", store.toString());
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_LOGS", options.workDir().resolve("logs").toAbsolutePath().toString());
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_GRPC_PORTS", (base + 2) + "-" + (base + 65));
            routerEnv.put("BOUNDLESS_ROUTER_LOCAL_HTTP_OFFSET", Integer.toString(hb - base));
            routerEnv.put("BOUNDLESS_INFERENCE_THREADS", Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / 2)));
            routerEnv.put("BOUNDLESS_INFERENCE_KV_CACHE_MIB", "128");
            routerEnv.putAll(options.inferenceEnv());  // the replicas inherit the router's BOUNDLESS_INFERENCE_* settings
        }
        routerEnv.putAll(tlsEnv("router"));  // the replicas it starts for a deployment inherit these
        routerEnv.put("BOUNDLESS_ROUTER_AUDIT_LOG", options.workDir().resolve("logs/audit.jsonl").toAbsolutePath().toString());
        Path exemplars = exemplarSets(options.root(), store, source, sources);
        if (exemplars != null) {
            routerEnv.put("BOUNDLESS_ROUTER_REASONING_EXEMPLARS", exemplars.toString());
        }
        routerEnv.putAll(options.routerEnv());
        services.add(new Service("router", base, hb, concat(common, List.of("-XX:+UseSerialGC", "-Xmx256m", "-jar",
                app("router").toString())), routerEnv, options.workDir().resolve("logs/router.log")));
        if (options.knowledgeEditEnv() != null) {
            // edits are computed here and published into the same store, beside their base versions
            Map<String, String> env = new LinkedHashMap<>(Map.of("BOUNDLESS_KNOWLEDGE_EDIT_STORE", store.toString(),
                    "BOUNDLESS_KNOWLEDGE_EDIT_DEFAULT_VERSION", sources.getFirst(), "BOUNDLESS_KNOWLEDGE_EDIT_ROUTER", "127.0.0.1:" + base,
                    "BOUNDLESS_KNOWLEDGE_EDIT_TOKENIZER", "127.0.0.1:" + (base + 1),
                    "QUARKUS_GRPC_SERVER_PORT", Integer.toString(base + KNOWLEDGE_EDIT_OFFSET), "QUARKUS_HTTP_PORT", Integer.toString(hb + KNOWLEDGE_EDIT_OFFSET)));
            String keys = routerEnv.get("BOUNDLESS_ROUTER_AUTH_KEYS_FILE");
            if (keys != null) {
                env.put("BOUNDLESS_KNOWLEDGE_EDIT_API_KEYS", keys);  // the same keys: an admin of the router is an admin of edits
            }
            env.putAll(tlsEnv("knowledge-edit"));
            env.putAll(options.knowledgeEditEnv());
            services.add(new Service("knowledge-edit", base + KNOWLEDGE_EDIT_OFFSET, hb + KNOWLEDGE_EDIT_OFFSET, concat(common, List.of("-XX:+UseSerialGC",
                    "-Xmx2g", "-jar", app("knowledge-edit").toString())), env, options.workDir().resolve("logs/knowledge-edit.log")));
        }
        this.store = store;
        this.deploymentSources = sources;
    }

    private final List<String> deploymentSources;
    private final Path tlsDir;
    private io.boundless.proto.tls.PeerTls clientTls;
    /** Who gets a certificate of the local CA: each service (all replicas share one) and this CLI. */
    private static final List<String> TLS_NAMES = List.of("tokenizer", "inference", "router", "knowledge-edit", "cli");

    /** A service's mutual TLS settings: its certificate files, or plaintext where the options ask for it. */
    private Map<String, String> tlsEnv(String name) {
        if (options.plaintext()) {
            return Map.of("BOUNDLESS_TLS_PLAINTEXT", "true");
        }
        return Map.of("BOUNDLESS_TLS_PLAINTEXT", "false", "BOUNDLESS_TLS_CERT", tlsDir.resolve(name + ".crt").toString(),
                "BOUNDLESS_TLS_KEY", tlsDir.resolve(name + ".key").toString(), "BOUNDLESS_TLS_CA", tlsDir.resolve("ca.crt").toString(),
                "BOUNDLESS_TLS_RELOAD_INTERVAL", "2s");
    }

    /** Where the local CA and the services' certificates are (work directory/tls). */
    public Path tlsDirectory() {
        return tlsDir;
    }

    /**
     * Issues every service (and this CLI) a new certificate of the local CA (made once, kept in tls/), valid 30 days,
     * for localhost and 127.0.0.1. Run at every start; run again on a started platform it is a rotation: the services
     * read their new files within their reload interval, without a restart.
     */
    public void issueCertificates() throws IOException {
        if (options.plaintext()) {
            return;
        }
        var ca = io.boundless.proto.tls.LocalCa.inDirectory(tlsDir, "boundless-local-ca");
        for (String name : TLS_NAMES) {
            ca.issue("boundless-" + name, List.of("localhost"), List.of("127.0.0.1"), Duration.ofDays(30)).write(tlsDir, name);
        }
    }

    /** This CLI's mutual TLS to the platform's services (null on a plaintext platform). */
    public synchronized io.boundless.proto.tls.PeerTls clientTls() {
        if (options.plaintext()) {
            return null;
        }
        if (clientTls == null) {
            clientTls = io.boundless.proto.tls.PeerTls.load(tlsDir.resolve("cli.crt"), tlsDir.resolve("cli.key"), tlsDir.resolve("ca.crt"));
            clientTls.watch(Duration.ofSeconds(2));
        }
        return clientTls;
    }

    /**
     * A channel to one of the platform's services on 127.0.0.1 (tokenizer, replica, knowledge-edit: mutual TLS with the
     * CLI's certificate); the router's front door takes plaintext, as any outside client's.
     */
    public io.grpc.ManagedChannel channel(int port) {
        return io.boundless.proto.tls.PeerTls.channelBuilder(clientTls(), "127.0.0.1", port).maxInboundMessageSize(64 << 20).build();
    }

    /** Whether the router runs a deployment's replicas (boundless up --deployment) rather than the static ones. */
    public boolean deployment() {
        return options.deployment() != null;
    }

    /**
     * The inference processes the router started for its deployment (its child processes), in the order they started.
     * Empty for static replicas (they are services of their own).
     */
    public List<ProcessHandle> deploymentReplicas() {
        Process router = processes.get(router());
        if (router == null || options.deployment() == null) {
            return List.of();
        }
        return router.toHandle().children().sorted(java.util.Comparator.comparing(h -> h.info().startInstant().orElse(java.time.Instant.EPOCH))).toList();
    }

    /** The served model's name. */
    public String modelName() {
        return modelName;
    }

    /**
     * Settings for every service, before the platform starts (OpenTelemetry's exporter, say); the router passes its own
     * on to the replicas it starts for a deployment.
     */
    public void environment(Map<String, String> env) {
        if (!processes.isEmpty()) {
            throw new IllegalStateException("the platform has started: its services' settings are set before start()");
        }
        services.replaceAll(x -> {
            Map<String, String> e = new LinkedHashMap<>(x.env());
            e.putAll(env);
            return new Service(x.name(), x.grpcPort(), x.httpPort(), x.command(), e, x.log());
        });
    }

    /**
     * Whether the served model can chat: the tokenizer service, once started, has a chat template for
     * it (its own or the --chat-template one). False before {@link #start}.
     */
    public boolean canChat() {
        return canChat;
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

    /**
     * Writes the model store, starts every service, and waits until all are ready and the tokenizer
     * has loaded the model's tokenizer. A service that stops on the way is an IllegalStateException
     * that gives the reason it logged.
     */
    public void start(Duration timeout) throws IOException, InterruptedException {
        Files.createDirectories(options.workDir().resolve("logs"));
        for (Service s : services) {
            if (get("http://127.0.0.1:" + s.httpPort() + "/q/health/live") >= 0) {
                throw new IllegalStateException("something already answers on 127.0.0.1:" + s.httpPort() + " (a platform started earlier?); stop it first");
            }
            for (int port : new int[] {s.grpcPort(), s.httpPort()}) {
                if (!free(port)) {
                    throw new IllegalStateException("port " + port + " on 127.0.0.1, which the " + s.name() + " service needs, is in use by another"
                            + " program; stop it, or start on other ports (boundless up --grpc-port P --http-port P)");
                }
            }
        }
        issueCertificates();
        if (options.deployment() != null) {
            writeDeploymentModels();
        } else if (source == null) {
            writeDefaultModel();
        } else if (linked) {
            linkTokenizer();
        }
        for (Service s : services) {
            launch(s);
        }
        try {
            awaitReady(services, System.nanoTime() + timeout.toNanos());
        } finally {
            if (adminChannel != null) {
                adminChannel.shutdownNow();
                adminChannel = null;
            }
        }
        checkTokenizer();
    }

    /**
     * The store name ({@code <model>/<version>}) of a model that is already in the store, where the
     * tokenizer service reads it as it is; empty for a model elsewhere.
     */
    private static java.util.Optional<String> storeName(Path store, ModelSource source) {
        Path dir = source.tokenizerDir();
        if (source.chatTemplate() == null && dir.startsWith(store) && store.relativize(dir).getNameCount() == 2 && source.path().equals(dir)) {
            return java.util.Optional.of(store.relativize(dir).toString().replace('\\', '/'));
        }
        return java.util.Optional.empty();
    }

    /**
     * Makes the model's tokenizer a store entry, {@code <store>/<name>/linked}: links to its tokenizer
     * files, and the --chat-template file copied in as chat_template.jinja (which wins over the
     * model's own, as in transformers). Made anew at every start, so it always follows --model.
     */
    private void linkTokenizer() throws IOException {
        Path entry = store.resolve(modelName).resolve(LINKED_VERSION);
        if (Files.exists(entry, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isRegularFile(entry.resolve(LINK_MARKER), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new ModelSource.Refused(entry + " is not an entry that boundless up made; move it away");
            }
            deleteTree(entry);
        }
        Files.createDirectories(entry.getParent());
        Path tmp = Files.createTempDirectory(entry.getParent(), "." + LINKED_VERSION + "-");
        if (source.ggufTokenizer() != null) { // the GGUF file's own tokenizer, as the files the tokenizer service reads
            Files.writeString(tmp.resolve("tokenizer.json"), source.ggufTokenizer().tokenizerJson());
            Files.writeString(tmp.resolve("tokenizer_config.json"), source.ggufTokenizer().tokenizerConfigJson());
        } else {
            for (String name : TOKENIZER_FILES) {
                Path f = source.tokenizerDir().resolve(name);
                if (Files.exists(f)) {
                    Files.createSymbolicLink(tmp.resolve(name), f);
                }
            }
        }
        if (source.chatTemplate() != null) {
            Files.deleteIfExists(tmp.resolve("chat_template.jinja"));
            Files.deleteIfExists(tmp.resolve("chat_templates"));  // a link: the given template is the only one
            Files.copy(source.chatTemplate(), tmp.resolve("chat_template.jinja"));
        }
        Files.writeString(tmp.resolve(LINK_MARKER), source.path() + "\n");
        Files.move(tmp, entry, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {  // does not follow links: only the links themselves go
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** The tokenizer has the model's tokenizer (and its chat template) loaded, or says why it cannot; it also says whether the model can chat. */
    private void checkTokenizer() {
        Service tok = service("tokenizer");
        io.grpc.ManagedChannel ch = channel(tok.grpcPort());
        try {
            canChat = io.boundless.proto.tokenizer.v1.TokenizerGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.MINUTES)
                    .getTokenizerInfo(io.boundless.proto.tokenizer.v1.GetTokenizerInfoRequest.newBuilder().setModel(tokenizerModel).build())
                    .getHasChatTemplate();
        } catch (io.grpc.StatusRuntimeException e) {
            throw new IllegalStateException("the tokenizer service cannot load the tokenizer of " + modelName + ": "
                    + e.getStatus().getDescription() + " (log: " + tok.log() + ")");
        } finally {
            ch.shutdownNow();
        }
    }

    /**
     * The built-in versions a deployment names are written into the store (default-random/1, and default-random/deep: the
     * same tokenizer, 24 layers); any other source must be there already.
     */
    private void writeDeploymentModels() throws IOException, InterruptedException {
        for (String src : deploymentSources) {
            switch (src) {
                case DEFAULT_MODEL + "/1" -> writeStoreModel(options.root(), store, options.workDir().resolve("logs/default-model.log"));
                case DEFAULT_MODEL + "/deep" -> writeStoreModel(options.root(), store, options.workDir().resolve("logs/default-model.log"), "deep");
                case TRAINED_MODEL + "/1" -> copyTrainedModel(options.root(), store);
                default -> {
                    if (!Files.isDirectory(store.resolve(src))) {
                        throw new ModelSource.Refused("the deployment's source " + src + " is not in the model store " + store
                                + ": put the model's directory there as " + store.resolve(src) + " (built in: boundless-world/1, default-random/1, default-random/deep)");
                    }
                }
            }
        }
    }

    /**
     * The model's reasoning exemplar sets for the router: its {@code reasoning/} directory (for the trained default model,
     * where its copy in the store will be), or null when the model has none.
     */
    static Path exemplarSets(Path root, Path store, ModelSource source, List<String> sources) {
        if (source != null) {
            Path d = source.path().resolve("reasoning");
            return Files.isDirectory(d) ? d.toAbsolutePath() : null;
        }
        if (sources.isEmpty()) {
            return null;
        }
        String first = sources.getFirst();
        if (first.equals(TRAINED_MODEL + "/1")) {
            return Files.isDirectory(root.resolve("models").resolve(TRAINED_MODEL).resolve("reasoning")) ? store.resolve(first).resolve("reasoning") : null;
        }
        Path d = store.resolve(first).resolve("reasoning");
        return Files.isDirectory(d) ? d : null;
    }

    /**
     * Copies the committed trained model (models/boundless-world) into the store as boundless-world/1, after checking
     * every file against its SHA256SUMS: a model whose files are not the ones trained is refused, not served.
     */
    static void copyTrainedModel(Path root, Path store) throws IOException {
        Path src = root.resolve("models").resolve(TRAINED_MODEL);
        Path sums = src.resolve("SHA256SUMS");
        if (!Files.isRegularFile(sums)) {
            throw new ModelSource.Refused(src + " has no SHA256SUMS: the trained default model is missing from this checkout");
        }
        Path dst = store.resolve(TRAINED_MODEL).resolve("1");
        Files.createDirectories(dst);
        for (String line : Files.readAllLines(sums)) {
            if (line.isBlank()) {
                continue;
            }
            String[] parts = line.split("  ", 2);
            Path file = src.resolve(parts[1]);
            String actual = sha256(file);
            if (!actual.equals(parts[0])) {
                throw new ModelSource.Refused(file + " does not match its sha256 in " + sums + " (" + actual + ", recorded " + parts[0]
                        + "): the trained model's files were changed; git checkout models/ restores them");
            }
            Path target = dst.resolve(parts[1]);
            Files.createDirectories(target.getParent());
            if (!Files.exists(target) || !sha256(target).equals(actual)) {
                Files.copy(file, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    static String sha256(Path f) throws IOException {
        return io.boundless.train.Trainer.sha256(f);
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
        logStarts.put(s, Files.exists(s.log()) ? Files.size(s.log()) : 0L);
        processes.put(s, pb.start());
    }

    /** Waits until every one of these services is ready; the first that exits on the way fails the wait with its reason. */
    private void awaitReady(List<Service> waiting, long endNanos) throws InterruptedException {
        List<Service> left = new ArrayList<>(waiting);
        while (true) {
            for (java.util.Iterator<Service> it = left.iterator(); it.hasNext(); ) {
                Service s = it.next();
                Process p = processes.get(s);
                if (p != null && !p.isAlive()) {
                    throw new IllegalStateException(exited(s, p.exitValue()));
                }
                if (get("http://127.0.0.1:" + s.httpPort() + "/q/health/ready") == 200) {
                    it.remove();
                } else if (s.name().equals("router") && options.deployment() != null) {
                    String failure = replicaFailure();
                    if (failure != null) {
                        throw new IllegalStateException(failure);
                    }
                }
            }
            if (left.isEmpty()) {
                return;
            }
            if (System.nanoTime() > endNanos) {
                throw new IllegalStateException("the " + left.getFirst().name() + " service did not become ready; see " + left.getFirst().log());
            }
            Thread.sleep(250);  // the poll interval: readiness of another process has no event to wait on
        }
    }

    /**
     * While the router waits for its deployment's first replica: a replica that exited, said in one line with the reason
     * it logged (the router restarts it with a backoff, but a replica that cannot start will not start the next time
     * either); null while none has.
     */
    private String replicaFailure() {
        if (adminChannel == null) {
            adminChannel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", router().grpcPort()).usePlaintext().build();
        }
        io.grpc.ManagedChannel ch = adminChannel;
        try {
            var status = io.boundless.proto.router.v1.AdminGrpc.newBlockingStub(ch).withDeadlineAfter(1, TimeUnit.SECONDS)
                    .getDeploymentStatus(io.boundless.proto.router.v1.GetDeploymentStatusRequest.getDefaultInstance()).getStatus();
            return status.getEventsList().stream().filter(e -> e.getReason().equals("ReplicaExited")).findFirst()
                    .map(e -> "a replica of the deployment could not start: " + e.getMessage().replaceFirst("; replaced in .*$", "")).orElse(null);
        } catch (io.grpc.StatusRuntimeException e) {
            return null;  // the router is not answering yet (or asks for a key): nothing to say
        }
    }

    /** The channel replicaFailure asks the router on while the platform starts (closed once it is up). */
    private io.grpc.ManagedChannel adminChannel;

    /** What to say of a service that exited: the reason it logged since its launch, else its exit code. */
    private String exited(Service s, int code) {
        String reason = null;
        try {
            byte[] log = Files.readAllBytes(s.log());
            int from = (int) Math.min(log.length, logStarts.getOrDefault(s, 0L));
            reason = StartFailure.reason(new String(log, from, log.length - from, java.nio.charset.StandardCharsets.UTF_8));
        } catch (IOException e) {
            // no log to read: the exit code is all there is
        }
        return reason == null ? "the " + s.name() + " service exited (code " + code + "); see " + s.log()
                : "the " + s.name() + " service could not start: " + reason + " (log: " + s.log() + ")";
    }

    /** Waits until the named service reports ready. */
    public void awaitReady(String name, Duration timeout) throws InterruptedException {
        awaitReady(List.of(service(name)), System.nanoTime() + timeout.toNanos());
    }

    /** Nothing listens on the loopback port (a service that cannot bind its gRPC port may otherwise start without it). */
    private static boolean free(int port) {
        try (java.net.ServerSocket probe = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException e) {
            return false;
        }
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

    /** Stops a service as an orchestrator would (SIGTERM), waiting up to timeout for it to exit; returns whether it did. */
    public boolean terminate(String name, Duration timeout) throws InterruptedException {
        Process p = processes.get(service(name));
        p.destroy();
        return p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
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

    /** A running service's process (to read its resident memory or open files, or to signal it); null when not running. */
    public ProcessHandle process(String name) {
        Process p = processes.get(service(name));
        return p == null || !p.isAlive() ? null : p.toHandle();
    }

    public boolean alive(String name) {
        Process p = processes.get(service(name));
        return p != null && p.isAlive();
    }

    /** Stops everything: SIGTERM (graceful), then SIGKILL for what is still running after 20 s. */
    @Override
    public void close() {
        List<ProcessHandle> children = new ArrayList<>();
        processes.values().forEach(p -> p.descendants().forEach(children::add));  // a deployment's replicas, the router's children
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
        for (ProcessHandle h : children) {  // the router stops its replicas as it shuts down; what is left (it was killed) goes now
            if (h.isAlive()) {
                h.destroyForcibly();
            }
        }
        synchronized (this) {
            if (clientTls != null) {
                clientTls.close();
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
