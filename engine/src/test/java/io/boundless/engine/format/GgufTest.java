package io.boundless.engine.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.format.Gguf.Type;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.api.io.TempDir;

class GgufTest {

    private static List<Tensor> tensors(Arena arena, SplittableRandom rnd) {
        return List.of(
                FormatTestSupport.random(arena, "token_embd.weight", DType.Q8_0, rnd, 48, 64),
                FormatTestSupport.random(arena, "blk.0.attn_q.weight", DType.Q4_0, rnd, 64, 64),
                FormatTestSupport.random(arena, "blk.0.ffn_up.weight", DType.F16, rnd, 96, 64),
                FormatTestSupport.random(arena, "blk.0.ffn_down.weight", DType.BF16, rnd, 64, 96),
                FormatTestSupport.random(arena, "output_norm.weight", DType.F32, rnd, 64),
                FormatTestSupport.random(arena, "odd.bias", DType.F32, rnd, 3, 5, 7));
    }

    private static GgufWriter writer(List<Tensor> ts) {
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putString("general.name", "tiny ünïcode")
                .putU32("llama.context_length", 2048)
                .putU32("llama.embedding_length", 64)
                .putF32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .put("llama.rope.freq_base", Type.FLOAT32, 500000f)
                .put("some.u8", Type.UINT8, 250)
                .put("some.i8", Type.INT8, -5)
                .put("some.u16", Type.UINT16, 65000)
                .put("some.i16", Type.INT16, -30000)
                .put("some.i32", Type.INT32, -7)
                .put("some.u64", Type.UINT64, 1L << 40)
                .put("some.i64", Type.INT64, -(1L << 40))
                .put("some.f64", Type.FLOAT64, 2.5)
                .put("some.bool", Type.BOOL, true)
                .putArray("tokenizer.ggml.tokens", Type.STRING, List.of("<s>", "</s>", "▁hello", "中"))
                .putArray("tokenizer.ggml.scores", Type.FLOAT32, List.of(0f, 0f, -1.5f, -2f))
                .putArray("tokenizer.ggml.token_type", Type.INT32, List.of(3, 3, 1, 1));
        ts.forEach(w::add);
        return w;
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void roundTripsMetadataAndEveryDtype(long seed, @TempDir Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            List<Tensor> ts = tensors(arena, rnd);
            Path file = dir.resolve("m.gguf");
            writer(ts).write(file);
            try (Gguf g = Gguf.open(file)) {
                assertThat(g.version()).isEqualTo(3);
                Map<String, Object> md = g.metadata();
                assertThat(md).containsEntry("general.architecture", "llama").containsEntry("general.name", "tiny ünïcode")
                        .containsEntry("llama.context_length", 2048L).containsEntry("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                        .containsEntry("some.u8", 250).containsEntry("some.i8", -5).containsEntry("some.u16", 65000)
                        .containsEntry("some.i16", -30000).containsEntry("some.i32", -7).containsEntry("some.u64", 1L << 40)
                        .containsEntry("some.i64", -(1L << 40)).containsEntry("some.f64", 2.5).containsEntry("some.bool", true)
                        .containsEntry("tokenizer.ggml.tokens", List.of("<s>", "</s>", "▁hello", "中"))
                        .containsEntry("tokenizer.ggml.token_type", List.of(3, 3, 1, 1));
                assertThat(g.typeOf("llama.context_length")).isEqualTo(Type.UINT32);
                assertThat(g.dataStart() % 32).isZero();
                for (Tensor w : ts) {
                    Tensor r = g.tensors().get(w.name());
                    assertThat(r.dtype()).as(w.name()).isEqualTo(w.dtype());
                    assertThat(r.shape()).as(w.name()).isEqualTo(w.shape());
                    assertThat(r.data().address() % 32).as("%s aligned", w.name()).isEqualTo(g.tensors().values().iterator().next().data().address() % 32);
                    assertThat(r.toFloatArray()).as(w.name()).isEqualTo(w.toFloatArray());
                }
            }
        }
    }

    /**
     * An independent reader, Hugging Face's @huggingface/gguf, sees the same metadata and tensors, and the tensor data
     * where it finds it (its tensorDataOffset plus each tensor's offset) is byte for byte what we read; the script
     * decodes F16, BF16, Q8_0 and Q4_0 there by the GGML block layouts, and the values equal ours.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void huggingFaceGgufReaderAgrees(long seed, @TempDir Path dir) throws Exception {
        System.out.println("GgufTest.huggingFaceGgufReaderAgrees seed " + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        Path file = dir.resolve("m.gguf");
        List<Tensor> ts;
        try (Arena arena = Arena.ofConfined()) {
            ts = tensors(arena, rnd);
            writer(ts).write(file);
        }
        Path refs = Path.of(System.getProperty("boundless.testdata", "../testdata")).resolve("references");
        String script = """
                import { gguf } from '@huggingface/gguf';
                const { metadata, tensorInfos } = await gguf(process.argv[2], { allowLocalFile: true });
                const { tensorDataOffset } = await gguf(process.argv[2], { allowLocalFile: true });
                const { readFileSync } = await import('node:fs');
                const { createHash } = await import('node:crypto');
                const file = readFileSync(process.argv[2]);
                const half = (h) => {
                  const e = (h >> 10) & 31, m = h & 1023, s = h >> 15 ? -1 : 1;
                  return e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
                };
                const bf16 = (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0];
                // ggml types: 0 F32, 1 F16, 2 Q4_0, 8 Q8_0, 30 BF16
                const sizes = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34], 30: [1, 2] };
                const decode = (b, type, n) => {
                  const v = [];
                  for (let i = 0; i < n; i++) {
                    if (type === 0) v.push(b.readFloatLE(4 * i));
                    else if (type === 1) v.push(half(b.readUInt16LE(2 * i)));
                    else if (type === 30) v.push(bf16(b.readUInt16LE(2 * i)));
                    else if (type === 8) { const blk = Math.floor(i / 32); v.push(half(b.readUInt16LE(34 * blk)) * b.readInt8(34 * blk + 2 + i % 32)); }
                    else if (type === 2) {
                      const blk = Math.floor(i / 32), j = i % 32, q = b[18 * blk + 2 + (j % 16)];
                      v.push(half(b.readUInt16LE(18 * blk)) * ((j < 16 ? q & 15 : q >> 4) - 8));
                    }
                  }
                  return v;
                };
                const out = { metadata: {}, tensors: tensorInfos.map(t => {
                  const n = t.shape.reduce((a, b) => a * Number(b), 1);
                  const [bs, bb] = sizes[t.dtype];
                  const start = Number(tensorDataOffset + t.offset);
                  const bytes = file.subarray(start, start + n / bs * bb);
                  return { name: t.name, shape: t.shape.map(String), dtype: t.dtype, offset: String(t.offset),
                           sha256: createHash('sha256').update(bytes).digest('hex'), values: decode(bytes, t.dtype, n) };
                }) };
                for (const [k, v] of Object.entries(metadata)) out.metadata[k] = typeof v === 'bigint' ? String(v) : v;
                console.log(JSON.stringify(out));
                """;
        Path js = refs.resolve("read-gguf.tmp.mjs");
        Files.writeString(js, script);
        try {
            Process p = new ProcessBuilder("node", js.toString(), file.toString()).directory(refs.toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            @SuppressWarnings("unchecked")
            Map<String, Object> parsed = (Map<String, Object>) Json.parse(out.strip());
            @SuppressWarnings("unchecked")
            Map<String, Object> md = (Map<String, Object>) parsed.get("metadata");
            assertThat(md).containsEntry("general.architecture", "llama").containsEntry("llama.context_length", 2048L)
                    .containsEntry("some.u64", String.valueOf(1L << 40)).containsEntry("some.bool", true)
                    .containsEntry("tokenizer.ggml.tokens", List.of("<s>", "</s>", "▁hello", "中"));
            assertThat(((Number) md.get("llama.attention.layer_norm_rms_epsilon")).floatValue()).isEqualTo(1e-5f);
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> infos = (List<Map<String, Object>>) parsed.get("tensors");
            assertThat(infos).hasSize(ts.size());
            for (int k = 0; k < ts.size(); k++) {
                Tensor t = ts.get(k);
                Map<String, Object> info = infos.get(k);
                assertThat(info.get("name")).isEqualTo(t.name());
                assertThat(((Number) info.get("dtype")).intValue()).isEqualTo(t.dtype().ggmlType);
                long[] shape = t.shape();
                List<Object> ggufOrder = new ArrayList<>();
                for (int d = shape.length - 1; d >= 0; d--) {
                    ggufOrder.add(String.valueOf(shape[d]));
                }
                assertThat(info.get("shape")).as(t.name()).isEqualTo(ggufOrder);
            }
            try (Gguf g = Gguf.open(file)) {
                for (Map<String, Object> info : infos) {
                    Tensor ours = g.tensors().get((String) info.get("name"));
                    byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(ours.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    assertThat(info.get("sha256")).as("%s: the bytes at @huggingface/gguf's offset are the ones we read", ours.name())
                            .isEqualTo(java.util.HexFormat.of().formatHex(digest));
                    @SuppressWarnings("unchecked")
                    List<Number> values = (List<Number>) info.get("values");
                    float[] mine = ours.toFloatArray();
                    assertThat(values).as(ours.name()).hasSize(mine.length);
                    for (int i = 0; i < mine.length; i++) {
                        assertThat(mine[i]).as("%s[%d] (%s)", ours.name(), i, ours.dtype()).isEqualTo(values.get(i).floatValue());
                    }
                }
            }
        } finally {
            Files.deleteIfExists(js);
        }
    }

    private static byte[] header(int magic, int version, long nTensors, long nKv, byte[] rest) {
        ByteBuffer b = ByteBuffer.allocate(24 + rest.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(magic).putInt(version).putLong(nTensors).putLong(nKv).put(rest);
        return b.array();
    }

    @Test
    void rejectsCorruptFilesNamingThePlace(@TempDir Path dir) throws IOException {
        Object[][] cases = {
            {header(0x12345678, 3, 0, 0, new byte[0]), "not a GGUF file"},
            {header(Gguf.MAGIC, 1, 0, 0, new byte[0]), "version 1"},
            {header(Gguf.MAGIC, 3, Long.MAX_VALUE, 0, new byte[0]), "cannot fit"},
            {header(Gguf.MAGIC, 3, 0, 1_000_000_000L, new byte[64]), "cannot fit"},
            {header(Gguf.MAGIC, 3, 0, 1, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array()), "string of"},
            {new byte[] {'G', 'G'}, "truncated"},
        };
        for (Object[] c : cases) {
            Path p = Files.write(Files.createTempFile(dir, "bad", ".gguf"), (byte[]) c[0]);
            assertThatThrownBy(() -> Gguf.open(p)).isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(p.getFileName().toString()).hasMessageContaining((String) c[1]);
        }
        // a tensor whose data runs past the end of the file names the tensor
        SplittableRandom rnd = new SplittableRandom(1);
        Path good = dir.resolve("good.gguf");
        try (Arena arena = Arena.ofConfined()) {
            writer(tensors(arena, rnd)).write(good);
        }
        byte[] b = Files.readAllBytes(good);
        Path cut = Files.write(dir.resolve("cut.gguf"), java.util.Arrays.copyOf(b, b.length - 100));
        assertThatThrownBy(() -> Gguf.open(cut)).isInstanceOf(ModelFormatException.class).hasMessageContaining("odd.bias");
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void fuzzedFilesFailCleanly(long seed, @TempDir Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        Path good = dir.resolve("good.gguf");
        long dataStart;
        try (Arena arena = Arena.ofConfined()) {
            writer(tensors(arena, rnd)).write(good);
        }
        try (Gguf g = Gguf.open(good)) {
            dataStart = g.dataStart();
        }
        byte[] original = Files.readAllBytes(good);
        Path p = dir.resolve("fuzz.gguf");
        for (int i = 0; i < 2000; i++) {
            byte[] b = original.clone();
            if (rnd.nextInt(4) == 0) {
                b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            }
            int flips = rnd.nextInt(1, 4);
            for (int k = 0; k < flips && b.length > 0; k++) {
                b[rnd.nextInt((int) Math.min(b.length, dataStart))] = (byte) rnd.nextInt(256);
            }
            Files.write(p, b);
            try (Gguf g = Gguf.open(p)) {
                g.tensors().values().stream().filter(t -> t.numel() > 0).forEach(t -> t.getFloat(t.numel() - 1));
            } catch (ModelFormatException expected) {
                assertThat(expected.getMessage()).contains(p.toString());
            } catch (RuntimeException | OutOfMemoryError e) {
                throw new AssertionError("seed " + seed + " iteration " + i + ": " + e, e);
            }
        }
    }
}
