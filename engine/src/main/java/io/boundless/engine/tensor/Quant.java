package io.boundless.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GGML block quantization, bit-compatible with llama.cpp's reference quantizers
 * ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}) and dequantizers.
 */
public final class Quant {
    public static final int BLOCK = 32;

    /** Quantizes src (a multiple of 32 floats) into dst in {@code type}'s block layout. */
    public static void quantize(DType type, float[] src, MemorySegment dst) {
        if (src.length % BLOCK != 0) {
            throw new IllegalArgumentException(src.length + " floats are not whole blocks of " + BLOCK);
        }
        int blocks = src.length / BLOCK;
        for (int b = 0; b < blocks; b++) {
            long at = (long) b * type.blockBytes;
            int base = b * BLOCK;
            switch (type) {
                case Q8_0 -> {
                    float amax = 0;
                    for (int j = 0; j < BLOCK; j++) {
                        amax = Math.max(amax, Math.abs(src[base + j]));
                    }
                    float d = amax / 127f;
                    float id = d != 0 ? 1f / d : 0f;
                    short dh = Float.floatToFloat16(d);
                    dst.set(Tensor.I16, at, dh);
                    for (int j = 0; j < BLOCK; j++) {
                        dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) roundf(src[base + j] * id));
                    }
                }
                case Q4_0 -> {
                    float amax = 0;
                    float max = 0;
                    for (int j = 0; j < BLOCK; j++) {
                        float v = src[base + j];
                        if (amax < Math.abs(v)) {
                            amax = Math.abs(v);
                            max = v;
                        }
                    }
                    float d = max / -8f;
                    float id = d != 0 ? 1f / d : 0f;
                    dst.set(Tensor.I16, at, Float.floatToFloat16(d));
                    for (int j = 0; j < BLOCK / 2; j++) {
                        int q0 = Math.min(15, (int) (src[base + j] * id + 8.5f));
                        int q1 = Math.min(15, (int) (src[base + j + BLOCK / 2] * id + 8.5f));
                        dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (q0 | (q1 << 4)));
                    }
                }
                default -> throw new IllegalArgumentException(type + " is not a block-quantized type");
            }
        }
    }

    /** C's roundf: halves round away from zero (Math.round rounds them up). */
    static int roundf(float x) {
        return x < 0 ? -Math.round(-x) : Math.round(x); // Math.round is exact, but rounds -2.5 to -2
    }

    /** Element i of a quantized tensor. */
    static float dequantize(DType type, MemorySegment data, long i) {
        long block = i / BLOCK;
        int j = (int) (i % BLOCK);
        long at = block * type.blockBytes;
        float d = Float.float16ToFloat(data.get(Tensor.I16, at));
        return switch (type) {
            case Q8_0 -> d * data.get(ValueLayout.JAVA_BYTE, at + 2 + j);
            case Q4_0 -> {
                int b = data.get(ValueLayout.JAVA_BYTE, at + 2 + (j % 16)) & 0xFF;
                int q = j < 16 ? b & 0x0F : b >>> 4;
                yield d * (q - 8);
            }
            default -> throw new IllegalArgumentException(type + " is not a block-quantized type");
        };
    }

    static void dequantizeAll(DType type, MemorySegment data, float[] out) {
        for (int i = 0; i < out.length; i++) {
            out[i] = dequantize(type, data, i);
        }
    }

    private Quant() {}
}
