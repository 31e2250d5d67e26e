package io.boundless.engine.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import io.boundless.engine.ref.TransformersReference;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

    private static Map<String, Tensor> sample(Arena arena, SplittableRandom rnd) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", FormatTestSupport.random(arena, "model.embed_tokens.weight", DType.BF16, rnd, 64, 16));
        m.put("model.layers.0.self_attn.q_proj.weight", FormatTestSupport.random(arena, "model.layers.0.self_attn.q_proj.weight", DType.F16, rnd, 16, 16));
        m.put("model.norm.weight", FormatTestSupport.random(arena, "model.norm.weight", DType.F32, rnd, 16));
        m.put("scalar", FormatTestSupport.random(arena, "scalar", DType.F32, rnd));
        return m;
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void roundTripsTensorsAndMetadata(long seed, @TempDir Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> written = sample(arena, rnd);
            Path file = dir.resolve("model.safetensors");
            SafeTensors.write(file, written, Map.of("format", "pt"));
            try (SafeTensors st = SafeTensors.open(file)) {
                assertThat(st.metadata()).containsEntry("format", "pt");
                assertThat(st.tensors().keySet()).containsExactlyElementsOf(written.keySet());
                for (Tensor w : written.values()) {
                    Tensor r = st.tensors().get(w.name());
                    assertThat(r.dtype()).isEqualTo(w.dtype());
                    assertThat(r.shape()).isEqualTo(w.shape());
                    assertThat(r.toFloatArray()).isEqualTo(w.toFloatArray());
                }
            }
            assertThat((Files.size(file) - 8 - sizeOfData(written)) % 8).isZero();
        }
    }

    /** A file transformers' safetensors library writes (F32, F16 extremes and subnormals, BF16, a scalar, an empty tensor) reads back exactly. */
    @Test
    @SuppressWarnings("unchecked")
    void readsWhatTransformersWrites(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("theirs.safetensors");
        Map<String, Object> theirs = (Map<String, Object>) TransformersReference.run("write-safetensors", file);
        try (SafeTensors st = SafeTensors.open(file)) {
            assertThat(st.metadata()).containsEntry("format", "pt").containsEntry("writer", "transformers-reference");
            assertThat(st.tensors().keySet()).containsExactlyInAnyOrderElementsOf(theirs.keySet());
            theirs.forEach((name, d) -> assertSame(name, st.tensors().get(name), (Map<String, Object>) d));
        }
    }

    /** A file we write is read by transformers' safetensors library with the same names, dtypes, shapes and values. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    @SuppressWarnings("unchecked")
    void transformersReadsWhatWeWrite(long seed, @TempDir Path dir) throws Exception {
        System.out.println("SafeTensorsTest.transformersReadsWhatWeWrite seed " + seed);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> ours = sample(arena, new SplittableRandom(seed));
            Path file = dir.resolve("ours.safetensors");
            SafeTensors.write(file, ours, Map.of("format", "pt"));
            Map<String, Object> read = (Map<String, Object>) TransformersReference.run("read-safetensors", file);
            assertThat(read.keySet()).containsExactlyInAnyOrderElementsOf(ours.keySet());
            ours.forEach((name, t) -> assertSame(name, t, (Map<String, Object>) read.get(name)));
        }
    }

    @SuppressWarnings("unchecked")
    private static void assertSame(String name, Tensor ours, Map<String, Object> theirs) {
        String dtype = switch (ours.dtype()) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> throw new AssertionError(ours.dtype() + " has no safetensors name");
        };
        assertThat(theirs.get("dtype")).as(name).isEqualTo(dtype);
        assertThat(((List<Number>) theirs.get("shape")).stream().mapToLong(Number::longValue).toArray()).as(name).isEqualTo(ours.shape());
        List<Number> values = (List<Number>) theirs.get("values");
        float[] mine = ours.toFloatArray();
        assertThat(mine).as(name).hasSize(values.size());
        for (int i = 0; i < mine.length; i++) {
            assertThat(mine[i]).as("%s[%d]", name, i).isEqualTo(values.get(i).floatValue());
        }
    }

    private static long sizeOfData(Map<String, Tensor> m) {
        return m.values().stream().mapToLong(t -> t.data().byteSize()).sum();
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void opensShardedCheckpoints(long seed, @TempDir Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> all = sample(arena, rnd);
            Map<String, Tensor> a = new LinkedHashMap<>();
            Map<String, Tensor> b = new LinkedHashMap<>();
            Map<String, Object> weightMap = new LinkedHashMap<>();
            int k = 0;
            for (Tensor t : all.values()) {
                String shard = k++ % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
                (shard.contains("00001-") ? a : b).put(t.name(), t);
                weightMap.put(t.name(), shard);
            }
            SafeTensors.write(dir.resolve("model-00001-of-00002.safetensors"), a, null);
            SafeTensors.write(dir.resolve("model-00002-of-00002.safetensors"), b, null);
            Files.writeString(dir.resolve("model.safetensors.index.json"), Json.write(Map.of("metadata", Map.of(), "weight_map", weightMap)));
            try (SafeTensors.Sharded s = SafeTensors.openDirectory(dir)) {
                assertThat(s.files()).hasSize(2);
                assertThat(s.tensors().keySet()).containsExactlyInAnyOrderElementsOf(all.keySet());
                for (Tensor t : all.values()) {
                    assertThat(s.tensors().get(t.name()).toFloatArray()).isEqualTo(t.toFloatArray());
                }
            }
        }
    }

    private static Path withHeader(Path dir, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = Files.createTempFile(dir, "bad", ".safetensors");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void rejectsCorruptHeadersNamingFileAndTensor(@TempDir Path dir) throws IOException {
        String[][] cases = {
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "8", "data_offsets"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", "16", "needs 16 bytes"},
            {"{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", "16", "I64"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "4", "shape"},
            {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "12", "share bytes"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904, 4],\"data_offsets\":[0,16]}}", "16", "shape"},
            {"[1,2]", "0", "not a JSON object"},
            {"{\"w\":", "0", "JSON"},
        };
        for (String[] c : cases) {
            Path p = withHeader(dir, c[0], Integer.parseInt(c[1]));
            assertThatThrownBy(() -> SafeTensors.open(p)).as(c[0]).isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(p.getFileName().toString()).hasMessageContaining(c[2]);
        }
        Path huge = dir.resolve("huge.safetensors");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE).array());
        assertThatThrownBy(() -> SafeTensors.open(huge)).isInstanceOf(ModelFormatException.class).hasMessageContaining("header length");
        Path empty = Files.write(dir.resolve("empty.safetensors"), new byte[0]);
        assertThatThrownBy(() -> SafeTensors.open(empty)).isInstanceOf(ModelFormatException.class).hasMessageContaining("too short");
    }

    private static final String JSONISH = "{}[]\":,0123456789-";

    /** Random truncations and byte flips: each opens or fails with ModelFormatException, nothing else. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void fuzzedFilesFailCleanly(long seed, @TempDir Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        Path good = dir.resolve("good.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.write(good, sample(arena, rnd), Map.of("format", "pt"));
        }
        byte[] original = Files.readAllBytes(good);
        int headerEnd = (int) (8 + ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
        Path p = dir.resolve("fuzz.safetensors");
        for (int i = 0; i < 2000; i++) {
            byte[] b = original.clone();
            if (rnd.nextInt(4) == 0) {
                b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            }
            int flips = rnd.nextInt(1, 4);
            for (int k = 0; k < flips && b.length > 0; k++) {
                int at = rnd.nextInt(Math.min(b.length, headerEnd + 8));
                b[at] = (byte) (rnd.nextBoolean() ? rnd.nextInt(256) : JSONISH.charAt(rnd.nextInt(JSONISH.length())));
            }
            Files.write(p, b);
            try (SafeTensors st = SafeTensors.open(p)) {
                st.tensors().values().stream().filter(t -> t.numel() > 0).forEach(t -> t.getFloat(t.numel() - 1));
            } catch (ModelFormatException expected) {
                assertThat(expected.getMessage()).contains(p.toString());
            } catch (RuntimeException | OutOfMemoryError e) {
                throw new AssertionError("seed " + seed + " iteration " + i + ": " + e, e);
            }
        }
    }
}
