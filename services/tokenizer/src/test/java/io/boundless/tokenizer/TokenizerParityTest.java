package io.boundless.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Our ids and text equal the external references' on the whole corpus: Hugging Face tokenizers
 * (Rust) for llama3, qwen3 and llama2 (Mistral-style, byte fallback), tiktoken for cl100k_base and
 * o200k_base. Golden files come from testdata/references/generate-tokenizer-goldens.mjs.
 */
class TokenizerParityTest {

    static Stream<Arguments> models() {
        return Stream.of("llama3", "qwen3", "llama2", "cl100k_base", "o200k_base").map(Arguments::of);
    }

    private static String storeName(String golden) {
        return golden.endsWith("_base") ? golden : golden + "/1";
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void encodesEveryCorpusStringLikeTheReference(String golden) {
        ModelTokenizer model = TestStores.sharedRegistry().get(storeName(golden));
        JsonNode cases = TestData.golden(golden).get("cases");
        assertThat(cases.size()).isGreaterThanOrEqualTo(200);
        boolean hf = !golden.endsWith("_base");
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            assertThat(model.tokenizer().encode(text, false, false).ids())
                    .as("%s ids of %s", golden, quoted(text)).containsExactly(ints(c.get("ids")));
            assertThat(model.tokenizer().count(text, false)).as("count of %s", quoted(text)).isEqualTo(c.get("ids").size());
            if (hf) {
                assertThat(model.tokenizer().encode(text, true, false).ids())
                        .as("%s ids with special tokens of %s", golden, quoted(text)).containsExactly(ints(c.get("ids_with_special")));
                int[] special = ints(c.get("ids_with_special"));
                assertThat(model.decode(special, false)).as("decode of %s", quoted(text)).isEqualTo(c.get("decoded").asText());
                assertThat(model.decode(special, true)).as("decode skipping specials of %s", quoted(text))
                        .isEqualTo(c.get("decoded_skip_special").asText());
            } else {
                assertThat(model.decode(ints(c.get("ids")), false)).as("decode of %s", quoted(text)).isEqualTo(c.get("decoded").asText());
            }
        }
    }

    static int[] ints(JsonNode arr) {
        int[] out = new int[arr.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = arr.get(i).asInt();
        }
        return out;
    }

    static String quoted(String s) {
        return "\"" + (s.length() > 60 ? s.substring(0, 60) + "..." : s).replace("\n", "\\n") + "\"";
    }
}
