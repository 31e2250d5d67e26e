package io.boundless.inference;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.util.Optional;

/** Configuration of the inference service, under {@code boundless.inference}. */
@ConfigMapping(prefix = "boundless.inference")
public interface InferenceConfig {

    /**
     * The model: a Hugging Face directory (config.json + safetensors) or a .gguf file. Unset: a small
     * deterministic random-weight Llama-style model, written to the temp directory on first start
     * (there is no trained default model yet; its output is not language).
     */
    Optional<Path> model();

    /**
     * The name the model is served under (GetModelInfo, metrics, the router's model name). Default: the
     * model's file or directory name, or a model-store directory's {@code <model>} for
     * {@code <store>/<model>/<version>}, or {@code default-random}.
     */
    Optional<String> modelName();

    /** CPU threads for the kernels (default: all cores). */
    Optional<Integer> threads();

    /** Memory for the KV cache, in MiB. */
    @WithDefault("512")
    int kvCacheMib();

    /** Tokens per KV block. */
    @WithDefault("16")
    int blockSize();

    /** Tokens computed per engine step (prefill chunks and decode tokens together). */
    @WithDefault("512")
    int maxBatchTokens();

    /** Sequences decoding at once. */
    @WithDefault("64")
    int maxRunning();

    /** Sequences queued beyond max-running; more are RESOURCE_EXHAUSTED. */
    @WithDefault("256")
    int maxWaiting();
}
