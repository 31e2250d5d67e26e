package io.boundless.engine.model;

/** The model families the engine runs. Mistral is a Llama with its own name (and maybe a sliding window). */
public enum Architecture {
    LLAMA, MISTRAL, QWEN2, GPT2;

    /** Pre-norm decoder with RMSNorm, RoPE, SwiGLU and GQA (everything but GPT-2). */
    public boolean isLlamaLike() {
        return this != GPT2;
    }
}
