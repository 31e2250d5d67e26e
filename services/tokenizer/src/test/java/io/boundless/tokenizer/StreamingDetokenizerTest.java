package io.boundless.tokenizer;

import io.boundless.engine.Seeds;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Concatenated stream deltas always equal decode(all ids): corpus strings and random id sequences. */
class StreamingDetokenizerTest {

    static Stream<Arguments> models() {
        return Stream.of("llama3/1", "qwen3/1", "llama2/1", "cl100k_base", "o200k_base").map(Arguments::of);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void corpusStreamsAddUpToDecode(String name) {
        ModelTokenizer model = TestStores.sharedRegistry().get(name);
        for (long seed : Seeds.both()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (JsonNode c : TestData.golden("llama3").get("cases")) {
                String text = c.get("text").asText();
                int[] ids = model.tokenizer().encode(text, true, false).ids();
                for (boolean skip : new boolean[] {false, true}) {
                    assertStreamsLikeDecode(model, ids, skip, rnd, "seed " + seed + ", text " + TokenizerParityTest.quoted(text));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void randomIdStreamsAddUpToDecode(String name) {
        ModelTokenizer model = TestStores.sharedRegistry().get(name);
        for (long seed : Seeds.both()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int vocab = model.info().vocabSize();
            int[] specials = model.info().specialTokens().stream().mapToInt(TokenizerInfo.SpecialToken::id).toArray();
            for (int n = 0; n < 300; n++) {
                int[] ids = new int[1 + rnd.nextInt(48)];
                for (int i = 0; i < ids.length; i++) {
                    int id;
                    do {
                        // Mix in low ids (bytes and byte-fallback tokens live there) and special tokens.
                        int r = rnd.nextInt(10);
                        id = r < 3 ? rnd.nextInt(Math.min(300, vocab)) : r == 3 && specials.length > 0 ? specials[rnd.nextInt(specials.length)] : rnd.nextInt(vocab);
                    } while (!model.tokenizer().isValidId(id));
                    ids[i] = id;
                }
                for (boolean skip : new boolean[] {false, true}) {
                    assertStreamsLikeDecode(model, ids, skip, rnd, "seed " + seed + ", ids " + Arrays.toString(ids));
                }
            }
        }
    }

    private static void assertStreamsLikeDecode(ModelTokenizer model, int[] ids, boolean skip, SplittableRandom rnd, String what) {
        StreamingDetokenizer stream = new StreamingDetokenizer(model, skip, 1 << 20);
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < ids.length) {
            int n = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(3) : 1; // mostly one id at a time, like generation
            n = Math.min(n, ids.length - i);
            out.append(stream.add(Arrays.copyOfRange(ids, i, i + n)));
            i += n;
        }
        out.append(stream.finish());
        assertThat(out.toString()).as("%s (skip special %s)", what, skip).isEqualTo(model.decode(ids, skip));
    }
}
