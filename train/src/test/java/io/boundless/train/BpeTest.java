package io.boundless.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.format.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The BPE trainer is deterministic, round-trips text, and its files give the Rust library's ids. */
class BpeTest {
    static final Path ROOT = Path.of(System.getProperty("boundless.testdata", "../testdata")).toAbsolutePath().normalize().getParent();
    private static final List<String> SPECIALS = java.util.Arrays.stream(Corpus.Special.values()).map(s -> s.text).toList();

    private static List<String> sample(long seed, int docs) {
        Corpus c = new Corpus(World.standard(), Corpus.Mix.standard());
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < docs; i++) {
            for (Object p : c.next(rnd).parts()) {
                if (p instanceof String s) {
                    out.add(s);
                }
            }
        }
        return out;
    }

    @Test
    void trainingIsDeterministicAndRoundTripsText(@TempDir Path dir) throws Exception {
        List<String> texts = sample(5, 2000);
        Bpe a = Bpe.train(texts, 800, SPECIALS, null);
        Bpe b = Bpe.train(texts, 800, SPECIALS, null);
        a.write(dir.resolve("a"), "<|end|>", "<|endoftext|>", 256);
        b.write(dir.resolve("b"), "<|end|>", "<|endoftext|>", 256);
        assertThat(Files.readString(dir.resolve("a/tokenizer.json"))).isEqualTo(Files.readString(dir.resolve("b/tokenizer.json")));
        assertThat(a.size()).isEqualTo(800);
        Bpe read = Bpe.read(dir.resolve("a/tokenizer.json"));
        for (String t : texts.subList(0, 300)) {
            int[] ids = a.encode(t);
            assertThat(read.encode(t)).containsExactly(ids);
            assertThat(a.decode(ids)).isEqualTo(t);
        }
        assertThat(a.encode("12 + 5 = 17")).as("digits are single tokens").hasSizeGreaterThanOrEqualTo(7);
        assertThat(a.decode(a.encode("北京是中國的首都。"))).isEqualTo("北京是中國的首都。");
        assertThat(a.special("<|end|>")).isEqualTo(800 - SPECIALS.size() + 3);
    }

    /** The default model's tokenizer.json, encoded by HF tokenizers (Rust): testdata/tokenizer/golden/boundless-world.json. */
    @Test
    @SuppressWarnings("unchecked")
    void ourIdsAreTheRustLibrarysOnTheDefaultModelsTokenizer() throws Exception {
        Bpe bpe = Bpe.read(ROOT.resolve("models/boundless-world/tokenizer.json"));
        Map<String, Object> golden = (Map<String, Object>) Json.parse(Files.readString(ROOT.resolve("testdata/tokenizer/golden/boundless-world.json")));
        int checked = 0;
        for (Object o : (List<Object>) golden.get("cases")) {
            Map<String, Object> c = (Map<String, Object>) o;
            String text = (String) c.get("text");
            if (SPECIALS.stream().anyMatch(text::contains) || text.contains("<|")) {
                continue;  // the Rust library splits special tokens out of text; our encoder is given them as ids
            }
            int[] ids = ((List<Number>) c.get("ids")).stream().mapToInt(Number::intValue).toArray();
            assertThat(bpe.encode(text)).as("ids of %s", text).containsExactly(ids);
            checked++;
        }
        assertThat(checked).isGreaterThan(200);
    }
}
