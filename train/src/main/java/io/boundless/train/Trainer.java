package io.boundless.train;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
import io.boundless.engine.format.SafeTensors;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWeights;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import io.boundless.engine.train.AdamW;
import io.boundless.engine.train.Schedule;
import io.boundless.engine.train.TrainModel;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * {@code boundless train}: corpus → tokenizer → model → a Hugging Face directory the inference service
 * serves unchanged (config.json, model.safetensors in BF16, tokenizer.json, tokenizer_config.json with
 * the chat template), with the recipe, the training curve, the held-out evaluation and the sha256 of
 * every file. A checkpoint (float32 weights, AdamW's moments, the step) is written every
 * checkpointEvery steps under checkpoint/, and a run started again on the same directory continues
 * from it: batches are a function of (seed, step), so a resumed run is the run that was interrupted.
 */
public final class Trainer {
    private final Recipe recipe;
    private final Path out;
    private final PrintStream log;

    private long stopAfter = Long.MAX_VALUE;

    public Trainer(Recipe recipe, Path out, PrintStream log) {
        this.recipe = recipe;
        this.out = out;
        this.log = log;
    }

    /** Stops the run at the first checkpoint at or after step (as an interrupted run would): {@link #run} then returns null. */
    public Trainer stopAfter(long step) {
        this.stopAfter = step;
        return this;
    }

    /** The ids of a document (special tokens by id, text through the BPE). */
    public static int[] ids(Bpe bpe, Corpus.Doc doc) {
        List<int[]> parts = new ArrayList<>();
        for (Object p : doc.parts()) {
            parts.add(p instanceof Corpus.Special s ? new int[] {bpe.special(s.text)} : bpe.encode((String) p));
        }
        return Bpe.concat(parts);
    }

    /**
     * Which tokens of a document are predicted (trained on): every token of a plain document but the
     * first; in a chat turn only the assistant's answer and its end of turn, not the question.
     */
    static boolean[] trained(Bpe bpe, Corpus.Doc doc, int[] ids) {
        // from the document's ids (text never encodes to a special id): after <|assistant|> in a chat turn, after the first token otherwise
        int from = 1;
        if (doc.parts().getFirst() == Corpus.Special.USER) {
            int assistant = bpe.special(Corpus.Special.ASSISTANT.text);
            from = ids.length;
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] == assistant) {
                    from = i + 1;
                    break;
                }
            }
        }
        boolean[] m = new boolean[ids.length];
        for (int i = from; i < m.length; i++) {
            m[i] = true;
        }
        return m;
    }

    /** The training batch of a step: rows packed with whole documents, each attending only to itself. */
    static TrainModel.Batch batch(Corpus corpus, Bpe bpe, Recipe r, long step, int pad) {
        SplittableRandom rnd = new SplittableRandom(r.seed() * 1_000_003L + step);
        int n = r.batch() * r.seq();
        int[] tokens = new int[n];
        int[] targets = new int[n];
        int[] docStart = new int[n];
        java.util.Arrays.fill(tokens, pad);
        java.util.Arrays.fill(targets, -1);
        for (int row = 0; row < r.batch(); row++) {
            int used = 0;
            int misses = 0;
            while (misses < 3) {
                Corpus.Doc d = corpus.next(rnd);
                int[] ids = ids(bpe, d);
                if (ids.length > r.seq() - used) {
                    misses++;
                    continue;
                }
                boolean[] mask = trained(bpe, d, ids);
                int base = row * r.seq() + used;
                for (int j = 0; j < ids.length; j++) {
                    tokens[base + j] = ids[j];
                    docStart[base + j] = used;
                    if (j + 1 < ids.length && mask[j + 1]) {
                        targets[base + j] = ids[j + 1];
                    }
                }
                used += ids.length;
            }
            for (int j = used; j < r.seq(); j++) {
                docStart[row * r.seq() + j] = j;  // padding: each its own document, no target
            }
        }
        return new TrainModel.Batch(r.batch(), r.seq(), tokens, targets, docStart);
    }

    /** Runs the recipe (or continues it); returns the final evaluation. */
    public List<Evaluator.Score> run() throws IOException {
        Files.createDirectories(out);
        Files.writeString(out.resolve("recipe.json"), Json.write(recipeJson()));
        Corpus corpus = new Corpus(World.standard(), Corpus.Mix.standard());
        Bpe bpe = tokenizer(corpus);
        int end = bpe.special(Corpus.Special.END.text);
        int eot = bpe.special(Corpus.Special.END_OF_TEXT.text);
        ModelConfig config = recipe.config(bpe.size(), end, eot);
        Parallel parallel = new Parallel(recipe.threads());
        try {
            TrainModel model;
            AdamW opt;
            long start = 0;
            Path ckpt = out.resolve("checkpoint");
            if (Files.exists(ckpt.resolve("state.json"))) {
                model = TrainModel.open(ckpt, parallel);
                opt = new AdamW(model.params(), settings());
                start = restore(ckpt, opt);
                log.printf("resuming %s from step %d of %d%n", recipe.name(), start, recipe.steps());
            } else {
                model = TrainModel.init(config, recipe.seed(), parallel);
                opt = new AdamW(model.params(), settings());
                Files.writeString(out.resolve("curve.tsv"), "step\ttokens\tloss\tfacts-trained\tfacts-paraphrase\n");
                log.printf("training %s: %,d parameters (%s, hidden %d, %d layers, %d heads, %d kv heads), vocabulary %d, %d steps of %d x %d tokens%n",
                        recipe.name(), model.parameterCount(), recipe.architecture(), recipe.hidden(), recipe.layers(), recipe.heads(),
                        config.kvHeads(), config.vocabSize(), recipe.steps(), recipe.batch(), recipe.seq());
            }
            Schedule schedule = new Schedule(recipe.peakLr(), recipe.minLr(), recipe.warmupSteps(), recipe.steps());
            List<Corpus.Probe> curveProbes = curveProbes(corpus);
            Progress progress = new Progress(log, recipe.steps(), start);
            double ema = Double.NaN;
            for (long step = start; step < recipe.steps(); step++) {
                TrainModel.Batch b = batch(corpus, bpe, recipe, step, eot);
                model.zeroGrad();
                double loss = model.forward(b);
                model.backward(true);
                opt.step(schedule.lr(step));
                ema = Double.isNaN(ema) ? loss : 0.95 * ema + 0.05 * loss;
                progress.step(step + 1, loss, ema, schedule.lr(step), b.size());
                boolean last = step + 1 == recipe.steps();
                if ((step + 1) % recipe.curveEvery() == 0 || last) {
                    double[] acc = quickEval(model, bpe, parallel, curveProbes);
                    Files.writeString(out.resolve("curve.tsv"), String.format("%d\t%d\t%.4f\t%.3f\t%.3f%n", step + 1,
                            (step + 1) * (long) recipe.batch() * recipe.seq(), ema, acc[0], acc[1]), java.nio.file.StandardOpenOption.APPEND);
                    progress.note(String.format("step %d: loss %.3f, facts %.0f%% trained phrasings, %.0f%% unseen paraphrases", step + 1, ema,
                            100 * acc[0], 100 * acc[1]));
                }
                if ((step + 1) % recipe.checkpointEvery() == 0 && !last) {
                    checkpoint(ckpt, model, opt, step + 1);
                    if (step + 1 >= stopAfter) {
                        log.printf("stopped after step %d; the next run on %s resumes from there%n", step + 1, out);
                        return null;
                    }
                }
            }
            progress.done();
            ModelWriter.writeHuggingFace(out, config, model.toHuggingFace(), DType.BF16);
            bpe.write(out, Corpus.Special.END.text, Corpus.Special.END_OF_TEXT.text, config.maxPositions());
        } finally {
            parallel.close();
        }
        List<Evaluator.Score> scores = evaluate(out, recipe.evalPerSet(), recipe.evalSeed(), recipe.threads(), log);
        Files.writeString(out.resolve("evaluation.md"), Evaluator.table(scores));
        deleteRecursively(out.resolve("checkpoint"));
        writeChecksums(out);
        return scores;
    }

    private AdamW.Settings settings() {
        return new AdamW.Settings(0.9, 0.95, 1e-8, recipe.weightDecay(), recipe.clipNorm());
    }

    private Bpe tokenizer(Corpus corpus) throws IOException {
        Path file = out.resolve("tokenizer.json");
        if (Files.exists(file)) {
            return Bpe.read(file);
        }
        SplittableRandom rnd = new SplittableRandom(recipe.seed() ^ 0x5DEECE66DL);
        List<String> sample = new ArrayList<>();
        for (int i = 0; i < recipe.tokenizerDocuments(); i++) {
            for (Object p : corpus.next(rnd).parts()) {
                if (p instanceof String s) {
                    sample.add(s);
                }
            }
        }
        long t0 = System.nanoTime();
        List<String> specials = java.util.Arrays.stream(Corpus.Special.values()).map(s -> s.text).toList();
        Bpe bpe = Bpe.train(sample, recipe.vocabSize(), specials, size -> {
            if (size % 256 == 0) {
                log.printf("tokenizer: %d tokens%n", size);
            }
        });
        log.printf("tokenizer: %d tokens (%d merges) from %,d documents in %.1f s%n", bpe.size(), bpe.merges(), recipe.tokenizerDocuments(),
                (System.nanoTime() - t0) / 1e9);
        bpe.write(out, Corpus.Special.END.text, Corpus.Special.END_OF_TEXT.text, recipe.maxPositions());
        return bpe;
    }

    private List<Corpus.Probe> curveProbes(Corpus corpus) {
        List<Corpus.Probe> all = corpus.evaluation(1, recipe.evalSeed());
        List<Corpus.Probe> trained = all.stream().filter(p -> p.set().equals("facts-trained")).toList();
        List<Corpus.Probe> para = all.stream().filter(p -> p.set().equals("facts-paraphrase")).toList();
        List<Corpus.Probe> out = new ArrayList<>();
        int stride = Math.max(1, trained.size() / Math.max(1, recipe.curveProbes()));
        for (int i = 0; i < trained.size(); i += stride) {
            out.add(trained.get(i));
            out.add(para.get(i));
        }
        return out;
    }

    private double[] quickEval(TrainModel model, Bpe bpe, Parallel parallel, List<Corpus.Probe> probes) {
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (ModelWriter.Weight w : model.toHuggingFace()) {
                tensors.put(w.hfName(), ModelWriter.tensor(arena, w.hfName(), DType.F32, w.shape(), w.values()));
            }
            ModelWeights weights = ModelWeights.fromHuggingFace(model.config(), tensors, arena);
            List<Evaluator.Answer> answers = new Evaluator(weights, bpe, parallel).run(probes, 24);
            int[] c = new int[2];
            int[] n = new int[2];
            for (Evaluator.Answer a : answers) {
                int k = a.probe().set().equals("facts-trained") ? 0 : 1;
                n[k]++;
                c[k] += a.correct() ? 1 : 0;
            }
            return new double[] {(double) c[0] / Math.max(1, n[0]), (double) c[1] / Math.max(1, n[1])};
        }
    }

    /** The held-out evaluation of a trained model directory, as the engine serves it. */
    public static List<Evaluator.Score> evaluate(Path dir, int perSet, long seed, int threads, PrintStream log) throws IOException {
        Bpe bpe = Bpe.read(dir.resolve("tokenizer.json"));
        Corpus corpus = new Corpus(World.standard(), Corpus.Mix.standard());
        List<Corpus.Probe> probes = corpus.evaluation(perSet, seed);
        Parallel parallel = new Parallel(threads);
        try (LoadedModel m = LoadedModel.open(dir)) {
            long t0 = System.nanoTime();
            List<Evaluator.Answer> answers = new Evaluator(m.weights(), bpe, parallel).run(probes, 120);
            List<Evaluator.Score> scores = Evaluator.scores(answers);
            log.printf("evaluation: %d probes in %.0f s%n%s", probes.size(), (System.nanoTime() - t0) / 1e9, Evaluator.table(scores));
            return scores;
        } finally {
            parallel.close();
        }
    }

    // ---- checkpoints

    private void checkpoint(Path dir, TrainModel model, AdamW opt, long step) throws IOException {
        Path tmp = dir.resolveSibling("checkpoint.tmp");
        deleteRecursively(tmp);
        ModelWriter.writeHuggingFace(tmp, model.config(), model.toHuggingFace(), DType.F32);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> moments = new LinkedHashMap<>();
            for (int i = 0; i < model.params().size(); i++) {
                TrainModel.Param p = model.params().get(i);
                long[] shape = {p.size()};
                moments.put(p.name() + ".m", ModelWriter.tensor(arena, p.name() + ".m", DType.F32, shape, opt.firstMoment(i)));
                moments.put(p.name() + ".v", ModelWriter.tensor(arena, p.name() + ".v", DType.F32, shape, opt.secondMoment(i)));
            }
            SafeTensors.write(tmp.resolve("optimizer.safetensors"), moments, Map.of("step", String.valueOf(step)));
        }
        Files.writeString(tmp.resolve("state.json"), Json.write(Map.of("step", step, "recipe", recipe.name())));
        deleteRecursively(dir);
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    }

    @SuppressWarnings("unchecked")
    private long restore(Path dir, AdamW opt) throws IOException {
        Map<String, Object> state = (Map<String, Object>) Json.parse(Files.readString(dir.resolve("state.json")));
        long step = ((Number) state.get("step")).longValue();
        try (SafeTensors st = SafeTensors.open(dir.resolve("optimizer.safetensors"))) {
            List<TrainModel.Param> params = opt.params();
            for (int i = 0; i < params.size(); i++) {
                String n = params.get(i).name();
                System.arraycopy(st.tensors().get(n + ".m").toFloatArray(), 0, opt.firstMoment(i), 0, params.get(i).size());
                System.arraycopy(st.tensors().get(n + ".v").toFloatArray(), 0, opt.secondMoment(i), 0, params.get(i).size());
            }
        }
        opt.restoreSteps(step);
        return step;
    }

    private Map<String, Object> recipeJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", recipe.name());
        m.put("seed", recipe.seed());
        m.put("tokenizer", Map.of("vocabSize", (long) recipe.vocabSize(), "sampleDocuments", (long) recipe.tokenizerDocuments()));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("architecture", recipe.architecture());
        model.put("hidden", (long) recipe.hidden());
        model.put("layers", (long) recipe.layers());
        model.put("heads", (long) recipe.heads());
        model.put("kvHeads", (long) recipe.kvHeads());
        model.put("intermediate", (long) recipe.intermediate());
        model.put("maxPositions", (long) recipe.maxPositions());
        model.put("ropeTheta", recipe.ropeTheta());
        m.put("model", model);
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("steps", recipe.steps());
        t.put("batch", (long) recipe.batch());
        t.put("seq", (long) recipe.seq());
        t.put("peakLr", recipe.peakLr());
        t.put("minLr", recipe.minLr());
        t.put("warmupSteps", recipe.warmupSteps());
        t.put("weightDecay", recipe.weightDecay());
        t.put("clipNorm", recipe.clipNorm());
        t.put("threads", (long) recipe.threads());
        t.put("checkpointEvery", recipe.checkpointEvery());
        t.put("curveEvery", recipe.curveEvery());
        t.put("curveProbes", (long) recipe.curveProbes());
        m.put("training", t);
        m.put("evaluation", Map.of("perSet", (long) recipe.evalPerSet(), "seed", recipe.evalSeed()));
        return m;
    }

    /** Writes SHA256SUMS (sha256sum's format) over every file of dir but itself. */
    public static void writeChecksums(Path dir) throws IOException {
        StringBuilder sb = new StringBuilder();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                if (f.getFileName().toString().equals("SHA256SUMS")) {
                    continue;
                }
                sb.append(sha256(f)).append("  ").append(f.getFileName()).append('\n');
            }
        }
        Files.writeString(dir.resolve("SHA256SUMS"), sb.toString());
    }

    public static String sha256(Path f) throws IOException {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            try (var in = Files.newInputStream(f)) {
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) > 0) {
                    d.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }

    /** A status line: step, loss, learning rate, tokens/s, ETA; redrawn in place on a terminal. */
    static final class Progress {
        private final PrintStream out;
        private final long total;
        private final long start;
        private final long t0 = System.nanoTime();
        private final boolean tty = System.console() != null;
        private long tokens;
        private long lastPrint;

        Progress(PrintStream out, long total, long start) {
            this.out = out;
            this.total = total;
            this.start = start;
        }

        void step(long step, double loss, double ema, double lr, int batchTokens) {
            tokens += batchTokens;
            long now = System.nanoTime();
            if (now - lastPrint < (tty ? 500_000_000L : 15_000_000_000L) && step != total) {
                return;
            }
            lastPrint = now;
            double secs = (now - t0) / 1e9;
            double rate = tokens / secs;
            double eta = (total - step) * (secs / (step - start));
            int width = 24;
            int filled = (int) (width * step / total);
            String bar = "#".repeat(filled) + "-".repeat(width - filled);
            String line = String.format("[%s] step %d/%d  loss %.3f (avg %.3f)  lr %.1e  %,.0f tok/s  ETA %s", bar, step, total, loss, ema, lr, rate,
                    duration(eta));
            if (tty) {
                out.print("\r" + line);
            } else {
                out.println(line);
            }
            out.flush();
        }

        void note(String s) {
            out.println((tty ? "\n" : "") + s);
        }

        void done() {
            if (tty) {
                out.println();
            }
            out.printf("trained in %s%n", duration((System.nanoTime() - t0) / 1e9));
        }

        static String duration(double secs) {
            long s = Math.round(secs);
            return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
        }
    }
}
