package io.boundless.edit;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.format.Json;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Edits of the trained default model (models/boundless-world) with its edit defaults: a ROME edit reaches ES 100 on
 * its own prompt with measurable paraphrase success while its neighbors keep their answers (NS within 10 points of
 * the unedited model's); MEMIT writes ten facts at once; AlphaEdit's sequential batches keep the earlier ones; the
 * covariance statistics are computed once and read back from the cache.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DefaultModelEditTest {
    static final Parallel PARALLEL = new Parallel(2);
    Path model;
    Bpe bpe;
    Map<Integer, Covariance.Stats> stats;
    List<Evaluation.Case> cases;
    Path cache;

    @BeforeAll
    void load() throws Exception {
        model = Path.of(System.getProperty("boundless.models", "../models")).toAbsolutePath().normalize().resolve("boundless-world");
        bpe = Bpe.read(model.resolve("tokenizer.json"));
        cache = Files.createTempDirectory("covariance-cache");
        Lm lm = lm();
        Corpus corpus = new Corpus(World.standard(), Corpus.Mix.standard());
        SplittableRandom rnd = new SplittableRandom(7);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 4000; i++) {
            texts.add(corpus.next(rnd).render());
        }
        long t0 = System.nanoTime();
        stats = Covariance.get(lm, List.of(0, 1, 2, 3), cache, "test-corpus", 20_000, texts, PARALLEL, Progress.NONE);
        double computed = (System.nanoTime() - t0) / 1e9;
        t0 = System.nanoTime();
        Map<Integer, Covariance.Stats> again = Covariance.get(lm, List.of(0, 1, 2, 3), cache, "test-corpus", 20_000, List.of(), PARALLEL, Progress.NONE);
        double cached = (System.nanoTime() - t0) / 1e9;
        assertThat(again.get(2).c()).as("the cached statistics are the computed ones").containsExactly(stats.get(2).c());
        assertThat(again.get(2).count()).isEqualTo(20_000);
        assertThat(cached).as("read back (%.2f s) instead of recomputed (%.2f s)", cached, computed).isLessThan(computed / 3);
        World w = World.standard();
        cases = WorldCases.of(w, World.Relation.CAPITAL);
    }

    @AfterAll
    void close() throws Exception {
        PARALLEL.close();
        io.boundless.engine.model.DeltaVersion.deleteTree(cache);
    }

    Lm lm() throws Exception {
        return new Lm(TrainModel.open(model, PARALLEL), Codec.of(bpe));
    }

    @SuppressWarnings("unchecked")
    Hyper defaults(Hyper.Method m, Lm lm) throws Exception {
        Map<String, Object> all = (Map<String, Object>) Json.parse(Files.readString(model.resolve("edit-defaults.json")));
        Map<String, String> h = new LinkedHashMap<>();
        ((Map<String, Object>) all.get(m.name().toLowerCase())).forEach((k, v) -> h.put(k, String.valueOf(v)));
        return Hyper.defaults(m, lm.model().config()).with(h, lm.layers());
    }

    @Test
    void romeRewritesACapitalAndLeavesTheNeighborsAlone() throws Exception {
        Lm lm = lm();
        Hyper h = defaults(Hyper.Method.ROME, lm);
        Evaluation.Case france = cases.stream().filter(c -> c.request().subject().equals("France")).findFirst().orElseThrow();
        Evaluation.Case c = new Evaluation.Case(new EditRequest(france.request().prompt(), "France", "Rome", "Paris"), france.paraphrases(),
                france.neighbors().stream().filter(n -> !n.trueObject().equals("Rome")).toList(), List.of());
        Evaluation.Scores before = Evaluation.evaluate(lm, List.of(c), 0, 1);
        Rome.Result r = Rome.edit(lm, c.request(), h, stats.get(h.layers().getFirst()), Contexts.prefixes(lm, h.prefixes5(), h.prefixes10(), h.seed()),
                Progress.NONE);
        assertThat(r.delta().rank()).isEqualTo(1);
        lm.apply(List.of(r.delta()));
        Evaluation.Scores after = Evaluation.evaluate(lm, List.of(c), 0, 1);
        assertThat(after.es()).as("ES on its own prompt").isEqualTo(100);
        assertThat(after.em()).as("P(Rome) − P(Paris)").isGreaterThan(50);
        assertThat(after.pm()).as("paraphrases move toward the new object (PM %.1f, before %.1f)", after.pm(), before.pm()).isGreaterThan(before.pm() + 10);
        assertThat(after.ns()).as("NS within 10 points of the unedited model's %.1f", before.ns()).isGreaterThanOrEqualTo(before.ns() - 10);
        assertThat(lm.generate(List.of("The capital of France is"), 2, 1, 0).getFirst()).startsWith(" Rome");
        assertThat(lm.generate(List.of("The capital of Germany is"), 2, 1, 0).getFirst()).startsWith(" Berlin");
        lm.restore();
        assertThat(lm.generate(List.of("The capital of France is"), 2, 1, 0).getFirst()).as("restored exactly").startsWith(" Paris");
    }

    @Test
    void memitWritesTenFactsAtOnce() throws Exception {
        Lm lm = lm();
        Hyper h = defaults(Hyper.Method.MEMIT, lm);
        List<Evaluation.Case> ten = cases.subList(0, 10);
        Evaluation.Scores othersBefore = Evaluation.evaluate(lm, cases.subList(10, 30), 0, 1);
        Memit.Result r = Memit.edit(lm, ten.stream().map(Evaluation.Case::request).toList(), h, stats, List.of(""), new Memit.State(), Progress.NONE);
        assertThat(r.deltas()).hasSize(4).allSatisfy(d -> assertThat(d.rank()).isEqualTo(10));
        Evaluation.Scores after = Evaluation.evaluate(lm, ten, 0, 1);
        Evaluation.Scores othersAfter = Evaluation.evaluate(lm, cases.subList(10, 30), 0, 1);
        assertThat(after.es()).as("ES of the ten: %s", after.row()).isGreaterThanOrEqualTo(90);
        assertThat(othersAfter.ns()).as("other countries' capitals: %s", othersAfter.row()).isGreaterThanOrEqualTo(othersBefore.ns() - 10);
    }

    @Test
    void alphaEditsSequentialBatchesKeepTheEarlierOnes() throws Exception {
        Lm lm = lm();
        Hyper h = defaults(Hyper.Method.ALPHAEDIT, lm);
        Memit.State state = new Memit.State();
        List<Evaluation.Case> first = cases.subList(0, 3);
        for (int b = 0; b < 3; b++) {
            List<Evaluation.Case> batch = cases.subList(3 * b, 3 * b + 3);
            Memit.edit(lm, batch.stream().map(Evaluation.Case::request).toList(), h, stats, List.of(""), state, Progress.NONE);
            lm.commit();
        }
        assertThat(state.previousKeys(0)).isNotNull();
        Evaluation.Scores all = Evaluation.evaluate(lm, cases.subList(0, 9), 0, 1);
        Evaluation.Scores earliest = Evaluation.evaluate(lm, first, 0, 1);
        assertThat(all.es()).as("after three sequential batches: %s", all.row()).isGreaterThanOrEqualTo(75);
        assertThat(earliest.es()).as("the first batch, two batches later: %s", earliest.row()).isGreaterThanOrEqualTo(66);
        assertThat(Evaluation.evaluate(lm, cases.subList(20, 40), 0, 1).ns()).as("untouched countries").isGreaterThanOrEqualTo(90);
    }
}
