package io.boundless.inference;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DefaultModelTest {

    @Test
    void theTokenizerCoversEveryIdOfTheModelWithValidMerges(@TempDir Path dir) throws Exception {
        DefaultModel.writeTokenizer(dir);
        JsonNode tok = new ObjectMapper().readTree(Files.readString(dir.resolve("tokenizer.json")));
        JsonNode vocab = tok.path("model").path("vocab");
        Set<Integer> ids = new HashSet<>();
        vocab.properties().forEach(e -> ids.add(e.getValue().asInt()));
        tok.path("added_tokens").forEach(t -> ids.add(t.path("id").asInt()));
        assertThat(ids).hasSize(DefaultModel.CONFIG.vocabSize());
        assertThat(ids).allMatch(i -> i >= 0 && i < DefaultModel.CONFIG.vocabSize());
        assertThat(tok.path("added_tokens").get(0).path("id").asInt()).isEqualTo(DefaultModel.BOS);
        assertThat(tok.path("added_tokens").get(1).path("id").asInt()).isEqualTo(DefaultModel.EOS);
        // each merge joins two known pieces into the piece with the next id, in order
        int next = 256;
        for (JsonNode m : tok.path("model").path("merges")) {
            String[] ab = m.asText().split(" ");
            assertThat(ab).hasSize(2);
            assertThat(vocab.has(ab[0]) && vocab.has(ab[1])).as(m.asText()).isTrue();
            assertThat(vocab.path(ab[0] + ab[1]).asInt()).isEqualTo(next++);
        }
        assertThat(next).isEqualTo(DefaultModel.BOS);
        JsonNode config = new ObjectMapper().readTree(Files.readString(dir.resolve("tokenizer_config.json")));
        assertThat(config.path("chat_template").asText()).contains("add_generation_prompt").contains("<|begin|>");
        assertThat(config.path("eos_token").asText()).isEqualTo("<|end|>");
    }

    @Test
    void theStoreEntryIsWrittenOnceAndNamedByItsModelDirectory(@TempDir Path store) throws Exception {
        Path dir = DefaultModel.materialize(store.resolve("default-random").resolve("1"));
        long written = Files.getLastModifiedTime(dir.resolve("model.safetensors")).toMillis();
        assertThat(DefaultModel.materialize(dir)).isEqualTo(dir);
        assertThat(Files.getLastModifiedTime(dir.resolve("model.safetensors")).toMillis()).isEqualTo(written);
        assertThat(dir.resolve("config.json")).exists();
        assertThat(dir.resolve("tokenizer.json")).exists();
        assertThat(DefaultModel.nameOf(dir)).isEqualTo("default-random");
        assertThat(DefaultModel.nameOf(store.resolve("model.gguf"))).isEqualTo("model.gguf");
    }
}
