package io.boundless.edit.bench;

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
import io.boundless.engine.model.Overlay;
import io.boundless.engine.train.TrainModel;
import io.boundless.train.Bpe;
import io.boundless.train.Corpus;
import io.boundless.train.World;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The editing benchmark on the default model (bin/bench-edit): covariance statistics time; ROME single edits (each
 * from the unedited model); MEMIT batches of 10 and 100; AlphaEdit; sequential MEMIT and AlphaEdit in batches of 10
 * over the world's facts, measured on every fact edited so far at 10, 100 and all; the memory of a delta against a
 * full copy. Prints markdown rows.
 *
 * <pre>args: threads [rome-cases] [sequential-facts] [fluency-tokens]</pre>
 */
public final class EditBenchmark {
    public static void main(String[] a) throws Exception {
        int threads = a.length > 0 ? Integer.parseInt(a[0]) : 2;
        int romeCases = a.length > 1 ? Integer.parseInt(a[1]) : 60;
        int seqFacts = a.length > 2 ? Integer.parseInt(a[2]) : 440;
        int genTokens = a.length > 3 ? Integer.parseInt(a[3]) : 40;
        Path model = Path.of("models/boundless-world");
        Parallel par = new Parallel(threads);
        Bpe bpe = Bpe.read(model.resolve("tokenizer.json"));
        java.util.function.Supplier<Lm> fresh = () -> new Lm(TrainModel.open(model, par), Codec.of(bpe));
        Lm lm = fresh.get();
        Corpus corpus = new Corpus(World.standard(), Corpus.Mix.standard());
        SplittableRandom rnd = new SplittableRandom(7);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) {
            texts.add(corpus.next(rnd).render());
        }
        Path tmp = Files.createTempDirectory("cov");
        long t0 = System.nanoTime();
        Map<Integer, Covariance.Stats> stats = Covariance.get(lm, List.of(0, 1, 2, 3), tmp, "corpus", 100_000, texts, par, Progress.NONE);
        double covSeconds = (System.nanoTime() - t0) / 1e9;
        t0 = System.nanoTime();
        Covariance.get(lm, List.of(0, 1, 2, 3), tmp, "corpus", 100_000, List.of(), par, Progress.NONE);
        double cachedSeconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("| covariance statistics, 4 layers × 100,000 tokens | computed %.1f s; read from the cache %.2f s |%n", covSeconds, cachedSeconds);
        List<Evaluation.Case> all = WorldCases.all(World.standard());
        // a spread of cases over the relations, the same for every method
        List<Evaluation.Case> spread = new ArrayList<>();
        for (int i = 0; i < all.size() && spread.size() < romeCases; i += Math.max(1, all.size() / romeCases)) {
            spread.add(all.get(i));
        }
        Map<String, Map<String, String>> defaults = defaults(model);
        Evaluation.Scores base = Evaluation.evaluate(lm, spread, genTokens, 1);
        System.out.println("| unedited, " + spread.size() + " cases | " + base.row() + " |");

        // ROME: one edit at a time from the unedited model
        Hyper rome = Hyper.defaults(Hyper.Method.ROME, lm.model().config()).with(defaults.get("rome"), lm.layers());
        List<String> ctx = Contexts.prefixes(lm, rome.prefixes5(), rome.prefixes10(), rome.seed());
        List<Evaluation.Scores> each = new ArrayList<>();
        double romeSeconds = 0;
        for (Evaluation.Case c : spread) {
            long s0 = System.nanoTime();
            Rome.Result r = Rome.edit(lm, c.request(), rome, stats.get(rome.layers().getFirst()), ctx, Progress.NONE);
            romeSeconds += (System.nanoTime() - s0) / 1e9;
            lm.apply(List.of(r.delta()));
            each.add(Evaluation.evaluate(lm, List.of(c), genTokens, 1));
            lm.restore();
        }
        System.out.printf("| ROME, single edits (%d) | %s | %.2f s per edit |%n", spread.size(), mean(each).row(), romeSeconds / spread.size());

        for (String m : List.of("memit", "alphaedit")) {
            Hyper h = Hyper.defaults(Hyper.Method.valueOf(m.toUpperCase()), lm.model().config()).with(defaults.get(m), lm.layers());
            for (int n : List.of(10, 100)) {
                Lm x = fresh.get();
                List<Evaluation.Case> batch = all.subList(0, n);
                long s0 = System.nanoTime();
                Memit.Result r = Memit.edit(x, batch.stream().map(Evaluation.Case::request).toList(), h, stats, List.of(""), new Memit.State(), Progress.NONE);
                double secs = (System.nanoTime() - s0) / 1e9;
                long bytes = r.deltas().stream().mapToLong(Overlay.LowRank::bytes).sum();
                System.out.printf("| %s, one batch of %d | %s | %.1f s; delta %,d bytes |%n", m, n, Evaluation.evaluate(x, batch, genTokens, 1).row(), secs, bytes);
            }
            // sequential: batches of 10, every fact so far measured at 10, 100 and the end
            Lm x = fresh.get();
            Memit.State state = new Memit.State();
            long s0 = System.nanoTime();
            int total = Math.min(seqFacts, all.size());
            for (int done = 0; done < total; done += 10) {
                List<Evaluation.Case> batch = all.subList(done, Math.min(total, done + 10));
                Memit.edit(x, batch.stream().map(Evaluation.Case::request).toList(), h, stats, List.of(""), state, Progress.NONE);
                x.commit();
                int now = Math.min(total, done + 10);
                if (now == 10 || now == 100 || now == total) {
                    Evaluation.Scores s = Evaluation.evaluate(x, all.subList(0, now), genTokens, 1);
                    System.out.printf("| %s, sequential (batches of 10), after %d edits | %s | %.0f s so far |%n", m, now, s.row(), (System.nanoTime() - s0) / 1e9);
                }
            }
            Evaluation.Scores untouched = Evaluation.evaluate(x, spread.stream().filter(c -> !all.subList(0, total).contains(c)).toList(), 0, 1);
            System.out.printf("| %s after %d edits: the facts it did not edit | NS %.1f |%n", m, total, untouched.ns());
        }
        long weights = Files.size(model.resolve("model.safetensors"));
        System.out.printf("| memory | a rank-1 ROME delta %,d bytes; the base's weights %,d bytes (BF16); float32 in memory %,d bytes |%n",
                4L * (lm.model().config().hidden() + lm.model().config().intermediate()), weights, lm.model().parameterCount() * 4);
        par.close();
    }

    static Evaluation.Scores mean(List<Evaluation.Scores> s) {
        java.util.function.ToDoubleFunction<java.util.function.ToDoubleFunction<Evaluation.Scores>> avg = f -> s.stream().mapToDouble(f).filter(v -> !Double.isNaN(v))
                .average().orElse(Double.NaN);
        double es = avg.applyAsDouble(Evaluation.Scores::es);
        double ps = avg.applyAsDouble(Evaluation.Scores::ps);
        double ns = avg.applyAsDouble(Evaluation.Scores::ns);
        double hm = 3 / (1 / es + 1 / ps + 1 / ns);
        return new Evaluation.Scores(es, avg.applyAsDouble(Evaluation.Scores::em), ps, avg.applyAsDouble(Evaluation.Scores::pm), ns,
                avg.applyAsDouble(Evaluation.Scores::nm), hm, avg.applyAsDouble(Evaluation.Scores::ge), s.size());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Map<String, String>> defaults(Path model) throws Exception {
        Map<String, Object> all = (Map<String, Object>) Json.parse(Files.readString(model.resolve("edit-defaults.json")));
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        all.forEach((m, v) -> {
            Map<String, String> h = new LinkedHashMap<>();
            ((Map<String, Object>) v).forEach((k, x) -> h.put(k, String.valueOf(x)));
            out.put(m, h);
        });
        return out;
    }
}
