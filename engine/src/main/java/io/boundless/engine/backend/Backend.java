package io.boundless.engine.backend;

import io.boundless.engine.model.Transformer.Chunk;
import java.util.List;

/**
 * Where the forward pass runs and the KV cache lives: the CPU ({@link CpuBackend}) or a GPU
 * ({@code io.boundless.engine.cuda.CudaBackend}). The scheduler, block manager and sampler are the
 * same above every backend, so prefix caching, preemption and n > 1 sharing behave alike; a backend
 * only computes a step and keeps the blocks' contents. A HIP backend (AMD MI300) implements this
 * interface the same way the CUDA one does.
 *
 * <p>Not thread-safe: the engine thread alone calls it.
 */
public interface Backend extends AutoCloseable {

    /** "cpu" or "cuda". */
    String name();

    /**
     * Whether forward applies the chunks' overlays (delta versions, y = Wk + U(Vᵀk) at the down projection). A backend
     * that does not is never given one: the engine refuses such a request at submission.
     */
    default boolean servesOverlays() {
        return false;
    }

    /** The device in words, for logs and GetModelInfo ("CPU, 16 threads", "NVIDIA H100 80GB HBM3, sm_90"). */
    String device();

    /** KV blocks this backend holds (the block manager hands them out). */
    int numBlocks();

    /** Tokens per KV block. */
    int blockSize();

    /**
     * Computes one step: every chunk's tokens go into the KV cache, and the logits rows the chunks
     * want come back. {@code needs[i]} says how much of wanted row i (in chunk order, then row
     * order) the engine needs: whole, its argmax, or its top-k candidates; a GPU copies only that
     * (two numbers, or k pairs, instead of a vocabulary of floats).
     */
    StepOutput forward(List<Chunk> chunks, RowNeed[] needs);

    /** The GPU's PCI bus id (for NVML), empty on the CPU. */
    default java.util.Optional<String> pciBusId() {
        return java.util.Optional.empty();
    }

    /** Copies one block's keys and values, in every layer, to another block (copy-on-write). */
    void copyBlock(int from, int to);

    @Override
    void close();
}
