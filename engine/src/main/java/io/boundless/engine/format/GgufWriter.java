package io.boundless.engine.format;

import io.boundless.engine.format.Gguf.Type;
import io.boundless.engine.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes GGUF v3: typed metadata, then tensors aligned to {@code general.alignment} (32). */
public final class GgufWriter {
    private record Entry(Type type, Type elementType, Object value) {}

    private final Map<String, Entry> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();

    public GgufWriter put(String key, Type type, Object value) {
        if (type == Type.ARRAY) {
            throw new IllegalArgumentException("use putArray for " + key);
        }
        metadata.put(key, new Entry(type, null, value));
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, Type.STRING, value);
    }

    public GgufWriter putU32(String key, long value) {
        return put(key, Type.UINT32, value);
    }

    public GgufWriter putF32(String key, float value) {
        return put(key, Type.FLOAT32, value);
    }

    public GgufWriter putArray(String key, Type elementType, List<?> values) {
        metadata.put(key, new Entry(Type.ARRAY, elementType, values));
        return this;
    }

    /** Adds a tensor; its shape is outermost first, as everywhere in the engine. */
    public GgufWriter add(Tensor t) {
        tensors.add(t);
        return this;
    }

    public void write(Path path) throws IOException {
        Out out = new Out();
        out.u32(Gguf.MAGIC);
        out.u32(3);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Map.Entry<String, Entry> e : metadata.entrySet()) {
            out.string(e.getKey());
            out.u32(e.getValue().type().ordinal());
            if (e.getValue().type() == Type.ARRAY) {
                List<?> list = (List<?>) e.getValue().value();
                out.u32(e.getValue().elementType().ordinal());
                out.u64(list.size());
                for (Object v : list) {
                    out.value(e.getValue().elementType(), v);
                }
            } else {
                out.value(e.getValue().type(), e.getValue().value());
            }
        }
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (Tensor t : tensors) {
            out.string(t.name());
            long[] shape = t.shape();
            out.u32(shape.length);
            for (int d = shape.length - 1; d >= 0; d--) {
                out.u64(shape[d]);
            }
            out.u32(t.dtype().ggmlType);
            out.u64(offset);
            offsets.add(offset);
            offset = Gguf.align(offset + t.data().byteSize(), Gguf.DEFAULT_ALIGNMENT);
        }
        while (out.size() % Gguf.DEFAULT_ALIGNMENT != 0) {
            out.write(0);
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            SafeTensors.writeFully(ch, ByteBuffer.wrap(out.toByteArray()));
            long written = 0;
            for (int k = 0; k < tensors.size(); k++) {
                long pad = offsets.get(k) - written;
                SafeTensors.writeFully(ch, ByteBuffer.allocate((int) pad));
                SafeTensors.writeFully(ch, tensors.get(k).data().asByteBuffer());
                written = offsets.get(k) + tensors.get(k).data().byteSize();
            }
        }
    }

    private static final class Out extends ByteArrayOutputStream {
        private final ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        void u32(long v) {
            b.clear();
            b.putInt((int) v);
            write(b.array(), 0, 4);
        }

        void u64(long v) {
            b.clear();
            b.putLong(v);
            write(b.array(), 0, 8);
        }

        void string(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            write(bytes, 0, bytes.length);
        }

        void value(Type type, Object v) {
            Number n = v instanceof Number x ? x : null;
            switch (type) {
                case UINT8, INT8 -> write(n.intValue());
                case UINT16, INT16 -> {
                    b.clear();
                    b.putShort(n.shortValue());
                    write(b.array(), 0, 2);
                }
                case UINT32, INT32 -> u32(n.longValue());
                case FLOAT32 -> {
                    b.clear();
                    b.putFloat(n.floatValue());
                    write(b.array(), 0, 4);
                }
                case BOOL -> write((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case UINT64, INT64 -> u64(n.longValue());
                case FLOAT64 -> {
                    b.clear();
                    b.putDouble(n.doubleValue());
                    write(b.array(), 0, 8);
                }
                case ARRAY -> throw new IllegalArgumentException("nested arrays are not written");
            }
        }
    }
}
