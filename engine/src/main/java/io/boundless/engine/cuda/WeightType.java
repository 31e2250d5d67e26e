package io.boundless.engine.cuda;

/** How a matrix is stored on the device; ordinals are the kernels' WT_* codes (common.cuh). */
public enum WeightType {
    F32("f32", 4),
    BF16("bf16", 2),
    F16("f16", 2),
    /** int8 values [rows × cols] and a float scale per 32 values [rows × cols / 32] (GGUF Q8_0, repacked for aligned 16-byte loads). */
    Q8("q8", 1);

    /** The kernels' name suffix: gemv_bf16_4, gemm_q8, embed_f16. */
    public final String suffix;
    /** Bytes per value (Q8's scales come on top). */
    public final int bytes;

    WeightType(String suffix, int bytes) {
        this.suffix = suffix;
        this.bytes = bytes;
    }
}
