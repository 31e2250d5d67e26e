package io.boundless.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * recipes/tiny.json end to end (about a minute on 2 cores): the loss falls below 1.2 from about 7,
 * the model answers at least 15% of its facts in trained phrasings (26% measured), and a run stopped
 * at a checkpoint and started again ends with the same bytes as a run that was never stopped.
 */
class TinyTrainingTest {
    @Test
    void theTinyRecipeLearnsFactsAndAResumedRunEqualsAnUninterruptedOne(@TempDir Path dir) throws Exception {
        Recipe r = Recipe.read(BpeTest.ROOT.resolve("recipes/tiny.json"));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<Evaluator.Score> scores = new Trainer(r, dir.resolve("a"), new PrintStream(log, true)).run();
        String text = log.toString();
        System.out.println(text);
        Evaluator.Score facts = scores.stream().filter(s -> s.set().equals("facts-trained")).findFirst().orElseThrow();
        assertThat(facts.accuracy()).as("facts answered in trained phrasings").isGreaterThanOrEqualTo(0.15);
        List<String> curve = Files.readAllLines(dir.resolve("a/curve.tsv"));
        double last = Double.parseDouble(curve.getLast().split("\t")[2]);
        assertThat(last).as("smoothed training loss at the end").isLessThan(1.2);
        assertThat(text).contains("tok/s", "ETA");
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "recipe.json", "evaluation.md",
                "SHA256SUMS")) {
            assertThat(dir.resolve("a").resolve(f)).exists();
        }
        assertThat(dir.resolve("a/checkpoint")).doesNotExist();

        Path b = dir.resolve("b");
        assertThat(new Trainer(r, b, new PrintStream(new ByteArrayOutputStream())).stopAfter(100).run()).isNull();
        assertThat(b.resolve("checkpoint/state.json")).exists();
        ByteArrayOutputStream resumed = new ByteArrayOutputStream();
        new Trainer(r, b, new PrintStream(resumed, true)).run();
        assertThat(resumed.toString()).contains("resuming tiny-world from step 100");
        assertThat(Files.readAllBytes(b.resolve("model.safetensors"))).as("the resumed run's weights").isEqualTo(
                Files.readAllBytes(dir.resolve("a/model.safetensors")));
    }
}
