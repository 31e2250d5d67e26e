package io.boundless.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The corpus is a function of its seed, keeps its held-out sets out of training, and grades answers as stated. */
class CorpusTest {
    private final Corpus corpus = new Corpus(World.standard(), Corpus.Mix.standard());

    @Test
    void theSameSeedGivesTheSameDocuments() {
        SplittableRandom a = new SplittableRandom(11);
        SplittableRandom b = new SplittableRandom(11);
        for (int i = 0; i < 500; i++) {
            assertThat(corpus.next(a).render()).isEqualTo(corpus.next(b).render());
        }
    }

    @Test
    void theWorldHasItsFactsAndTheirChineseForms() {
        World w = corpus.world();
        assertThat(w.countries()).hasSizeGreaterThan(80);
        assertThat(w.facts()).hasSizeGreaterThan(400)
                .contains(new World.Fact("France", World.Relation.CAPITAL, "Paris"), new World.Fact("中國", World.Relation.CAPITAL_ZH, "北京"));
    }

    @Test
    void heldOutQuestionsAndProblemsNeverAppearInTraining() {
        List<Corpus.Probe> probes = corpus.evaluation(40, 7);
        Set<String> heldOut = new HashSet<>();
        for (Corpus.Probe p : probes) {
            if (!p.set().equals("facts-trained")) {
                heldOut.add(p.question());
            }
        }
        SplittableRandom rnd = new SplittableRandom(3);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 60_000; i++) {
            Corpus.Doc d = corpus.next(rnd);
            seen.add(d.kind());
            if (d.parts().getFirst() == Corpus.Special.USER) {
                assertThat(heldOut).as("a training question").doesNotContain((String) d.parts().get(1));
            }
        }
        assertThat(seen).contains("statement", "fact-chat", "chinese", "arithmetic", "decomposition", "chat", "refusal");
        assertThat(probes).extracting(Corpus.Probe::set).contains("facts-trained", "facts-paraphrase", "arithmetic-direct", "arithmetic-cot",
                "decomposition", "refusal");
    }

    @Test
    void rationalesComputeTheAnswerAndTakeMoreThanOnePath() {
        SplittableRandom rnd = new SplittableRandom(5);
        Set<String> paths = new HashSet<>();
        Corpus.Problem p = null;
        for (int i = 0; i < 200 && paths.size() < 2; i++) {
            p = Corpus.problem(new SplittableRandom(9), 3);
            paths.add(p.rationale(rnd));
        }
        assertThat(paths).hasSize(2);
        for (String r : paths) {
            assertThat(r).endsWith("The answer is " + p.answer() + ".");
        }
    }

    @Test
    void gradingReadsTheFinalAnswer() {
        Corpus.Probe arith = new Corpus.Probe("arithmetic-cot", "q", "14", 2);
        assertThat(Corpus.correct(arith, "12 + 5 = 17. 17 - 3 = 14. The answer is 14.")).isTrue();
        assertThat(Corpus.correct(arith, "The answer is 15.")).isFalse();
        Corpus.Probe fact = new Corpus.Probe("facts-trained", "q", "Paris", 0);
        assertThat(Corpus.correct(fact, "The capital of France is Paris.")).isTrue();
        assertThat(Corpus.correct(fact, "The capital of France is Parisville.")).isFalse();
        Corpus.Probe zh = new Corpus.Probe("facts-trained", "q", "北京", 0);
        assertThat(Corpus.correct(zh, "中國的首都是北京。")).isTrue();
        Corpus.Probe letters = new Corpus.Probe("decomposition", "q", "ere", 3);
        assertThat(Corpus.correct(letters, "... The answer is \"e r e\".")).isTrue();
    }
}
