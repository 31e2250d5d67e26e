package io.boundless.engine.format;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3), memory-mapped: header, typed key/value metadata, tensor infos,
 * then aligned tensor data. Every count, length and offset is checked against the bytes that remain
 * before anything is allocated, so a corrupt file is an error that names the file and the place.
 *
 * <p>GGUF lists a tensor's dimensions innermost first ({@code ne[0]} is contiguous); {@link Tensor}
 * shapes are outermost first, so they are reversed here.
 */
public final class Gguf implements AutoCloseable {
    static final int MAGIC = 0x46554747; // "GGUF" little-endian
    static final int DEFAULT_ALIGNMENT = 32;
    private static final int MAX_DIMS = 4;
    private static final int MAX_ARRAY_DEPTH = 4;

    /** GGUF metadata value types. */
    public enum Type { UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 }

    private final MappedFile file;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, Type> metadataTypes;
    private final Map<String, Tensor> tensors;
    private final long dataStart;

    private Gguf(MappedFile file, int version, Map<String, Object> metadata, Map<String, Type> types, Map<String, Tensor> tensors, long dataStart) {
        this.file = file;
        this.version = version;
        this.metadata = metadata;
        this.metadataTypes = types;
        this.tensors = tensors;
        this.dataStart = dataStart;
    }

    public static Gguf open(Path path) {
        MappedFile f = MappedFile.open(path);
        try {
            return new Reader(f).read();
        } catch (RuntimeException e) {
            f.close();
            throw e instanceof ModelFormatException m ? m : new ModelFormatException(path + ": " + e.getMessage(), e);
        }
    }

    public int version() {
        return version;
    }

    /**
     * Metadata values: Integer (uint8, int8, uint16, int16, int32), Long (uint32, int64, uint64 as
     * its bits), Float, Double, Boolean, String, or List of those for arrays.
     */
    public Map<String, Object> metadata() {
        return metadata;
    }

    public Type typeOf(String key) {
        return metadataTypes.get(key);
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public long dataStart() {
        return dataStart;
    }

    public Path path() {
        return file.path;
    }

    @Override
    public void close() {
        file.close();
    }

    /** A bounds-checked cursor over the mapped header. */
    private static final class Reader {
        private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        private final MappedFile f;
        private final MemorySegment seg;
        private final long size;
        private long pos;
        private String context = "the header";

        Reader(MappedFile f) {
            this.f = f;
            this.seg = f.segment;
            this.size = seg.byteSize();
        }

        Gguf read() {
            need(4);
            if (seg.get(U32, 0) != MAGIC) {
                throw error("not a GGUF file (magic " + String.format("0x%08x", seg.get(U32, 0)) + ")");
            }
            pos = 4;
            int version = u32();
            if (version != 2 && version != 3) {
                throw error("GGUF version " + Integer.toUnsignedString(version) + " is not supported (2 or 3)");
            }
            long nTensors = u64();
            long nKv = u64();
            // Each tensor info takes at least 8+4+8+4+8 bytes and each key/value at least 8+4+1.
            if (nTensors < 0 || nKv < 0 || nTensors > (size - pos) / 32 || nKv > (size - pos) / 13) {
                throw error(Long.toUnsignedString(nTensors) + " tensors and " + Long.toUnsignedString(nKv)
                        + " metadata entries cannot fit in " + size + " bytes");
            }
            Map<String, Object> metadata = new LinkedHashMap<>();
            Map<String, Type> types = new LinkedHashMap<>();
            for (long k = 0; k < nKv; k++) {
                context = "metadata entry " + k;
                String key = string(65_536);
                context = "metadata " + key;
                Type type = type(u32());
                Object value = value(type, 0);
                if (metadata.put(key, value) != null) {
                    throw error("duplicate key");
                }
                types.put(key, type);
            }
            int alignment = DEFAULT_ALIGNMENT;
            Object a = metadata.get("general.alignment");
            if (a != null) {
                if (!(a instanceof Long al) || al <= 0 || al > (1 << 20) || Long.bitCount(al) != 1) {
                    throw error("general.alignment " + a + " is not a power of two up to 1 MiB");
                }
                alignment = (int) (long) al;
            }
            record Info(String name, long[] ne, DType type, long offset) {}
            List<Info> infos = new ArrayList<>();
            for (long k = 0; k < nTensors; k++) {
                context = "tensor info " + k;
                String name = string(65_536);
                context = "tensor " + name;
                int nDims = u32();
                if (nDims < 1 || nDims > MAX_DIMS) {
                    throw error(nDims + " dimensions (1 to " + MAX_DIMS + " allowed)");
                }
                long[] ne = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    ne[d] = u64();
                    if (ne[d] < 0) {
                        throw error("dimension " + Long.toUnsignedString(ne[d]) + " is too large");
                    }
                }
                int ggml = u32();
                DType dtype = DType.fromGgml(ggml);
                if (dtype == null) {
                    throw error("GGML type " + Integer.toUnsignedString(ggml) + " is not supported (F32, F16, BF16, Q8_0, Q4_0)");
                }
                long offset = u64();
                infos.add(new Info(name, ne, dtype, offset));
            }
            long dataStart = align(pos, alignment);
            if (dataStart > size && !infos.isEmpty()) { // a vocabulary-only file (no tensors) may end before the padding
                throw new ModelFormatException(f.path + ": tensor data would start at " + dataStart + ", past the end of the " + size + "-byte file");
            }
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Info in : infos) {
                String where = f.path + ", tensor " + in.name;
                if (in.ne[0] % in.type.blockSize != 0) {
                    throw new ModelFormatException(where + ": row length " + in.ne[0] + " is not a multiple of the " + in.type + " block size " + in.type.blockSize);
                }
                long bytes;
                for (long d : in.ne) {
                    if (d < 0) {
                        throw new ModelFormatException(where + ": a dimension of " + Long.toUnsignedString(d) + " is past any file's size");
                    }
                }
                try {
                    long[] reversed = new long[in.ne.length];
                    for (int d = 0; d < reversed.length; d++) {
                        reversed[d] = in.ne[in.ne.length - 1 - d];
                    }
                    Tensor.numel(reversed);  // the order the tensor multiplies in (a zero last would hide an overflow before it)
                    bytes = in.type.byteSize(Tensor.numel(in.ne));
                } catch (ArithmeticException e) {
                    throw new ModelFormatException(where + ": its size overflows");
                }
                if (in.offset < 0 || in.offset % alignment != 0 || in.offset > size - dataStart || bytes > size - dataStart - in.offset) {
                    throw new ModelFormatException(where + ": " + bytes + " bytes at data offset " + Long.toUnsignedString(in.offset)
                            + " do not fit the " + (size - dataStart) + " bytes of tensor data (alignment " + alignment + ")");
                }
                long[] shape = new long[in.ne.length];
                for (int d = 0; d < shape.length; d++) {
                    shape[d] = in.ne[in.ne.length - 1 - d];
                }
                if (tensors.put(in.name, new Tensor(in.name, in.type, shape, seg.asSlice(dataStart + in.offset, bytes))) != null) {
                    throw new ModelFormatException(where + ": appears twice");
                }
            }
            return new Gguf(f, version, Collections.unmodifiableMap(metadata), types, Collections.unmodifiableMap(tensors), dataStart);
        }

        private Object value(Type type, int depth) {
            return switch (type) {
                case UINT8 -> { need(1); yield seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF; }
                case INT8 -> { need(1); yield (int) seg.get(ValueLayout.JAVA_BYTE, pos++); }
                case UINT16 -> { need(2); int v = seg.get(U16, pos) & 0xFFFF; pos += 2; yield v; }
                case INT16 -> { need(2); int v = seg.get(U16, pos); pos += 2; yield v; }
                case UINT32 -> u32() & 0xFFFFFFFFL;
                case INT32 -> u32();
                case FLOAT32 -> { need(4); float v = seg.get(F32, pos); pos += 4; yield v; }
                case BOOL -> {
                    need(1);
                    int b = seg.get(ValueLayout.JAVA_BYTE, pos++);
                    if (b != 0 && b != 1) {
                        throw error("bool byte " + b);
                    }
                    yield b == 1;
                }
                case STRING -> string(size);
                case UINT64, INT64 -> u64();
                case FLOAT64 -> { need(8); double v = seg.get(F64, pos); pos += 8; yield v; }
                case ARRAY -> {
                    if (depth >= MAX_ARRAY_DEPTH) {
                        throw error("arrays nested deeper than " + MAX_ARRAY_DEPTH);
                    }
                    Type elem = type(u32());
                    long n = u64();
                    long minBytes = switch (elem) {
                        case UINT8, INT8, BOOL -> 1;
                        case UINT16, INT16 -> 2;
                        case UINT32, INT32, FLOAT32 -> 4;
                        case STRING, UINT64, INT64, FLOAT64 -> 8;
                        case ARRAY -> 12;
                    };
                    if (n < 0 || n > (size - pos) / minBytes) {
                        throw error("array of " + Long.toUnsignedString(n) + " " + elem + " cannot fit in the " + (size - pos) + " bytes left");
                    }
                    List<Object> out = new ArrayList<>((int) n);
                    for (long k = 0; k < n; k++) {
                        out.add(value(elem, depth + 1));
                    }
                    yield Collections.unmodifiableList(out);
                }
            };
        }

        private Type type(int t) {
            if (t < 0 || t >= Type.values().length) {
                throw error("metadata value type " + Integer.toUnsignedString(t) + " is not a GGUF type");
            }
            return Type.values()[t];
        }

        private String string(long maxBytes) {
            long n = u64();
            if (n < 0 || n > maxBytes || n > size - pos) {
                throw error("string of " + Long.toUnsignedString(n) + " bytes does not fit (" + (size - pos) + " bytes left)");
            }
            try {
                String s = StandardCharsets.UTF_8.newDecoder().decode(seg.asSlice(pos, n).asByteBuffer()).toString();
                pos += n;
                return s;
            } catch (CharacterCodingException e) {
                throw error("string is not UTF-8");
            }
        }

        private int u32() {
            need(4);
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        private long u64() {
            need(8);
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        private void need(long n) {
            if (n > size - pos) {
                throw new ModelFormatException(f.path + ": truncated in " + context + " (needs " + n + " bytes at offset " + pos + ", file is " + size + " bytes)");
            }
        }

        private ModelFormatException error(String what) {
            return new ModelFormatException(f.path + ": " + context + " at offset " + pos + ": " + what);
        }
    }

    static long align(long x, int alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }
}
