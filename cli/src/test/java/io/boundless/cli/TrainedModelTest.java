package io.boundless.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed default model (models/boundless-world): its files match the sha256 its training run
 * recorded, it is what the engine serves (config, every weight), and boundless up copies it into the
 * store only after checking them; a changed file is refused with a message that names it.
 */
class TrainedModelTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path MODEL = ROOT.resolve("models/boundless-world");

    @Test
    void theCommittedFilesMatchTheirRecordedSha256() throws Exception {
        List<String> lines = Files.readAllLines(MODEL.resolve("SHA256SUMS"));
        assertThat(lines).extracting(l -> l.split("  ", 2)[1])
                .contains("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "recipe.json", "evaluation.md");
        for (String line : lines) {
            String[] p = line.split("  ", 2);
            assertThat(LocalPlatform.sha256(MODEL.resolve(p[1]))).as(p[1]).isEqualTo(p[0]);
        }
        ModelConfig c = LoadedModel.inspect(MODEL);
        assertThat(c.layers()).isEqualTo(4);
        assertThat(Files.size(MODEL.resolve("model.safetensors"))).as("BF16 weights, a few MB").isLessThan(20_000_000);
    }

    @Test
    void upCopiesTheModelIntoTheStoreAndRefusesAChangedFile(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("store");
        LocalPlatform.copyTrainedModel(ROOT, store);
        assertThat(store.resolve("boundless-world/1/model.safetensors")).hasSameBinaryContentAs(MODEL.resolve("model.safetensors"));
        Path fakeRoot = dir.resolve("root");
        Path copy = fakeRoot.resolve("models/boundless-world");
        Files.createDirectories(copy);
        try (var files = Files.list(MODEL)) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        Files.writeString(copy.resolve("tokenizer_config.json"), "{}");
        assertThatThrownBy(() -> LocalPlatform.copyTrainedModel(fakeRoot, dir.resolve("store2")))
                .isInstanceOf(ModelSource.Refused.class).hasMessageContaining("tokenizer_config.json does not match its sha256");
    }
}
