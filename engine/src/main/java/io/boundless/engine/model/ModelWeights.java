package io.boundless.engine.model;

import io.boundless.engine.cpu.Rope;
import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * All weights of a model, bound by name from a safetensors checkpoint or a GGUF file and checked
 * against the config. Matrices stay views into the mapped files; only the small vectors (norms,
 * biases) become float arrays. The one copy is HF GPT-2, whose Conv1D weights are stored [in, out]
 * and are transposed once at load.
 *
 * @param embeddings  [vocab, hidden]
 * @param positions   [maxPositions, hidden] (GPT-2 only)
 * @param output      [vocab, hidden] (the embeddings when tied)
 * @param ropeLayout  which dimension pairs RoPE rotates: GGUF llama files were permuted for adjacent pairs
 * @param ropeFreqs   per-frequency divisors stored in GGUF as rope_freqs.weight (Llama 3 scaling), or null
 */
public record ModelWeights(ModelConfig config, Tensor embeddings, Tensor positions, List<LayerWeights> layers, float[] finalNorm,
        float[] finalNormBias, Tensor output, Rope.Layout ropeLayout, float[] ropeFreqs) {

    /** Inverse RoPE frequencies for this model: from the config's scaling, or from GGUF's rope_freqs tensor. */
    public float[] inverseFrequencies() {
        float[] inv = Rope.inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());
        if (ropeFreqs != null) {
            for (int i = 0; i < inv.length; i++) {
                inv[i] /= ropeFreqs[i];
            }
        }
        return inv;
    }

    /** Binds Hugging Face names ({@code model.layers.N.self_attn.q_proj.weight}, GPT-2's {@code h.N.attn.c_attn.weight}). */
    public static ModelWeights fromHuggingFace(ModelConfig c, Map<String, Tensor> t, Arena arena) {
        return bindHuggingFace(c, t, arena, true);
    }

    /**
     * Checks that the tensors hold every weight the config needs, with the right shapes, as
     * {@link #fromHuggingFace} would, without copying anything (GPT-2's Conv1D weights are checked,
     * not transposed). A problem is a ModelFormatException naming the tensor.
     */
    public static void checkHuggingFace(ModelConfig c, Map<String, Tensor> t) {
        bindHuggingFace(c, t, null, false);
    }

    private static ModelWeights bindHuggingFace(ModelConfig c, Map<String, Tensor> t, Arena arena, boolean transpose) {
        Binder b = new Binder(t, c, transpose);
        List<LayerWeights> layers = new ArrayList<>();
        if (c.arch() == Architecture.GPT2) {
            String p = t.containsKey("transformer.wte.weight") ? "transformer." : "";
            for (int i = 0; i < c.layers(); i++) {
                String l = p + "h." + i + ".";
                layers.add(new LayerWeights(b.vec(l + "ln_1.weight", c.hidden()), b.vec(l + "ln_1.bias", c.hidden()), null, null, null,
                        b.conv1d(l + "attn.c_attn.weight", c.hidden(), 3 * c.hidden(), arena), null, null, null, b.vec(l + "attn.c_attn.bias", 3 * c.hidden()),
                        b.conv1d(l + "attn.c_proj.weight", c.hidden(), c.hidden(), arena), b.vec(l + "attn.c_proj.bias", c.hidden()),
                        b.vec(l + "ln_2.weight", c.hidden()), b.vec(l + "ln_2.bias", c.hidden()), null,
                        b.conv1d(l + "mlp.c_fc.weight", c.hidden(), c.intermediate(), arena), b.vec(l + "mlp.c_fc.bias", c.intermediate()),
                        b.conv1d(l + "mlp.c_proj.weight", c.intermediate(), c.hidden(), arena), b.vec(l + "mlp.c_proj.bias", c.hidden())));
            }
            Tensor wte = b.matrix(p + "wte.weight", c.vocabSize(), c.hidden());
            return new ModelWeights(c, wte, b.matrix(p + "wpe.weight", c.maxPositions(), c.hidden()), layers,
                    b.vec(p + "ln_f.weight", c.hidden()), b.vec(p + "ln_f.bias", c.hidden()),
                    t.containsKey("lm_head.weight") ? b.matrix("lm_head.weight", c.vocabSize(), c.hidden()) : wte, null, null);
        }
        for (int i = 0; i < c.layers(); i++) {
            String l = "model.layers." + i + ".";
            layers.add(new LayerWeights(b.vec(l + "input_layernorm.weight", c.hidden()), null,
                    b.matrix(l + "self_attn.q_proj.weight", c.qDim(), c.hidden()), b.matrix(l + "self_attn.k_proj.weight", c.kvDim(), c.hidden()),
                    b.matrix(l + "self_attn.v_proj.weight", c.kvDim(), c.hidden()), null,
                    c.qkvBias() ? b.vec(l + "self_attn.q_proj.bias", c.qDim()) : null, c.qkvBias() ? b.vec(l + "self_attn.k_proj.bias", c.kvDim()) : null,
                    c.qkvBias() ? b.vec(l + "self_attn.v_proj.bias", c.kvDim()) : null, null,
                    b.matrix(l + "self_attn.o_proj.weight", c.hidden(), c.qDim()), null,
                    b.vec(l + "post_attention_layernorm.weight", c.hidden()), null,
                    b.matrix(l + "mlp.gate_proj.weight", c.intermediate(), c.hidden()), b.matrix(l + "mlp.up_proj.weight", c.intermediate(), c.hidden()), null,
                    b.matrix(l + "mlp.down_proj.weight", c.hidden(), c.intermediate()), null));
        }
        Tensor embed = b.matrix("model.embed_tokens.weight", c.vocabSize(), c.hidden());
        Tensor out = t.containsKey("lm_head.weight") ? b.matrix("lm_head.weight", c.vocabSize(), c.hidden()) : embed;
        if (out == embed && !c.tiedEmbeddings()) {
            throw new ModelFormatException("lm_head.weight is missing and tie_word_embeddings is not set");
        }
        return new ModelWeights(c, embed, null, layers, b.vec("model.norm.weight", c.hidden()), null, out, Rope.Layout.ROTATE_HALF, null);
    }

    /** Binds GGUF names ({@code blk.N.attn_q.weight}, ...). */
    public static ModelWeights fromGguf(ModelConfig c, Map<String, Tensor> t) {
        Binder b = new Binder(t, c, true);
        List<LayerWeights> layers = new ArrayList<>();
        boolean gpt2 = c.arch() == Architecture.GPT2;
        for (int i = 0; i < c.layers(); i++) {
            String l = "blk." + i + ".";
            if (gpt2) {
                layers.add(new LayerWeights(b.vec(l + "attn_norm.weight", c.hidden()), b.vec(l + "attn_norm.bias", c.hidden()), null, null, null,
                        b.matrix(l + "attn_qkv.weight", 3 * c.hidden(), c.hidden()), null, null, null, b.vec(l + "attn_qkv.bias", 3 * c.hidden()),
                        b.matrix(l + "attn_output.weight", c.hidden(), c.hidden()), b.vec(l + "attn_output.bias", c.hidden()),
                        b.vec(l + "ffn_norm.weight", c.hidden()), b.vec(l + "ffn_norm.bias", c.hidden()), null,
                        b.matrix(l + "ffn_up.weight", c.intermediate(), c.hidden()), b.vec(l + "ffn_up.bias", c.intermediate()),
                        b.matrix(l + "ffn_down.weight", c.hidden(), c.intermediate()), b.vec(l + "ffn_down.bias", c.hidden())));
            } else {
                layers.add(new LayerWeights(b.vec(l + "attn_norm.weight", c.hidden()), null,
                        b.matrix(l + "attn_q.weight", c.qDim(), c.hidden()), b.matrix(l + "attn_k.weight", c.kvDim(), c.hidden()),
                        b.matrix(l + "attn_v.weight", c.kvDim(), c.hidden()), null,
                        c.qkvBias() ? b.vec(l + "attn_q.bias", c.qDim()) : null, c.qkvBias() ? b.vec(l + "attn_k.bias", c.kvDim()) : null,
                        c.qkvBias() ? b.vec(l + "attn_v.bias", c.kvDim()) : null, null,
                        b.matrix(l + "attn_output.weight", c.hidden(), c.qDim()), null, b.vec(l + "ffn_norm.weight", c.hidden()), null,
                        b.matrix(l + "ffn_gate.weight", c.intermediate(), c.hidden()), b.matrix(l + "ffn_up.weight", c.intermediate(), c.hidden()), null,
                        b.matrix(l + "ffn_down.weight", c.hidden(), c.intermediate()), null));
            }
        }
        Tensor embed = b.matrix("token_embd.weight", c.vocabSize(), c.hidden());
        Tensor out = t.containsKey("output.weight") ? b.matrix("output.weight", c.vocabSize(), c.hidden()) : embed;
        float[] ropeFreqs = t.containsKey("rope_freqs.weight") ? b.vec("rope_freqs.weight", c.headDim() / 2) : null;
        // llama.cpp's converter permutes llama Q/K rows for adjacent-pair RoPE; qwen2 keeps rotate-half (NeoX).
        Rope.Layout layout = c.arch() == Architecture.LLAMA ? Rope.Layout.ADJACENT : Rope.Layout.ROTATE_HALF;
        return new ModelWeights(c, embed, gpt2 ? b.matrix("position_embd.weight", c.maxPositions(), c.hidden()) : null, layers,
                b.vec("output_norm.weight", c.hidden()), gpt2 ? b.vec("output_norm.bias", c.hidden()) : null, out, gpt2 ? null : layout, ropeFreqs);
    }

    /** Looks tensors up by name and checks their shapes, naming what is wrong (transpose false: check Conv1D weights only). */
    private record Binder(Map<String, Tensor> tensors, ModelConfig config, boolean transpose) {
        Tensor get(String name) {
            Tensor t = tensors.get(name);
            if (t == null) {
                throw new ModelFormatException("tensor " + name + " is missing (needed by a " + config.arch() + " model with " + config.layers() + " layers)");
            }
            return t;
        }

        Tensor matrix(String name, long rows, long cols) {
            Tensor t = get(name);
            if (!Arrays.equals(t.shape(), new long[] {rows, cols})) {
                throw new ModelFormatException("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", the config implies [" + rows + ", " + cols + "]");
            }
            if (cols % t.dtype().blockSize != 0) {
                throw new ModelFormatException("tensor " + name + ": rows of " + cols + " are not whole " + t.dtype() + " blocks");
            }
            return t;
        }

        float[] vec(String name, long n) {
            Tensor t = get(name);
            if (Tensor.numel(t.shape()) != n) {
                throw new ModelFormatException("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", the config implies [" + n + "]");
            }
            return t.toFloatArray();
        }

        /** HF GPT-2 Conv1D weight stored [in, out]: returns a transposed F32 copy [out, in]. */
        Tensor conv1d(String name, int in, int out, Arena arena) {
            Tensor t = get(name);
            if (!Arrays.equals(t.shape(), new long[] {in, out})) {
                throw new ModelFormatException("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", GPT-2's Conv1D implies [" + in + ", " + out + "]");
            }
            if (!transpose) {
                return t;
            }
            float[] src = t.toFloatArray();
            MemorySegment seg = arena.allocate((long) in * out * 4, 64);
            ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    seg.set(f32, ((long) o * in + i) * 4, src[i * out + o]);
                }
            }
            return new Tensor(name, DType.F32, new long[] {out, in}, seg);
        }
    }
}
