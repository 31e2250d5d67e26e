package io.boundless.engine.model;

import io.boundless.engine.format.Gguf;
import io.boundless.engine.format.GgufWriter;
import io.boundless.engine.format.Json;
import io.boundless.engine.format.SafeTensors;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Halfs;
import io.boundless.engine.tensor.Quant;
import io.boundless.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes deterministic random-weight models of any supported architecture and size, for tests,
 * benchmarks and the local default: Hugging Face layout (config.json + model.safetensors) and GGUF
 * (F32, F16, BF16, Q8_0, Q4_0; llama Q/K rows permuted for adjacent-pair RoPE as llama.cpp's converter
 * does; a byte-level BPE vocabulary so llama.cpp can load it). The same seed gives the same weights
 * in every format.
 */
public final class ModelWriter {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A named weight with its values in Hugging Face layout ([out, in]; GPT-2 Conv1D [in, out]). */
    public record Weight(String hfName, long[] shape, float[] values) {}

    /**
     * The random weights of a model, in Hugging Face names and layout. Matrices have standard
     * deviation gain / sqrt(fan-in), so activations keep their scale through any depth and width;
     * the embeddings give logits of standard deviation about 3, so that next-token distributions are
     * neither flat nor one-hot, and each layer moves the residual stream more than the embedding does,
     * so that the model does not just repeat its input.
     */
    public static List<Weight> randomWeights(ModelConfig c, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Weight> out = new ArrayList<>();
        int h = c.hidden();
        float embed = (float) (3 / Math.sqrt(h));
        if (c.arch() == Architecture.GPT2) {
            out.add(normal("wte.weight", rnd, embed, c.vocabSize(), h));
            out.add(normal("wpe.weight", rnd, embed / 2, c.maxPositions(), h));
            for (int i = 0; i < c.layers(); i++) {
                String l = "h." + i + ".";
                out.add(norm(l + "ln_1.weight", rnd, h));
                out.add(normal(l + "ln_1.bias", rnd, 0.1f, h));
                out.add(conv(l + "attn.c_attn.weight", rnd, h, 3L * h));
                out.add(normal(l + "attn.c_attn.bias", rnd, 0.1f, 3L * h));
                out.add(conv(l + "attn.c_proj.weight", rnd, h, h));
                out.add(normal(l + "attn.c_proj.bias", rnd, 0.1f, h));
                out.add(norm(l + "ln_2.weight", rnd, h));
                out.add(normal(l + "ln_2.bias", rnd, 0.1f, h));
                out.add(conv(l + "mlp.c_fc.weight", rnd, h, c.intermediate()));
                out.add(normal(l + "mlp.c_fc.bias", rnd, 0.1f, c.intermediate()));
                out.add(conv(l + "mlp.c_proj.weight", rnd, c.intermediate(), h));
                out.add(normal(l + "mlp.c_proj.bias", rnd, 0.1f, h));
            }
            out.add(norm("ln_f.weight", rnd, h));
            out.add(normal("ln_f.bias", rnd, 0.1f, h));
            return out;
        }
        out.add(normal("model.embed_tokens.weight", rnd, embed, c.vocabSize(), h));
        for (int i = 0; i < c.layers(); i++) {
            String l = "model.layers." + i + ".";
            out.add(norm(l + "input_layernorm.weight", rnd, h));
            out.add(matrix(l + "self_attn.q_proj.weight", rnd, c.qDim(), h));
            out.add(matrix(l + "self_attn.k_proj.weight", rnd, c.kvDim(), h));
            out.add(matrix(l + "self_attn.v_proj.weight", rnd, c.kvDim(), h));
            if (c.qkvBias()) {
                out.add(normal(l + "self_attn.q_proj.bias", rnd, 0.3f, c.qDim()));
                out.add(normal(l + "self_attn.k_proj.bias", rnd, 0.3f, c.kvDim()));
                out.add(normal(l + "self_attn.v_proj.bias", rnd, 0.3f, c.kvDim()));
            }
            out.add(matrix(l + "self_attn.o_proj.weight", rnd, h, c.qDim()));
            out.add(norm(l + "post_attention_layernorm.weight", rnd, h));
            out.add(matrix(l + "mlp.gate_proj.weight", rnd, c.intermediate(), h));
            out.add(matrix(l + "mlp.up_proj.weight", rnd, c.intermediate(), h));
            out.add(matrix(l + "mlp.down_proj.weight", rnd, h, c.intermediate()));
        }
        out.add(norm("model.norm.weight", rnd, h));
        if (!c.tiedEmbeddings()) {
            out.add(normal("lm_head.weight", rnd, embed, c.vocabSize(), h));
        }
        return out;
    }

    private static final double GAIN = 1.5;

    /** [out, in] with std GAIN / sqrt(in). */
    private static Weight matrix(String name, SplittableRandom rnd, long rows, long cols) {
        return normal(name, rnd, (float) (GAIN / Math.sqrt(cols)), rows, cols);
    }

    /** GPT-2 Conv1D, stored [in, out], with std GAIN / sqrt(in). */
    private static Weight conv(String name, SplittableRandom rnd, long in, long out) {
        return normal(name, rnd, (float) (GAIN / Math.sqrt(in)), in, out);
    }

    private static Weight normal(String name, SplittableRandom rnd, float std, long... shape) {
        float[] v = new float[(int) Tensor.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextGaussian() * std);
        }
        return new Weight(name, shape, v);
    }

    /** Norm scales near 1, varied so that a norm applied with the wrong weight shows. */
    private static Weight norm(String name, SplittableRandom rnd, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (1 + 0.2 * rnd.nextGaussian());
        }
        return new Weight(name, new long[] {n}, v);
    }

    /** Writes config.json and model.safetensors (matrices in dtype: F32, F16 or BF16; vectors F32). */
    public static void writeHuggingFace(Path dir, ModelConfig c, List<Weight> weights, DType dtype) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), Json.write(c.toHuggingFace()));
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Weight w : weights) {
                tensors.put(w.hfName(), tensor(arena, w.hfName(), w.shape().length == 1 ? DType.F32 : dtype, w.shape(), w.values()));
            }
            SafeTensors.write(dir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
        }
    }

    /** Writes a GGUF file with llama.cpp's names and layout; matrices in dtype, vectors in F32. */
    public static void writeGguf(Path file, ModelConfig c, List<Weight> weights, DType dtype) throws IOException {
        writeGguf(file, c, weights, dtype, null);
    }

    /**
     * As {@link #writeGguf(Path, ModelConfig, List, DType)}, with the Hugging Face tokenizer of tokenizerDir (a byte-level
     * BPE tokenizer.json and its tokenizer_config.json, chat template included) embedded as llama.cpp's
     * {@code tokenizer.ggml.*} metadata; null writes the synthetic test vocabulary.
     */
    public static void writeGguf(Path file, ModelConfig c, List<Weight> weights, DType dtype, Path tokenizerDir) throws IOException {
        String arch = switch (c.arch()) {
            case LLAMA, MISTRAL -> "llama";
            case QWEN2 -> "qwen2";
            case GPT2 -> "gpt2";
        };
        GgufWriter g = new GgufWriter()
                .putString("general.architecture", arch)
                .putString("general.name", "boundless-random-" + arch)
                .putU32("general.alignment", 32)
                .putU32(arch + ".context_length", c.maxPositions())
                .putU32(arch + ".embedding_length", c.hidden())
                .putU32(arch + ".feed_forward_length", c.intermediate())
                .putU32(arch + ".block_count", c.layers())
                .putU32(arch + ".attention.head_count", c.heads())
                .putU32(arch + ".attention.head_count_kv", c.kvHeads())
                .putU32(arch + ".vocab_size", c.vocabSize());
        if (c.arch() == Architecture.GPT2) {
            g.putF32(arch + ".attention.layer_norm_epsilon", c.normEps());
        } else {
            g.putF32(arch + ".attention.layer_norm_rms_epsilon", c.normEps());
            g.putF32(arch + ".rope.freq_base", (float) c.ropeTheta());
            g.putU32(arch + ".rope.dimension_count", c.headDim());
            g.putU32(arch + ".attention.key_length", c.headDim());
            g.putU32(arch + ".attention.value_length", c.headDim());
            if (c.slidingWindow() > 0) {
                g.putU32(arch + ".attention.sliding_window", c.slidingWindow());
            }
        }
        if (tokenizerDir == null) {
            vocabulary(g, c);
        } else {
            embedTokenizer(g, c, tokenizerDir);
        }
        try (Arena arena = Arena.ofConfined()) {
            for (Weight w : weights) {
                String name = ggufName(c, w.hfName());
                float[] values = w.values();
                long[] shape = w.shape();
                if (c.arch() == Architecture.GPT2 && name.endsWith(".weight") && shape.length == 2 && !name.startsWith("token_embd")
                        && !name.startsWith("position_embd")) {
                    values = transpose(values, (int) shape[0], (int) shape[1]); // Conv1D [in, out] -> [out, in]
                    shape = new long[] {shape[1], shape[0]};
                }
                if (c.arch() != Architecture.GPT2 && c.arch() != Architecture.QWEN2
                        && (name.endsWith("attn_q.weight") || name.endsWith("attn_k.weight"))) {
                    int heads = name.endsWith("attn_q.weight") ? c.heads() : c.kvHeads();
                    values = permuteForAdjacentRope(values, heads, c.headDim(), (int) shape[1]);
                }
                DType dt = shape.length == 1 ? DType.F32 : dtype;
                g.add(tensor(arena, name, dt, shape, values));
            }
            if (c.ropeScaling() != null) {
                float[] plain = io.boundless.engine.cpu.Rope.inverseFrequencies(c.headDim(), c.ropeTheta(), null);
                float[] scaled = io.boundless.engine.cpu.Rope.inverseFrequencies(c.headDim(), c.ropeTheta(), c.ropeScaling());
                float[] factors = new float[plain.length];
                for (int i = 0; i < factors.length; i++) {
                    factors[i] = plain[i] / scaled[i];
                }
                g.add(tensor(arena, "rope_freqs.weight", DType.F32, new long[] {factors.length}, factors));
            }
            g.write(file);
        }
    }

    /**
     * A byte-level BPE vocabulary llama.cpp accepts: the 256 byte symbols, then numbered filler
     * tokens, the last two being BOS and EOS. Random models have no real text; tests feed ids.
     */
    private static void vocabulary(GgufWriter g, ModelConfig c) {
        if (c.vocabSize() < 260) {
            throw new IllegalArgumentException("a GGUF test vocabulary needs at least 260 tokens, not " + c.vocabSize());
        }
        List<String> tokens = new ArrayList<>(c.vocabSize());
        List<Integer> types = new ArrayList<>(c.vocabSize());
        char[] bytes = byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(bytes[b]));
            types.add(1); // normal
        }
        for (int i = 256; i < c.vocabSize() - 2; i++) {
            tokens.add("<t" + i + ">");
            types.add(4); // user defined
        }
        tokens.add("<|bos|>");
        types.add(3); // control
        tokens.add("<|eos|>");
        types.add(3);
        g.putString("tokenizer.ggml.model", "gpt2");
        g.putString("tokenizer.ggml.pre", "default");
        g.putArray("tokenizer.ggml.tokens", Gguf.Type.STRING, tokens);
        g.putArray("tokenizer.ggml.token_type", Gguf.Type.INT32, types);
        g.putArray("tokenizer.ggml.merges", Gguf.Type.STRING, List.of());
        g.putU32("tokenizer.ggml.bos_token_id", c.vocabSize() - 2);
        g.putU32("tokenizer.ggml.eos_token_id", c.vocabSize() - 1);
        g.put("tokenizer.ggml.add_bos_token", Gguf.Type.BOOL, false);
    }

    /** A byte-level BPE tokenizer.json as tokenizer.ggml.* (tokens by id, types, merges, the pre-tokenizer's name, BOS/EOS, template). */
    private static void embedTokenizer(GgufWriter g, ModelConfig c, Path dir) throws IOException {
        Map<?, ?> tok = (Map<?, ?>) io.boundless.engine.format.Json.parse(Files.readString(dir.resolve("tokenizer.json")));
        Map<?, ?> config = Files.isRegularFile(dir.resolve("tokenizer_config.json"))
                ? (Map<?, ?>) io.boundless.engine.format.Json.parse(Files.readString(dir.resolve("tokenizer_config.json"))) : Map.of();
        Map<?, ?> model = (Map<?, ?>) tok.get("model");
        if (!"BPE".equals(model.get("type")) || !io.boundless.engine.format.Json.write(tok.get("pre_tokenizer")).contains("ByteLevel")) {
            throw new IllegalArgumentException("only byte-level BPE tokenizers are embedded in GGUF files here");
        }
        String[] tokens = new String[c.vocabSize()];
        Integer[] types = new Integer[c.vocabSize()];
        ((Map<?, ?>) model.get("vocab")).forEach((k, v) -> {
            int id = ((Number) v).intValue();
            if (id < tokens.length) {
                tokens[id] = String.valueOf(k);
                types[id] = 1;
            }
        });
        if (tok.get("added_tokens") instanceof List<?> added) {
            for (Object o : added) {
                Map<?, ?> a = (Map<?, ?>) o;
                int id = ((Number) a.get("id")).intValue();
                if (id < tokens.length) {
                    tokens[id] = String.valueOf(a.get("content"));
                    types[id] = Boolean.TRUE.equals(a.get("special")) ? 3 : 4;
                }
            }
        }
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) {
                tokens[i] = "[PAD" + i + "]";
                types[i] = 5; // unused
            }
        }
        List<String> merges = new ArrayList<>();
        for (Object m : (List<?>) model.get("merges")) {
            merges.add(m instanceof List<?> pair ? pair.get(0) + " " + pair.get(1) : String.valueOf(m));
        }
        String pre = "gpt-2";
        String preJson = io.boundless.engine.format.Json.write(tok.get("pre_tokenizer"));
        for (var e : io.boundless.engine.format.GgufTokenizer.preTokenizers().entrySet()) {
            if (e.getValue().length() > 8 && preJson.contains(io.boundless.engine.format.Json.write(e.getValue()))) {
                pre = e.getKey();
            }
        }
        List<String> tokenList = List.of(tokens);
        g.putString("tokenizer.ggml.model", "gpt2");
        g.putString("tokenizer.ggml.pre", pre);
        g.putArray("tokenizer.ggml.tokens", Gguf.Type.STRING, tokenList);
        g.putArray("tokenizer.ggml.token_type", Gguf.Type.INT32, List.of(types));
        g.putArray("tokenizer.ggml.merges", Gguf.Type.STRING, merges);
        if (config.get("bos_token") instanceof String bos && tokenList.contains(bos)) {
            g.putU32("tokenizer.ggml.bos_token_id", tokenList.indexOf(bos));
        }
        if (config.get("eos_token") instanceof String eos && tokenList.contains(eos)) {
            g.putU32("tokenizer.ggml.eos_token_id", tokenList.indexOf(eos));
        }
        g.put("tokenizer.ggml.add_bos_token", Gguf.Type.BOOL, Boolean.TRUE.equals(config.get("add_bos_token")));
        if (config.get("chat_template") instanceof String tpl) {
            g.putString("tokenizer.chat_template", tpl);
        }
    }

    /** GPT-2's byte-level BPE alphabet: the character that stands for each byte in token strings. */
    public static char[] byteLevelAlphabet() {
        char[] out = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            out[b] = printable ? (char) b : (char) (256 + n++);
        }
        return out;
    }

    static String ggufName(ModelConfig c, String hf) {
        if (c.arch() == Architecture.GPT2) {
            String n = hf.replace("transformer.", "");
            return switch (n) {
                case "wte.weight" -> "token_embd.weight";
                case "wpe.weight" -> "position_embd.weight";
                case "ln_f.weight" -> "output_norm.weight";
                case "ln_f.bias" -> "output_norm.bias";
                default -> n.replaceFirst("^h\\.(\\d+)\\.", "blk.$1.")
                        .replace("ln_1.", "attn_norm.").replace("attn.c_attn.", "attn_qkv.").replace("attn.c_proj.", "attn_output.")
                        .replace("ln_2.", "ffn_norm.").replace("mlp.c_fc.", "ffn_up.").replace("mlp.c_proj.", "ffn_down.");
            };
        }
        return switch (hf) {
            case "model.embed_tokens.weight" -> "token_embd.weight";
            case "model.norm.weight" -> "output_norm.weight";
            case "lm_head.weight" -> "output.weight";
            default -> hf.replaceFirst("^model\\.layers\\.(\\d+)\\.", "blk.$1.")
                    .replace("input_layernorm.", "attn_norm.").replace("post_attention_layernorm.", "ffn_norm.")
                    .replace("self_attn.q_proj.", "attn_q.").replace("self_attn.k_proj.", "attn_k.").replace("self_attn.v_proj.", "attn_v.")
                    .replace("self_attn.o_proj.", "attn_output.").replace("mlp.gate_proj.", "ffn_gate.").replace("mlp.up_proj.", "ffn_up.")
                    .replace("mlp.down_proj.", "ffn_down.");
        };
    }

    /**
     * llama.cpp's converter permutes Q/K rows so that rotate-half pairs (i, i + d/2) of each head
     * become adjacent pairs (2i, 2i + 1): new row h*d + 2i + t = old row h*d + t*d/2 + i.
     */
    static float[] permuteForAdjacentRope(float[] w, int heads, int headDim, int cols) {
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int t = 0; t < 2; t++) {
                    int newRow = h * headDim + 2 * i + t;
                    int oldRow = h * headDim + t * half + i;
                    System.arraycopy(w, oldRow * cols, out, newRow * cols, cols);
                }
            }
        }
        return out;
    }

    private static float[] transpose(float[] w, int rows, int cols) {
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < cols; col++) {
                out[col * rows + r] = w[r * cols + col];
            }
        }
        return out;
    }

    /** A tensor of values in dtype, allocated in arena. */
    public static Tensor tensor(Arena arena, String name, DType dt, long[] shape, float[] v) {
        MemorySegment seg = arena.allocate(dt.byteSize(v.length), 32);
        switch (dt) {
            case F32 -> MemorySegment.copy(v, 0, seg, F32, 0, v.length);
            case F16 -> {
                for (int i = 0; i < v.length; i++) {
                    seg.set(I16, 2L * i, Float.floatToFloat16(v[i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < v.length; i++) {
                    seg.set(I16, 2L * i, Halfs.floatToBf16(v[i]));
                }
            }
            case Q8_0, Q4_0 -> Quant.quantize(dt, v, seg);
        }
        return new Tensor(name, dt, shape, seg);
    }

    /** Shapes of real models, for benchmarks: random weights, real sizes. */
    public static ModelConfig preset(String name) {
        return switch (name) {
            case "llama-3.2-1b" -> new ModelConfig(Architecture.LLAMA, 128256, 2048, 8192, 16, 32, 8, 64, 1e-5f, 500000,
                    new io.boundless.engine.cpu.Rope.Llama3Scaling(32, 1, 4, 8192), 131072, true, false, 0, 128000, List.of(128001));
            case "qwen2-0.5b" -> new ModelConfig(Architecture.QWEN2, 151936, 896, 4864, 24, 14, 2, 64, 1e-6f, 1000000, null, 32768,
                    true, true, 0, null, List.of(151643));
            case "gpt2" -> new ModelConfig(Architecture.GPT2, 50257, 768, 3072, 12, 12, 12, 64, 1e-5f, 0, null, 1024, true, true, 0, 50256, List.of(50256));
            default -> throw new IllegalArgumentException("no preset " + name + " (llama-3.2-1b, qwen2-0.5b, gpt2)");
        };
    }

    /**
     * Writes a random-weight model: {@code ModelWriter <preset> <gguf|hf> <F32|F16|BF16|Q8_0|Q4_0> <out> [seed]}.
     * For benchmarks and tools; tests call the methods directly.
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 4) {
            System.err.println("usage: ModelWriter <llama-3.2-1b|qwen2-0.5b|gpt2> <gguf|hf> <F32|F16|BF16|Q8_0|Q4_0> <out> [seed]");
            System.exit(2);
        }
        ModelConfig c = preset(args[0]);
        DType dt = DType.valueOf(args[2]);
        long seed = args.length > 4 ? Long.parseLong(args[4]) : 1;
        List<Weight> w = randomWeights(c, seed);
        if (args[1].equals("gguf")) {
            writeGguf(Path.of(args[3]), c, w, dt);
        } else {
            writeHuggingFace(Path.of(args[3]), c, w, dt);
        }
    }

    private ModelWriter() {}
}
