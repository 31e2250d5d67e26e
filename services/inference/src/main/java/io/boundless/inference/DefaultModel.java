package io.boundless.inference;

import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The model served when none is configured: a small Llama-style model with deterministic random
 * weights (seed 2026). Until a trained default exists this lets the platform start and generate
 * anywhere, offline; it says so plainly at start.
 */
final class DefaultModel {
    static final String NAME = "default-random";
    static final ModelConfig CONFIG = new ModelConfig(Architecture.LLAMA, 512, 256, 704, 4, 8, 4, 32, 1e-5f, 10000, null, 2048,
            true, false, 0, 510, List.of(511));

    /** Writes the model once into the temp directory (atomically) and returns its directory. */
    static Path materialize() {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "boundless-" + NAME + "-v1");
        if (Files.isRegularFile(dir.resolve("model.safetensors")) && Files.isRegularFile(dir.resolve("config.json"))) {
            return dir;
        }
        try {
            Path tmp = Files.createTempDirectory(dir.getParent(), "boundless-" + NAME + "-tmp");
            ModelWriter.writeHuggingFace(tmp, CONFIG, ModelWriter.randomWeights(CONFIG, 2026), DType.F32);
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(dir.resolve("model.safetensors"))) {
                    throw raced;
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the default model to " + dir, e);
        }
    }

    private DefaultModel() {}
}
