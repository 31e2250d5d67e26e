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

    /**
     * The model store that delta versions (edits, {@code <model>/<base>+<edit>}) are loaded from when a request names
     * one. Default: two levels above the model, which is at {@code <store>/<model>/<version>}.
     */
    Optional<Path> store();

    /** How many delta versions a replica keeps loaded at once (least recently used first out). */
    @WithDefault("16")
    int maxVersions();

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

    /**
     * Where the forward pass runs: {@code auto} (CUDA when a device and driver are present, else the
     * CPU), {@code cpu}, or {@code cuda} (a startup error, and exit status 1, where CUDA is not usable).
     */
    @WithDefault("auto")
    String backend();

    /** The CUDA backend. */
    Cuda cuda();

    /**
     * The token a caller of {@code GET /drain} must send in {@code X-Boundless-Drain-Token} (the Kubernetes operator sets
     * one per Deployment and calls it from the preStop hook). Unset: the endpoint answers 404.
     */
    Optional<String> drainToken();

    /** How long {@code GET /drain} waits at most for the running and waiting requests to finish. */
    @io.smallrye.config.WithDefault("60s")
    java.time.Duration drainTimeout();

    interface Cuda {
        /** Device ordinal. */
        @WithDefault("0")
        int device();

        /** Share of the device memory left free after weights and workspaces that becomes KV blocks (kv-cache-mib is the CPU's). */
        @WithDefault("0.9")
        double memoryFraction();

        /** native: weights in their 16-/8-bit form, BF16 KV cache; f32: everything float32 (parity checks). */
        @WithDefault("native")
        String precision();

        /** Replay decode steps as CUDA graphs. */
        @WithDefault("true")
        boolean graphs();
    }
}
