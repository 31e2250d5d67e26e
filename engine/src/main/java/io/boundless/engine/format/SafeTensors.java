package io.boundless.engine.format;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON
 * header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then
 * the tensor bytes. Everything in the header is checked against the file before a view is made.
 */
public final class SafeTensors implements AutoCloseable {
    /** Headers above this size are refused (real ones are a few hundred KB). */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private final MappedFile file;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(MappedFile file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafeTensors open(Path path) {
        MappedFile f = MappedFile.open(path);
        try {
            return parse(f);
        } catch (RuntimeException e) {
            f.close();
            throw e instanceof ModelFormatException m ? m : new ModelFormatException(path + ": " + e.getMessage(), e);
        }
    }

    private static SafeTensors parse(MappedFile f) {
        MemorySegment seg = f.segment;
        long size = seg.byteSize();
        if (size < 8) {
            throw new ModelFormatException(f.path + " is " + size + " bytes: too short for a safetensors header");
        }
        long headerLen = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > size - 8) {
            throw new ModelFormatException(f.path + ": header length " + Long.toUnsignedString(headerLen) + " does not fit the file of "
                    + size + " bytes (limit " + MAX_HEADER_BYTES + ")");
        }
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8.newDecoder()
                    .decode(seg.asSlice(8, headerLen).asByteBuffer()).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(f.path + ": the header is not UTF-8");
        }
        Object parsed;
        try {
            parsed = Json.parse(headerText.stripTrailing());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(f.path + ": the header is not valid JSON: " + e.getMessage());
        }
        if (!(parsed instanceof Map<?, ?> header)) {
            throw new ModelFormatException(f.path + ": the header is not a JSON object");
        }
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> md)) {
                    throw new ModelFormatException(f.path + ": __metadata__ is not an object");
                }
                md.forEach((k, v) -> {
                    if (!(v instanceof String sv)) {
                        throw new ModelFormatException(f.path + ": __metadata__ value of " + k + " is not a string");
                    }
                    metadata.put((String) k, sv);
                });
                continue;
            }
            String where = f.path + ", tensor " + name;
            if (!(e.getValue() instanceof Map<?, ?> info)) {
                throw new ModelFormatException(where + ": entry is not an object");
            }
            if (!(info.get("dtype") instanceof String dt)) {
                throw new ModelFormatException(where + ": no dtype");
            }
            DType dtype = DType.fromSafetensors(dt);
            if (dtype == null) {
                throw new ModelFormatException(where + ": dtype " + dt + " is not supported (F32, F16, BF16)");
            }
            long[] shape = longs(info.get("shape"), where + ": shape");
            long[] offsets = longs(info.get("data_offsets"), where + ": data_offsets");
            if (offsets.length != 2 || offsets[0] > offsets[1] || offsets[1] > dataSize) {
                throw new ModelFormatException(where + ": data_offsets " + java.util.Arrays.toString(offsets)
                        + " fall outside the " + dataSize + " bytes of tensor data");
            }
            long need;
            try {
                need = dtype.byteSize(Tensor.numel(shape));
            } catch (ArithmeticException | IllegalArgumentException x) {
                throw new ModelFormatException(where + ": shape " + java.util.Arrays.toString(shape) + " is not valid: " + x.getMessage());
            }
            if (offsets[1] - offsets[0] != need) {
                throw new ModelFormatException(where + ": " + dt + " " + java.util.Arrays.toString(shape) + " needs " + need
                        + " bytes but data_offsets span " + (offsets[1] - offsets[0]));
            }
            ranges.add(new long[] {offsets[0], offsets[1], tensors.size()});
            tensors.put(name, new Tensor(name, dtype, shape, seg.asSlice(dataStart + offsets[0], need)));
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        for (int k = 1; k < ranges.size(); k++) {
            if (ranges.get(k)[0] < ranges.get(k - 1)[1]) {
                throw new ModelFormatException(f.path + ": two tensors share bytes at offset " + ranges.get(k)[0]);
            }
        }
        return new SafeTensors(f, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static long[] longs(Object v, String what) {
        if (!(v instanceof List<?> l)) {
            throw new ModelFormatException(what + " is not a list");
        }
        long[] out = new long[l.size()];
        for (int k = 0; k < out.length; k++) {
            if (!(l.get(k) instanceof Long x) || x < 0) {
                throw new ModelFormatException(what + " holds " + l.get(k) + ", not a non-negative integer");
            }
            out[k] = x;
        }
        return out;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Path path() {
        return file.path;
    }

    @Override
    public void close() {
        file.close();
    }

    /** Writes tensors (in map order, contiguous) with optional metadata; the header is padded to 8 bytes. */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws java.io.IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            header.put("__metadata__", new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (Tensor t : tensors.values()) {
            if (t.dtype().safetensorsName == null) {
                throw new IllegalArgumentException("safetensors cannot hold " + t.dtype() + " (tensor " + t.name() + ")");
            }
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t.dtype().safetensorsName);
            List<Object> shape = new ArrayList<>();
            for (long d : t.shape()) {
                shape.add(d);
            }
            info.put("shape", shape);
            info.put("data_offsets", List.of(offset, offset + t.data().byteSize()));
            header.put(t.name(), info);
            offset += t.data().byteSize();
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        try (var ch = java.nio.channels.FileChannel.open(path, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.TRUNCATE_EXISTING, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            writeFully(ch, head);
            for (Tensor t : tensors.values()) {
                writeFully(ch, t.data().asByteBuffer());
            }
        }
    }

    static void writeFully(java.nio.channels.FileChannel ch, java.nio.ByteBuffer b) throws java.io.IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /**
     * Opens a Hugging Face checkpoint directory's weights: {@code model.safetensors.index.json} and
     * its shards, or the single {@code model.safetensors}. Close the result to unmap every shard.
     */
    public static Sharded openDirectory(Path dir) {
        Path index = dir.resolve("model.safetensors.index.json");
        List<SafeTensors> files = new ArrayList<>();
        try {
            if (Files.isRegularFile(index)) {
                Object parsed;
                try {
                    parsed = Json.parse(Files.readString(index));
                } catch (IllegalArgumentException | java.io.IOException e) {
                    throw new ModelFormatException(index + " cannot be read: " + e.getMessage());
                }
                if (!(parsed instanceof Map<?, ?> m) || !(m.get("weight_map") instanceof Map<?, ?> weightMap)) {
                    throw new ModelFormatException(index + " has no weight_map object");
                }
                Map<String, SafeTensors> shards = new LinkedHashMap<>();
                Map<String, Tensor> all = new LinkedHashMap<>();
                for (Map.Entry<?, ?> e : weightMap.entrySet()) {
                    String tensor = (String) e.getKey();
                    if (!(e.getValue() instanceof String shard) || shard.contains("/") || shard.contains("\\") || shard.startsWith(".")) {
                        throw new ModelFormatException(index + ": tensor " + tensor + " names shard " + e.getValue() + ", not a file in " + dir);
                    }
                    SafeTensors st = shards.get(shard);
                    if (st == null) {
                        st = open(dir.resolve(shard));
                        shards.put(shard, st);
                        files.add(st);
                    }
                    Tensor t = st.tensors().get(tensor);
                    if (t == null) {
                        throw new ModelFormatException(index + ": tensor " + tensor + " is not in " + dir.resolve(shard));
                    }
                    all.put(tensor, t);
                }
                return new Sharded(files, Collections.unmodifiableMap(all));
            }
            SafeTensors single = open(dir.resolve("model.safetensors"));
            files.add(single);
            return new Sharded(files, single.tensors());
        } catch (RuntimeException e) {
            files.forEach(SafeTensors::close);
            throw e;
        }
    }

    /** The tensors of several safetensors files, by name. */
    public record Sharded(List<SafeTensors> files, Map<String, Tensor> tensors) implements AutoCloseable {
        @Override
        public void close() {
            files.forEach(SafeTensors::close);
        }
    }
}
