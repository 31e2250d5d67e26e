package io.boundless.tokenizer.hf;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.boundless.tokenizer.TestData;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The default model's tokenizer (trained by Boundless' own BPE trainer, models/boundless-world) is a
 * valid Hugging Face tokenizer: the service's ids, with its pure-Java encoder, equal those of HF
 * tokenizers (Rust, via @anush008/tokenizers: golden/boundless-world.json) on a sample of the
 * model's corpus, special tokens included, and on the general tokenizer corpus.
 */
class DefaultModelTokenizerTest {
    @Test
    void theServicesIdsAreTheRustLibrarysOnTheTrainedTokenizer() {
        Path file = TestData.root().toAbsolutePath().getParent().resolve("models/boundless-world/tokenizer.json");
        HuggingFaceTokenizer t = HuggingFaceTokenizer.load(file, TestData.JSON);
        assertThat(t.hasJavaEncoder()).as("the Java encoder covers the trained tokenizer").isTrue();
        JsonNode cases = TestData.golden("boundless-world").get("cases");
        assertThat(cases.size()).isGreaterThan(200);
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] ids = new int[c.get("ids").size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = c.get("ids").get(i).asInt();
            }
            assertThat(t.encode(text, false, false).ids()).as("ids of %s", text).containsExactly(ids);
            assertThat(t.decode(ids, false)).as("decode of %s", text).isEqualTo(c.get("decoded").asText());
        }
    }
}
