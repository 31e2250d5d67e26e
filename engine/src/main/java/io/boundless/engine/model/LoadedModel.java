package io.boundless.engine.model;

import io.boundless.engine.format.Gguf;
import io.boundless.engine.format.Json;
import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.format.SafeTensors;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model opened from disk: a Hugging Face directory (config.json + safetensors, sharded or not) or
 * a .gguf file. Weights stay mapped until {@link #close}.
 */
public final class LoadedModel implements AutoCloseable {
    private final ModelWeights weights;
    private final AutoCloseable files;
    private final Arena arena; // the few tensors we had to copy (GPT-2 Conv1D transposes)

    private LoadedModel(ModelWeights weights, AutoCloseable files, Arena arena) {
        this.weights = weights;
        this.files = files;
        this.arena = arena;
    }

    public static LoadedModel open(Path path) {
        if (Files.isDirectory(path)) {
            Path configFile = path.resolve("config.json");
            Map<String, Object> json;
            try {
                @SuppressWarnings("unchecked")
                Map<String, Object> parsed = (Map<String, Object>) Json.parse(Files.readString(configFile));
                json = parsed;
            } catch (IOException | IllegalArgumentException | ClassCastException e) {
                throw new ModelFormatException(configFile + " cannot be read: " + e.getMessage(), e);
            }
            ModelConfig config = ModelConfig.fromHuggingFace(json, configFile.toString());
            SafeTensors.Sharded files = SafeTensors.openDirectory(path);
            Arena arena = Arena.ofShared();
            try {
                return new LoadedModel(ModelWeights.fromHuggingFace(config, files.tensors(), arena), files, arena);
            } catch (RuntimeException e) {
                arena.close();
                files.close();
                throw e instanceof ModelFormatException m ? new ModelFormatException(path + ": " + m.getMessage(), m) : e;
            }
        }
        Gguf g = Gguf.open(path);
        try {
            ModelConfig config = ModelConfig.fromGguf(g);
            return new LoadedModel(ModelWeights.fromGguf(config, g.tensors()), g, null);
        } catch (RuntimeException e) {
            g.close();
            throw e instanceof ModelFormatException m ? new ModelFormatException(path + ": " + m.getMessage(), m) : e;
        }
    }

    public ModelWeights weights() {
        return weights;
    }

    public ModelConfig config() {
        return weights.config();
    }

    @Override
    public void close() {
        try {
            files.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }
}
