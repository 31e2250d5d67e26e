package io.boundless.engine.tensor;

/**
 * Element types of weights. Quantized types are stored in blocks of {@link #blockSize} elements,
 * laid out exactly as GGML/GGUF lays them out, so a mapped GGUF tensor is used in place.
 */
public enum DType {
    /** IEEE binary32. */
    F32(1, 4, 0, "F32"),
    /** IEEE binary16. */
    F16(1, 2, 1, "F16"),
    /** bfloat16: the upper half of a binary32. */
    BF16(1, 2, 30, "BF16"),
    /** 32 elements: f16 scale d, then 32 int8 q; x = d * q. */
    Q8_0(32, 34, 8, null),
    /** 32 elements: f16 scale d, then 16 bytes; byte j holds element j (low nibble) and j+16 (high); x = d * (q - 8). */
    Q4_0(32, 18, 2, null);

    /** Elements per block (1 for plain types). */
    public final int blockSize;
    /** Bytes per block. */
    public final int blockBytes;
    /** The GGML type id in GGUF files. */
    public final int ggmlType;
    /** The dtype name in safetensors headers, or null when safetensors has none. */
    public final String safetensorsName;

    DType(int blockSize, int blockBytes, int ggmlType, String safetensorsName) {
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.ggmlType = ggmlType;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes that {@code elements} elements take; throws if they do not fill whole blocks. */
    public long byteSize(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(elements + " elements do not fill whole " + this + " blocks of " + blockSize);
        }
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }

    public static DType fromGgml(int type) {
        for (DType t : values()) {
            if (t.ggmlType == type) {
                return t;
            }
        }
        return null;
    }

    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (name.equals(t.safetensorsName)) {
                return t;
            }
        }
        return null;
    }
}
