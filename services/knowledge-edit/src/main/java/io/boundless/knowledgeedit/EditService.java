package io.boundless.knowledgeedit;

import io.boundless.edit.CausalTrace;
import io.boundless.edit.Codec;
import io.boundless.edit.Contexts;
import io.boundless.edit.Covariance;
import io.boundless.edit.EditRequest;
import io.boundless.edit.Evaluation;
import io.boundless.edit.Hyper;
import io.boundless.edit.Lm;
import io.boundless.edit.Memit;
import io.boundless.edit.Progress;
import io.boundless.edit.Rome;
import io.boundless.edit.WorldCases;
import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
import io.boundless.engine.model.DeltaVersion;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.train.TrainModel;
import io.boundless.train.Bpe;
import io.boundless.train.Corpus;
import io.boundless.train.World;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The knowledge-edit domain, free of gRPC: traces, edit jobs (one at a time, in order), evaluation, publication as a
 * delta version, and the edits kept on disk under {@code <store>/.edits/<id>/} (edit.json, delta.safetensors, and
 * AlphaEdit's preserved keys), so that they survive a restart. Every change is written to the {@link Audit} log.
 */
public final class EditService implements AutoCloseable {
    /** Bad input: INVALID_ARGUMENT. */
    public static final class InvalidException extends RuntimeException {
        public InvalidException(String m) {
            super(m);
        }
    }

    /** An unknown model version or edit: NOT_FOUND. */
    public static final class NotFoundException extends RuntimeException {
        public NotFoundException(String m) {
            super(m);
        }
    }

    /** A request that cannot be done in the edit's state (publishing a failed edit, deleting a published one): FAILED_PRECONDITION. */
    public static final class StateException extends RuntimeException {
        public StateException(String m) {
            super(m);
        }
    }

    /** Too many jobs waiting: RESOURCE_EXHAUSTED. */
    public static final class BusyException extends RuntimeException {
        public BusyException(String m) {
            super(m);
        }
    }

    /** An edit as kept: the JSON object of edit.json (see {@link #toJson}). */
    public static final class Edit {
        public String id;
        public String modelVersion;
        public String parent = "";
        public Hyper.Method method;
        public List<EditRequest> requests = List.of();
        public Map<String, String> hyperparameters = Map.of();
        public volatile String state = "RUNNING";
        public String error = "";
        public Evaluation.Scores metrics;
        public Evaluation.Scores baseMetrics;
        public String author;
        public long created;
        public double seconds;
        public List<Integer> layers = List.of();
        public int rank;
        public long deltaBytes;
        public long baseBytes;
        public String publishedSource = "";
        final List<Progress> listeners = new CopyOnWriteArrayList<>();
    }

    /** A job's latest report, as {@link Progress} hears it. */
    public record Report(String stage, long done, long total, String message) {}

    private final Path store;
    private final String defaultVersion;
    private final Parallel parallel;
    private final Audit audit;
    private final Function<String, Codec> tokenizerService;
    private final long corpusTokens;
    private final int maxFacts;
    private final int maxQueued;
    private final ExecutorService jobs = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("edit-job").daemon().factory());
    private final Map<String, Edit> edits = new ConcurrentHashMap<>();
    private final Map<String, Report> lastReport = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicInteger queued = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * @param tokenizerService a codec for a model version through the tokenizer service, or null (then only the
     *                         tokenizers Boundless trained, read from the version's tokenizer.json, are used)
     */
    public EditService(Path store, String defaultVersion, int threads, Audit audit, Function<String, Codec> tokenizerService, long corpusTokens,
            int maxFacts, int maxQueued) throws IOException {
        this.store = store.toAbsolutePath().normalize();
        this.defaultVersion = defaultVersion;
        this.parallel = new Parallel(threads);
        this.audit = audit;
        this.tokenizerService = tokenizerService;
        this.corpusTokens = corpusTokens;
        this.maxFacts = maxFacts;
        this.maxQueued = maxQueued;
        Path dir = this.store.resolve(".edits");
        if (Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Path f = p.resolve("edit.json");
                    if (Files.isRegularFile(f)) {
                        Edit e = fromJson(Files.readString(f));
                        if (e.state.equals("RUNNING")) {
                            e.state = "FAILED";
                            e.error = "the service stopped while the edit ran";
                        }
                        edits.put(e.id, e);
                    }
                }
            }
        }
    }

    public Path store() {
        return store;
    }

    public String defaultVersion() {
        return defaultVersion;
    }

    // ------------------------------------------------------------------ models

    /** A model version's directory, checked: inside the store, a base version (not a delta), with weights. */
    Path versionDir(String version) {
        String v = version == null || version.isBlank() ? defaultVersion : version.strip();
        if (v == null) {
            throw new InvalidException("model_version is empty and the service has no default version");
        }
        if (DeltaVersion.isDelta(v)) {
            throw new InvalidException("model_version " + v + " is an edit's version: edit it by its edit id (sequential editing)");
        }
        Path dir = store.resolve(v).normalize();
        if (!dir.startsWith(store) || !v.matches("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new InvalidException("model_version is <model>/<version> in the model store, not " + v);
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new NotFoundException("no model version " + v + " in the model store " + store);
        }
        return dir;
    }

    String versionOf(String version) {
        return version == null || version.isBlank() ? defaultVersion : version.strip();
    }

    /** A fresh copy of a version's weights with its tokenizer (each job mutates its own). */
    Lm open(String version) {
        Path dir = versionDir(version);
        TrainModel m;
        try {
            m = TrainModel.open(dir, parallel);
        } catch (RuntimeException e) {
            throw new StateException("model version " + versionOf(version) + " cannot be edited: " + e.getMessage());
        }
        return new Lm(m, codec(dir, versionOf(version)));
    }

    private Codec codec(Path dir, String version) {
        Path tj = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(tj)) {
            try {
                return Codec.of(Bpe.read(tj));
            } catch (IOException | RuntimeException e) {
                // not a tokenizer Boundless trained: the tokenizer service reads every kind
            }
        }
        if (tokenizerService == null) {
            throw new StateException("model version " + version + " has a tokenizer Boundless did not train; configure"
                    + " boundless.knowledge-edit.tokenizer (the tokenizer service) to edit it");
        }
        return tokenizerService.apply(version);
    }

    /** The edit-defaults.json of a version: per method, hyperparameters found for this model (by causal tracing). */
    @SuppressWarnings("unchecked")
    Map<String, String> modelDefaults(Path dir, Hyper.Method method) {
        Path f = dir.resolve("edit-defaults.json");
        if (!Files.isRegularFile(f)) {
            return Map.of();
        }
        try {
            Object o = Json.parse(Files.readString(f));
            if (o instanceof Map<?, ?> m && m.get(method.name().toLowerCase(java.util.Locale.ROOT)) instanceof Map<?, ?> h) {
                Map<String, String> out = new LinkedHashMap<>();
                ((Map<String, Object>) h).forEach((k, v) -> out.put(k, String.valueOf(v)));
                return out;
            }
            return Map.of();
        } catch (IOException | RuntimeException e) {
            throw new StateException(f + " is not valid: " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ trace

    public record TraceParams(String version, String prompt, String subject, String target, int samples, double noise, int window, long seed) {}

    public CausalTrace.Trace trace(TraceParams p, Progress progress) {
        EditRequest r = new EditRequest(p.prompt(), p.subject(), "x");
        List<String> problems = new ArrayList<>(r.problems());
        if (!problems.isEmpty()) {
            throw new InvalidException(String.join("; ", problems));
        }
        if (p.samples() < 1 || p.samples() > 64) {
            throw new InvalidException("samples must be 1 to 64, not " + p.samples());
        }
        if (!(p.noise() > 0) || p.noise() > 100) {
            throw new InvalidException("noise must be above 0 and at most 100 standard deviations, not " + p.noise());
        }
        Lm lm = open(p.version());
        int window = p.window() > 0 ? p.window() : Math.max(1, (int) Math.round(10.0 * lm.layers() / 48));
        if (window > lm.layers()) {
            throw new InvalidException("window " + window + " is more than the model's " + lm.layers() + " layers");
        }
        int tokens = lm.codec().encode(r.text()).length;
        if (tokens > 256) {
            throw new InvalidException("the prompt has " + tokens + " tokens; tracing takes at most 256");
        }
        return CausalTrace.trace(lm, p.prompt(), p.subject(), p.target(), p.samples(), p.noise(), window, p.seed(), List.of(CausalTrace.Kind.values()),
                progress);
    }

    // ------------------------------------------------------------------ edits

    public record CreateParams(String version, Hyper.Method method, List<EditRequest> requests, Map<String, String> hyperparameters, String corpus,
            long corpusTokens, boolean evaluate) {}

    /** Checks a request and queues its job; the returned edit is RUNNING, and listeners hear its progress. */
    public Edit create(CreateParams p, String author, Progress listener) {
        if (p.method() == null) {
            throw new InvalidException("method is required: ROME, MEMIT or ALPHAEDIT");
        }
        if (p.requests().isEmpty()) {
            throw new InvalidException("an edit needs at least one fact (requests)");
        }
        if (p.requests().size() > maxFacts) {
            throw new InvalidException("an edit writes at most " + maxFacts + " facts, not " + p.requests().size());
        }
        if (p.method() == Hyper.Method.ROME && p.requests().size() != 1) {
            throw new InvalidException("ROME writes one fact; use MEMIT or ALPHAEDIT for " + p.requests().size());
        }
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < p.requests().size(); i++) {
            for (String s : p.requests().get(i).problems()) {
                problems.add("requests[" + i + "]: " + s);
            }
        }
        if (!problems.isEmpty()) {
            throw new InvalidException(String.join("; ", problems));
        }
        // the version, or the parent edit for a sequential edit
        String version = versionOf(p.version());
        Edit parent = null;
        if (version != null && edits.containsKey(version)) {
            parent = edits.get(version);
            if (parent.state.equals("FAILED") || parent.state.equals("RUNNING")) {
                throw new StateException("edit " + parent.id + " is " + parent.state + ": only a finished edit can be edited further");
            }
            if (parent.method != p.method() && (parent.method == Hyper.Method.ALPHAEDIT || p.method() == Hyper.Method.ALPHAEDIT)) {
                throw new InvalidException("a sequential AlphaEdit continues an AlphaEdit edit (its preserved keys), not a " + parent.method + " one");
            }
            version = parent.modelVersion;
        }
        Path dir = versionDir(version);
        // checked from the config and the tokenizer alone: the weights are read by the job
        io.boundless.engine.model.ModelConfig config;
        try {
            config = io.boundless.engine.model.LoadedModel.inspect(dir);
        } catch (RuntimeException e) {
            throw new StateException("model version " + version + " cannot be edited: " + e.getMessage());
        }
        Codec codec = codec(dir, version);
        Hyper h;
        try {
            Hyper d = Hyper.defaults(p.method(), config);
            h = d.with(modelDefaults(dir, p.method()), config.layers()).with(p.hyperparameters(), config.layers());
        } catch (IllegalArgumentException e) {
            throw new InvalidException(e.getMessage());
        }
        for (EditRequest r : p.requests()) {
            if (codec.encode(" " + r.targetNew().strip()).length == 0) {
                throw new InvalidException("target_new \"" + r.targetNew() + "\" encodes to no token");
            }
        }
        if (p.corpus() != null && !p.corpus().isBlank()) {
            corpusFile(p.corpus());
        }
        if (queued.get() >= maxQueued + 1) {
            throw new BusyException(queued.get() + " edits are queued or running, the limit; retry later");
        }
        Edit e = new Edit();
        e.id = "e-" + java.util.HexFormat.of().formatHex(java.nio.ByteBuffer.allocate(4).putInt(new java.security.SecureRandom().nextInt()).array());
        e.modelVersion = version;
        e.parent = parent == null ? "" : parent.id;
        e.method = p.method();
        e.requests = List.copyOf(p.requests());
        e.hyperparameters = h.asMap();
        e.layers = h.layers();
        e.author = author;
        e.created = System.currentTimeMillis();
        if (listener != null) {
            e.listeners.add(listener);
        }
        edits.put(e.id, e);
        persist(e);
        audit.write(author, "create", e.id, Map.of("model_version", version, "method", e.method.name(), "parent", e.parent, "facts", facts(e)));
        queued.incrementAndGet();
        Edit parentFinal = parent;
        Hyper hyper = h;
        // the job runs in the trace of the CreateEdit that queued it (its calls to the tokenizer are children of it)
        jobs.execute(io.opentelemetry.context.Context.current().wrap(() -> {
            try {
                run(e, parentFinal, hyper, p, dir);
            } finally {
                queued.decrementAndGet();
            }
        }));
        return e;
    }

    private static List<Map<String, String>> facts(Edit e) {
        List<Map<String, String>> out = new ArrayList<>();
        for (EditRequest r : e.requests) {
            out.add(Map.of("subject", r.subject(), "target_new", r.targetNew()));
        }
        return out;
    }

    private Path corpusFile(String corpus) {
        Path f = store.resolve(corpus).normalize();
        if (!f.startsWith(store) || !Files.isRegularFile(f)) {
            throw new InvalidException("corpus " + corpus + " is not a file in the model store");
        }
        return f;
    }

    private void run(Edit e, Edit parent, Hyper h, CreateParams p, Path dir) {
        long t0 = System.nanoTime();
        Progress progress = (stage, done, total, message) -> {
            lastReport.put(e.id, new Report(stage, done, total, message));
            for (Progress l : e.listeners) {
                try {
                    l.report(stage, done, total, message);
                } catch (RuntimeException ex) {
                    e.listeners.remove(l);
                }
            }
        };
        try {
            Lm lm = open(e.modelVersion);
            List<Overlay.LowRank> before = new ArrayList<>();
            Memit.State state = new Memit.State();
            if (parent != null) {
                before.addAll(readDelta(parent, lm.model().config()));
                lm.apply(before);
                lm.commit();
                if (h.method() == Hyper.Method.ALPHAEDIT) {
                    readAlphaState(parent, state, lm.model().config().intermediate());
                }
            }
            // the true objects the model gives now, where the caller gave none
            List<EditRequest> reqs = new ArrayList<>();
            for (EditRequest r : e.requests) {
                reqs.add(r.targetTrue() == null || r.targetTrue().isBlank() ? new EditRequest(r.prompt(), r.subject(), r.targetNew(), answer(lm, r)) : r);
            }
            e.requests = List.copyOf(reqs);
            List<Evaluation.Case> cases = cases(reqs);
            if (p.evaluate()) {
                progress.report("evaluate", 0, 2, "the unedited model on " + cases.size() + " cases");
                e.baseMetrics = Evaluation.evaluate(lm, cases, 0, 1);
            }
            String corpusName = p.corpus() == null || p.corpus().isBlank() ? "boundless-world-corpus" : "file-" + sha12(corpusFile(p.corpus()));
            long tokens = p.corpusTokens() > 0 ? p.corpusTokens() : corpusTokens;
            Map<Integer, Covariance.Stats> stats = Covariance.get(lm, h.layers(), dir, corpusName, tokens, texts(p.corpus()), parallel, progress);
            List<String> contexts = Contexts.prefixes(lm, h.prefixes5(), h.prefixes10(), h.seed());
            List<Overlay.LowRank> deltas = new ArrayList<>();
            if (h.method() == Hyper.Method.ROME) {
                Rome.Result r = Rome.edit(lm, reqs.getFirst(), h, stats.get(h.layers().getFirst()), contexts, progress);
                deltas.add(r.delta());
                lm.apply(deltas);
            } else {
                deltas.addAll(Memit.edit(lm, reqs, h, stats, contexts, state, progress).deltas());
            }
            if (p.evaluate()) {
                progress.report("evaluate", 1, 2, "the edited model on " + cases.size() + " cases");
                e.metrics = Evaluation.evaluate(lm, cases, 0, 1);
                progress.report("evaluate", 2, 2, e.metrics.row());
            }
            List<Overlay.LowRank> all = new ArrayList<>(before);
            all.addAll(deltas);
            Overlay merged = new Overlay(e.id, all, null);
            Path edir = editDir(e.id);
            Files.createDirectories(edir);
            Overlay.write(edir.resolve(DeltaVersion.DELTA), lm.model().config().arch(), List.copyOf(merged.layers().values()), Map.of("edit", e.id));
            if (h.method() == Hyper.Method.ALPHAEDIT) {
                writeAlphaState(e, state, lm.model().config().intermediate());
            }
            e.rank = merged.layers().values().stream().mapToInt(Overlay.LowRank::rank).sum();
            e.deltaBytes = Files.size(edir.resolve(DeltaVersion.DELTA));
            e.baseBytes = weightBytes(dir);
            e.seconds = (System.nanoTime() - t0) / 1e9;
            e.state = "SUCCEEDED";
            audit.write(e.author, "edit-succeeded", e.id, Map.of("seconds", e.seconds, "metrics", e.metrics == null ? Map.of() : scores(e.metrics)));
        } catch (Exception ex) {
            e.state = "FAILED";
            e.error = ex instanceof IllegalArgumentException || ex instanceof ArithmeticException || ex instanceof StateException
                    ? ex.getMessage() : ex.getClass().getSimpleName() + ": " + ex.getMessage();
            e.seconds = (System.nanoTime() - t0) / 1e9;
            audit.write(e.author, "edit-failed", e.id, Map.of("error", e.error));
            org.jboss.logging.Logger.getLogger(EditService.class).warnf(ex, "edit %s failed", e.id);
        }
        try {
            persist(e);
        } catch (RuntimeException ex) {
            org.jboss.logging.Logger.getLogger(EditService.class).errorf(ex, "could not save edit %s", e.id);
        }
        progress.report("done", 1, 1, e.state.toLowerCase(java.util.Locale.ROOT) + (e.error.isEmpty() ? "" : ": " + e.error));
        e.listeners.clear();
    }

    /** The model's greedy answer to a request's prompt: the words up to the first period or line end. */
    static String answer(Lm lm, EditRequest r) {
        String g = lm.generate(List.of(r.text()), 8, 1, 0).getFirst();
        int end = g.length();
        for (String stop : List.of(".", "\n", "<|", ",")) {
            int i = g.indexOf(stop);
            if (i >= 0) {
                end = Math.min(end, i);
            }
        }
        String a = g.substring(0, end).strip();
        return a.isEmpty() ? g.strip() : a;
    }

    /** Each request as a case: with the world's paraphrases and neighbors where the world has its subject and prompt. */
    static List<Evaluation.Case> cases(List<EditRequest> reqs) {
        List<Evaluation.Case> world = WorldCases.all(World.standard());
        List<Evaluation.Case> out = new ArrayList<>();
        for (EditRequest r : reqs) {
            String template = Contexts.normalize(r.prompt(), r.subject());
            Evaluation.Case match = world.stream().filter(c -> c.request().subject().equals(r.subject()) && c.request().prompt().equals(template))
                    .findFirst().orElse(null);
            out.add(new Evaluation.Case(r, match == null ? List.of() : match.paraphrases(), match == null ? List.of() : match.neighbors().stream()
                    .filter(n -> !n.trueObject().equals(r.targetNew())).toList(), List.of(template)));
        }
        return out;
    }

    private Iterable<String> texts(String corpus) throws IOException {
        if (corpus != null && !corpus.isBlank()) {
            List<String> lines = Files.readAllLines(corpusFile(corpus), StandardCharsets.UTF_8);
            return lines.stream().filter(l -> !l.isBlank()).toList();
        }
        Corpus c = new Corpus(World.standard(), Corpus.Mix.standard());
        return () -> new java.util.Iterator<>() {
            final SplittableRandom rnd = new SplittableRandom(7);

            @Override
            public boolean hasNext() {
                return true;
            }

            @Override
            public String next() {
                return c.next(rnd).render();
            }
        };
    }

    private static String sha12(Path f) throws IOException {
        return Overlay.sha256(f).substring(0, 12);
    }

    private static long weightBytes(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.toString().endsWith(".safetensors")).mapToLong(f -> {
                try {
                    return Files.size(f);
                } catch (IOException e) {
                    return 0;
                }
            }).sum();
        }
    }

    List<Overlay.LowRank> readDelta(Edit e, io.boundless.engine.model.ModelConfig config) throws IOException {
        return List.copyOf(Overlay.read(e.id, editDir(e.id).resolve(DeltaVersion.DELTA), config).layers().values());
    }

    private void writeAlphaState(Edit e, Memit.State s, int inter) throws IOException {
        Map<String, io.boundless.engine.tensor.Tensor> t = new LinkedHashMap<>();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            for (int l : e.layers) {
                double[] k = s.previousKeys(l);
                if (k != null) {
                    t.put("layer." + l, io.boundless.engine.model.ModelWriter.tensor(arena, "layer." + l, io.boundless.engine.tensor.DType.F32,
                            new long[] {inter, inter}, io.boundless.edit.Dense.toFloat(k)));
                }
            }
            io.boundless.engine.format.SafeTensors.write(editDir(e.id).resolve("alphaedit-keys.safetensors"), t, Map.of());
        }
    }

    private void readAlphaState(Edit e, Memit.State s, int inter) throws IOException {
        Path f = editDir(e.id).resolve("alphaedit-keys.safetensors");
        if (!Files.isRegularFile(f)) {
            return;
        }
        try (io.boundless.engine.format.SafeTensors st = io.boundless.engine.format.SafeTensors.open(f)) {
            for (var t : st.tensors().values()) {
                s.previousKeys(Integer.parseInt(t.name().substring("layer.".length())), io.boundless.edit.Dense.toDouble(t.toFloatArray()));
            }
        }
    }

    /** Hears a job's progress from now on; returns the report so far (null if none yet). */
    public Report watch(String id, Progress listener) {
        Edit e = get(id);
        if (e.state.equals("RUNNING")) {
            e.listeners.add(listener);
        }
        return lastReport.get(id);
    }

    public Edit get(String id) {
        Edit e = edits.get(id);
        if (e == null) {
            throw new NotFoundException("no edit " + id);
        }
        return e;
    }

    public List<Edit> list() {
        return edits.values().stream().sorted(Comparator.comparingLong((Edit e) -> e.created).reversed()).toList();
    }

    public void delete(String id, String author) {
        Edit e = get(id);
        if (e.state.equals("RUNNING")) {
            throw new StateException("edit " + id + " is running");
        }
        if (e.state.equals("PUBLISHED")) {
            throw new StateException("edit " + id + " is published as " + e.publishedSource + ": retire that version through the rollout API first");
        }
        if (edits.values().stream().anyMatch(x -> x.parent.equals(id))) {
            throw new StateException("edit " + id + " is the parent of other edits");
        }
        try {
            DeltaVersion.deleteTree(editDir(id));
        } catch (IOException ex) {
            throw new StateException("cannot delete edit " + id + ": " + ex.getMessage());
        }
        edits.remove(id);
        audit.write(author, "delete", id, Map.of());
    }

    // ------------------------------------------------------------------ evaluation

    public Evaluation.Scores evaluate(String editId, String version, List<Evaluation.Case> given, int worldCases, int genTokens) {
        Lm lm;
        if (editId != null && !editId.isBlank()) {
            Edit e = get(editId);
            if (!e.state.equals("SUCCEEDED") && !e.state.equals("PUBLISHED")) {
                throw new StateException("edit " + editId + " is " + e.state);
            }
            lm = open(e.modelVersion);
            try {
                lm.apply(readDelta(e, lm.model().config()));
            } catch (IOException ex) {
                throw new StateException("edit " + editId + "'s delta cannot be read: " + ex.getMessage());
            }
        } else {
            lm = open(version);
        }
        if (genTokens < 0 || genTokens > 200) {
            throw new InvalidException("generation_tokens must be 0 to 200, not " + genTokens);
        }
        List<Evaluation.Case> cases = given;
        if (cases.isEmpty()) {
            List<Evaluation.Case> all = WorldCases.all(World.standard());
            int n = worldCases <= 0 ? 20 : worldCases;
            if (n > all.size()) {
                throw new InvalidException("world_cases is at most " + all.size());
            }
            cases = all.subList(0, n);
        } else {
            for (Evaluation.Case c : cases) {
                List<String> p = c.request().problems();
                if (!p.isEmpty()) {
                    throw new InvalidException(String.join("; ", p));
                }
                if (c.request().targetTrue() == null || c.request().targetTrue().isBlank()) {
                    throw new InvalidException("every case needs target_true (\"" + c.request().text() + "\" has none)");
                }
            }
        }
        return Evaluation.evaluate(lm, cases, genTokens, 1);
    }

    // ------------------------------------------------------------------ publication

    public record Published(String source, Map<String, String> files) {}

    /** Writes an edit as the version {@code <model>/<base>+<id>} (idempotent: a published edit returns its version). */
    public synchronized Published publish(String id, String author) {
        Edit e = get(id);
        if (e.state.equals("PUBLISHED")) {
            return new Published(e.publishedSource, readFiles(store.resolve(e.publishedSource)));
        }
        if (!e.state.equals("SUCCEEDED")) {
            throw new StateException("edit " + id + " is " + e.state + (e.error.isEmpty() ? "" : " (" + e.error + ")") + ": only a succeeded edit is published");
        }
        String source = e.modelVersion + "+" + e.id;
        try {
            Path base = versionDir(e.modelVersion);
            io.boundless.engine.model.ModelConfig config = io.boundless.engine.model.LoadedModel.inspect(base);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("format", "boundless-delta/1");
            m.put("base", e.modelVersion);
            m.put("base_weights_sha256", DeltaVersion.weightsSha256(base));
            m.put("edit", e.id);
            m.put("parent", e.parent);
            m.put("method", e.method.name());
            m.put("hyperparameters", e.hyperparameters);
            m.put("requests", e.requests.stream().map(EditService::requestJson).toList());
            if (e.metrics != null) {
                m.put("metrics", scores(e.metrics));
            }
            if (e.baseMetrics != null) {
                m.put("base_metrics", scores(e.baseMetrics));
            }
            m.put("author", e.author);
            m.put("created", java.time.Instant.ofEpochMilli(e.created).toString());
            m.put("published", java.time.Instant.now().toString());
            m.put("published_by", author);
            @SuppressWarnings("unchecked")
            Map<String, Object> clean = (Map<String, Object>) Audit.jsonSafe(m);  // an unmeasured score (NaN) is null in JSON
            Path dir = DeltaVersion.write(store, source, config.arch(), readDelta(e, config), clean);
            e.publishedSource = source;
            e.state = "PUBLISHED";
            persist(e);
            Map<String, String> files = readFiles(dir);
            audit.write(author, "publish", id, Map.of("source", source, "files", files, "metrics", e.metrics == null ? Map.of() : scores(e.metrics)));
            return new Published(source, files);
        } catch (IOException ex) {
            throw new StateException("cannot publish edit " + id + ": " + ex.getMessage());
        }
    }

    private static Map<String, String> readFiles(Path dir) {
        Map<String, String> out = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(dir.resolve("SHA256SUMS"))) {
                String[] p = line.strip().split("\\s+", 2);
                if (p.length == 2) {
                    out.put(p[1], p[0]);
                }
            }
        } catch (IOException e) {
            throw new StateException(dir + " has no readable SHA256SUMS: " + e.getMessage());
        }
        return out;
    }

    public void audit(String who, String action, String id, Map<String, Object> details) {
        audit.write(who, action, id, details);
    }

    // ------------------------------------------------------------------ persistence

    private Path editDir(String id) {
        return store.resolve(".edits").resolve(id);
    }

    private void persist(Edit e) {
        try {
            Path dir = editDir(e.id);
            Files.createDirectories(dir);
            Path tmp = dir.resolve("edit.json.tmp");
            Files.writeString(tmp, toJson(e));
            Files.move(tmp, dir.resolve("edit.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException ex) {
            throw new java.io.UncheckedIOException(ex);
        }
    }

    static Map<String, Object> requestJson(EditRequest r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt", r.prompt());
        m.put("subject", r.subject());
        m.put("target_new", r.targetNew());
        if (r.targetTrue() != null) {
            m.put("target_true", r.targetTrue());
        }
        return m;
    }

    static Map<String, Object> scores(Evaluation.Scores s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("es", s.es());
        m.put("em", s.em());
        m.put("ps", s.ps());
        m.put("pm", s.pm());
        m.put("ns", s.ns());
        m.put("nm", s.nm());
        m.put("s", s.s());
        m.put("ge", s.ge());
        m.put("cases", s.cases());
        return m;
    }

    private static Evaluation.Scores scoresOf(Object o) {
        if (!(o instanceof Map<?, ?> m)) {
            return null;
        }
        Function<String, Double> d = k -> m.get(k) instanceof Number n ? n.doubleValue() : Double.NaN;
        return new Evaluation.Scores(d.apply("es"), d.apply("em"), d.apply("ps"), d.apply("pm"), d.apply("ns"), d.apply("nm"), d.apply("s"), d.apply("ge"),
                (int) (double) d.apply("cases"));
    }

    static String toJson(Edit e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", e.id);
        m.put("model_version", e.modelVersion);
        m.put("parent", e.parent);
        m.put("method", e.method.name());
        m.put("requests", e.requests.stream().map(EditService::requestJson).toList());
        m.put("hyperparameters", e.hyperparameters);
        m.put("state", e.state);
        m.put("error", e.error);
        if (e.metrics != null) {
            m.put("metrics", scores(e.metrics));
        }
        if (e.baseMetrics != null) {
            m.put("base_metrics", scores(e.baseMetrics));
        }
        m.put("author", e.author);
        m.put("created", e.created);
        m.put("seconds", e.seconds);
        m.put("layers", e.layers);
        m.put("rank", e.rank);
        m.put("delta_bytes", e.deltaBytes);
        m.put("base_bytes", e.baseBytes);
        m.put("published_source", e.publishedSource);
        return Json.write(Audit.jsonSafe(m));
    }

    @SuppressWarnings("unchecked")
    static Edit fromJson(String json) {
        Map<String, Object> m = (Map<String, Object>) Json.parse(json);
        Edit e = new Edit();
        e.id = (String) m.get("id");
        e.modelVersion = (String) m.get("model_version");
        e.parent = (String) m.getOrDefault("parent", "");
        e.method = Hyper.Method.valueOf((String) m.get("method"));
        List<EditRequest> reqs = new ArrayList<>();
        for (Object o : (List<Object>) m.getOrDefault("requests", List.of())) {
            Map<String, Object> r = (Map<String, Object>) o;
            reqs.add(new EditRequest((String) r.get("prompt"), (String) r.get("subject"), (String) r.get("target_new"), (String) r.get("target_true")));
        }
        e.requests = List.copyOf(reqs);
        Map<String, String> h = new LinkedHashMap<>();
        ((Map<String, Object>) m.getOrDefault("hyperparameters", Map.of())).forEach((k, v) -> h.put(k, String.valueOf(v)));
        e.hyperparameters = h;
        e.state = (String) m.get("state");
        e.error = (String) m.getOrDefault("error", "");
        e.metrics = scoresOf(m.get("metrics"));
        e.baseMetrics = scoresOf(m.get("base_metrics"));
        e.author = (String) m.get("author");
        e.created = ((Number) m.get("created")).longValue();
        e.seconds = ((Number) m.getOrDefault("seconds", 0)).doubleValue();
        e.layers = ((List<Object>) m.getOrDefault("layers", List.of())).stream().map(x -> ((Number) x).intValue()).toList();
        e.rank = ((Number) m.getOrDefault("rank", 0)).intValue();
        e.deltaBytes = ((Number) m.getOrDefault("delta_bytes", 0)).longValue();
        e.baseBytes = ((Number) m.getOrDefault("base_bytes", 0)).longValue();
        e.publishedSource = (String) m.getOrDefault("published_source", "");
        return e;
    }

    @Override
    public void close() {
        jobs.shutdownNow();
    }
}
