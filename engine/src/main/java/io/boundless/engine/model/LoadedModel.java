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
            ModelConfig config = huggingFaceConfig(path);
            SafeTensors.Sharded files = huggingFaceWeights(path);
            Arena arena = Arena.ofShared();
            try {
                return new LoadedModel(ModelWeights.fromHuggingFace(config, files.tensors(), arena), files, arena);
            } catch (RuntimeException e) {
                arena.close();
                files.close();
                throw e instanceof ModelFormatException m ? new ModelFormatException(path + ": " + m.getMessage(), m) : e;
            }
        }
        Gguf g = gguf(path);
        try {
            ModelConfig config = ModelConfig.fromGguf(g);
            return new LoadedModel(ModelWeights.fromGguf(config, g.tensors()), g, null);
        } catch (RuntimeException e) {
            g.close();
            throw e instanceof ModelFormatException m ? new ModelFormatException(path + ": " + m.getMessage(), m) : e;
        }
    }

    /**
     * Checks that path holds a model this engine serves, as {@link #open} would load it, and returns
     * its config: the config (architecture, dimensions, RoPE), the weight files' headers, and every
     * tensor the config needs with its shape. Nothing stays mapped and no weight is copied, so this
     * is cheap for any size. A problem is a ModelFormatException whose message names it.
     */
    public static ModelConfig inspect(Path path) {
        if (Files.isDirectory(path)) {
            ModelConfig config = huggingFaceConfig(path);
            try (SafeTensors.Sharded files = huggingFaceWeights(path)) {
                ModelWeights.checkHuggingFace(config, files.tensors());
            } catch (ModelFormatException e) {
                throw named(path, e);
            }
            return config;
        }
        try (Gguf g = gguf(path)) {
            ModelConfig config = ModelConfig.fromGguf(g);
            ModelWeights.fromGguf(config, g.tensors());  // views only: binding checks names and shapes
            return config;
        } catch (ModelFormatException e) {
            throw named(path, e);
        }
    }

    /** The error with the model's path in front, unless its message starts with a path inside it already. */
    private static ModelFormatException named(Path path, ModelFormatException e) {
        return e.getMessage().startsWith(path.toString()) ? e : new ModelFormatException(path + ": " + e.getMessage(), e);
    }

    private static ModelConfig huggingFaceConfig(Path dir) {
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw new ModelFormatException(dir + " has no config.json: a Hugging Face model directory holds config.json and its"
                    + " weights as *.safetensors");
        }
        Map<String, Object> json;
        try {
            @SuppressWarnings("unchecked")
            Map<String, Object> parsed = (Map<String, Object>) Json.parse(Files.readString(configFile));
            json = parsed;
        } catch (IOException | IllegalArgumentException | ClassCastException e) {
            throw new ModelFormatException(configFile + " cannot be read: " + (e instanceof IOException ioe ? io.boundless.engine.format.IoErrors.why(configFile, ioe) : e.getMessage()), e);
        }
        return ModelConfig.fromHuggingFace(json, configFile.toString());
    }

    private static SafeTensors.Sharded huggingFaceWeights(Path dir) {
        if (!Files.isRegularFile(dir.resolve("model.safetensors")) && !Files.isRegularFile(dir.resolve("model.safetensors.index.json"))) {
            boolean pytorch = Files.isRegularFile(dir.resolve("pytorch_model.bin")) || Files.isRegularFile(dir.resolve("pytorch_model.bin.index.json"));
            throw new ModelFormatException(dir + " has no model.safetensors or model.safetensors.index.json"
                    + (pytorch ? " (PyTorch .bin weights are not read: save the model again with transformers, whose save_pretrained writes"
                    + " safetensors)" : ""));
        }
        return SafeTensors.openDirectory(dir);
    }

    private static Gguf gguf(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + " does not exist");
        }
        return Gguf.open(path);
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
