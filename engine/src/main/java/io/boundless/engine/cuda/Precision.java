package io.boundless.engine.cuda;

import java.util.Locale;

/** Which weights and KV cache types the CUDA backend uses. */
public enum Precision {
    /**
     * Weights keep their 16-bit or 8-bit form: BF16 and F32 checkpoints become BF16, F16 stays F16,
     * GGUF Q8_0 stays 8-bit (Q4_0 is widened to BF16); the KV cache is BF16. Activations and
     * accumulation are float32. The serving default.
     */
    NATIVE,
    /** Everything float32, weights and KV cache included: twice the memory, for parity checks against the CPU backend. */
    F32;

    public static Precision parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "native", "bf16", "auto" -> NATIVE;
            case "f32", "float32", "fp32" -> F32;
            default -> throw new IllegalArgumentException("CUDA precision must be native or f32, got '" + s + "'");
        };
    }
}
