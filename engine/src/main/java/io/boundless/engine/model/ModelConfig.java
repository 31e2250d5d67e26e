package io.boundless.engine.model;

import io.boundless.engine.cpu.Rope;
import io.boundless.engine.format.Gguf;
import io.boundless.engine.format.ModelFormatException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's hyperparameters, from Hugging Face {@code config.json} or GGUF metadata.
 *
 * @param headDim        per-head dimension (hidden / heads unless the config says otherwise)
 * @param ropeScaling    Llama 3 frequency scaling, or null
 * @param slidingWindow  attention span in tokens for Mistral-style sliding windows, 0 for full attention
 * @param eosIds         end-of-sequence ids (Llama 3.1 lists several)
 */
public record ModelConfig(Architecture arch, int vocabSize, int hidden, int intermediate, int layers, int heads, int kvHeads,
        int headDim, float normEps, double ropeTheta, Rope.Llama3Scaling ropeScaling, int maxPositions, boolean tiedEmbeddings,
        boolean qkvBias, int slidingWindow, Integer bosId, List<Integer> eosIds) {

    public ModelConfig {
        if (hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocabSize <= 0 || headDim <= 0 || intermediate <= 0) {
            throw new IllegalArgumentException("model dimensions must be positive: " + this);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " attention heads are not a multiple of " + kvHeads + " key/value heads");
        }
        if (arch.isLlamaLike() && headDim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head dimension, not " + headDim);
        }
        eosIds = List.copyOf(eosIds);
    }

    public int qDim() {
        return heads * headDim;
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    /** Reads a Hugging Face config.json (already parsed). */
    public static ModelConfig fromHuggingFace(Map<String, Object> c, String where) {
        String type = str(c, "model_type", where);
        Architecture arch = switch (type) {
            case "llama" -> Architecture.LLAMA;
            case "mistral" -> Architecture.MISTRAL;
            case "qwen2" -> Architecture.QWEN2;
            case "gpt2" -> Architecture.GPT2;
            default -> throw new ModelFormatException(where + ": model_type " + type + " is not supported (llama, mistral, qwen2, gpt2)");
        };
        if (arch == Architecture.GPT2) {
            int hidden = integer(c, "n_embd", where);
            int heads = integer(c, "n_head", where);
            Object inner = c.get("n_inner");
            return new ModelConfig(arch, integer(c, "vocab_size", where), hidden, inner == null ? 4 * hidden : ((Number) inner).intValue(),
                    integer(c, "n_layer", where), heads, heads, hidden / heads, (float) number(c, "layer_norm_epsilon", 1e-5),
                    0, null, integer(c, "n_positions", where), true, true, 0, optInt(c, "bos_token_id"), ids(c.get("eos_token_id")));
        }
        int hidden = integer(c, "hidden_size", where);
        int heads = integer(c, "num_attention_heads", where);
        int kvHeads = c.get("num_key_value_heads") == null ? heads : integer(c, "num_key_value_heads", where);
        int headDim = c.get("head_dim") instanceof Number n ? n.intValue() : hidden / heads;
        Rope.Llama3Scaling scaling = null;
        // transformers 5 writes rope_parameters {rope_theta, rope_type, factor, ...}; earlier versions
        // rope_theta at the top and rope_scaling {rope_type or type, factor, ...}
        double theta = number(c, "rope_theta", 10000);
        Object ropeSpec = c.get("rope_scaling");
        if (c.get("rope_parameters") instanceof Map<?, ?> rp) {
            if (rp.get("rope_theta") instanceof Number t) {
                theta = t.doubleValue();
            }
            ropeSpec = rp;
        }
        if (ropeSpec instanceof Map<?, ?> rs) {
            Object kind = rs.get("rope_type") != null ? rs.get("rope_type") : rs.get("type");
            if ("llama3".equals(kind)) {
                scaling = new Rope.Llama3Scaling(((Number) rs.get("factor")).doubleValue(), ((Number) rs.get("low_freq_factor")).doubleValue(),
                        ((Number) rs.get("high_freq_factor")).doubleValue(), ((Number) rs.get("original_max_position_embeddings")).intValue());
            } else if (!"default".equals(kind)) {
                throw new ModelFormatException(where + ": RoPE type " + kind + " is not supported (default, llama3)");
            }
        }
        int window = 0;
        if (c.get("sliding_window") instanceof Number n && (arch == Architecture.MISTRAL || Boolean.TRUE.equals(c.get("use_sliding_window")))) {
            window = n.intValue();
        }
        boolean tied = Boolean.TRUE.equals(c.get("tie_word_embeddings"));
        boolean bias = arch == Architecture.QWEN2 || Boolean.TRUE.equals(c.get("attention_bias"));
        return new ModelConfig(arch, integer(c, "vocab_size", where), hidden, integer(c, "intermediate_size", where),
                integer(c, "num_hidden_layers", where), heads, kvHeads, headDim, (float) number(c, "rms_norm_eps", 1e-6),
                theta, scaling, integer(c, "max_position_embeddings", where), tied, bias, window,
                optInt(c, "bos_token_id"), ids(c.get("eos_token_id")));
    }

    /** Reads GGUF metadata ({@code general.architecture} llama, qwen2 or gpt2). */
    public static ModelConfig fromGguf(Gguf g) {
        Map<String, Object> m = g.metadata();
        String where = g.path().toString();
        String a = str(m, "general.architecture", where);
        Architecture arch = switch (a) {
            case "llama" -> Architecture.LLAMA;
            case "qwen2" -> Architecture.QWEN2;
            case "gpt2" -> Architecture.GPT2;
            default -> throw new ModelFormatException(where + ": architecture " + a + " is not supported (llama, qwen2, gpt2)");
        };
        int hidden = integer(m, a + ".embedding_length", where);
        int heads = integer(m, a + ".attention.head_count", where);
        int kvHeads = m.get(a + ".attention.head_count_kv") == null ? heads : integer(m, a + ".attention.head_count_kv", where);
        int vocab = m.get(a + ".vocab_size") instanceof Number n ? n.intValue()
                : m.get("tokenizer.ggml.tokens") instanceof List<?> l ? l.size()
                : Math.toIntExact(g.tensors().get("token_embd.weight").shape()[0]);
        int headDim = m.get(a + ".attention.key_length") instanceof Number n ? n.intValue() : hidden / heads;
        boolean tied = !g.tensors().containsKey("output.weight");
        float eps = (float) number(m, arch == Architecture.GPT2 ? a + ".attention.layer_norm_epsilon" : a + ".attention.layer_norm_rms_epsilon", 1e-5);
        List<Integer> eos = new ArrayList<>();
        if (m.get("tokenizer.ggml.eos_token_id") instanceof Number n) {
            eos.add(n.intValue());
        }
        Integer bos = m.get("tokenizer.ggml.bos_token_id") instanceof Number n ? n.intValue() : null;
        return new ModelConfig(arch, vocab, hidden, integer(m, a + ".feed_forward_length", where), integer(m, a + ".block_count", where),
                heads, kvHeads, headDim, eps, number(m, a + ".rope.freq_base", 10000), null, integer(m, a + ".context_length", where),
                tied, arch != Architecture.LLAMA || g.tensors().containsKey("blk.0.attn_q.bias"),
                m.get(a + ".attention.sliding_window") instanceof Number n ? n.intValue() : 0, bos, eos);
    }

    /** This config as a Hugging Face config.json object (for the model writer). */
    public Map<String, Object> toHuggingFace() {
        Map<String, Object> c = new LinkedHashMap<>();
        if (arch == Architecture.GPT2) {
            c.put("architectures", List.of("GPT2LMHeadModel"));
            c.put("model_type", "gpt2");
            c.put("vocab_size", (long) vocabSize);
            c.put("n_embd", (long) hidden);
            c.put("n_head", (long) heads);
            c.put("n_layer", (long) layers);
            c.put("n_inner", (long) intermediate);
            c.put("n_positions", (long) maxPositions);
            c.put("n_ctx", (long) maxPositions);
            c.put("layer_norm_epsilon", (double) normEps);
            c.put("activation_function", "gelu_new");
        } else {
            c.put("architectures", List.of(switch (arch) {
                case LLAMA -> "LlamaForCausalLM";
                case MISTRAL -> "MistralForCausalLM";
                default -> "Qwen2ForCausalLM";
            }));
            c.put("model_type", arch.name().toLowerCase());
            c.put("vocab_size", (long) vocabSize);
            c.put("hidden_size", (long) hidden);
            c.put("intermediate_size", (long) intermediate);
            c.put("num_hidden_layers", (long) layers);
            c.put("num_attention_heads", (long) heads);
            c.put("num_key_value_heads", (long) kvHeads);
            c.put("head_dim", (long) headDim);
            c.put("rms_norm_eps", (double) normEps);
            c.put("rope_theta", ropeTheta);
            c.put("max_position_embeddings", (long) maxPositions);
            c.put("tie_word_embeddings", tiedEmbeddings);
            c.put("hidden_act", "silu");
            if (ropeScaling != null) {
                Map<String, Object> rs = new LinkedHashMap<>();
                rs.put("rope_type", "llama3");
                rs.put("factor", ropeScaling.factor());
                rs.put("low_freq_factor", ropeScaling.lowFreqFactor());
                rs.put("high_freq_factor", ropeScaling.highFreqFactor());
                rs.put("original_max_position_embeddings", (long) ropeScaling.originalMaxPositions());
                c.put("rope_scaling", rs);
            }
            if (slidingWindow > 0) {
                c.put("sliding_window", (long) slidingWindow);
            }
        }
        c.put("torch_dtype", "float32");
        if (bosId != null) {
            c.put("bos_token_id", (long) bosId);
        }
        if (eosIds.size() == 1) {
            c.put("eos_token_id", (long) eosIds.getFirst());
        } else if (!eosIds.isEmpty()) {
            c.put("eos_token_id", eosIds.stream().map(Integer::longValue).toList());
        }
        return c;
    }

    private static String str(Map<String, Object> c, String key, String where) {
        if (!(c.get(key) instanceof String s)) {
            throw new ModelFormatException(where + ": " + key + " is missing or not a string");
        }
        return s;
    }

    private static int integer(Map<String, Object> c, String key, String where) {
        if (!(c.get(key) instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.longValue() <= 0 || n.longValue() > Integer.MAX_VALUE) {
            throw new ModelFormatException(where + ": " + key + " is missing or not a positive integer (" + c.get(key) + ")");
        }
        return n.intValue();
    }

    private static double number(Map<String, Object> c, String key, double fallback) {
        return c.get(key) instanceof Number n ? n.doubleValue() : fallback;
    }

    private static Integer optInt(Map<String, Object> c, String key) {
        return c.get(key) instanceof Number n ? n.intValue() : null;
    }

    private static List<Integer> ids(Object v) {
        List<Integer> out = new ArrayList<>();
        if (v instanceof Number n) {
            out.add(n.intValue());
        } else if (v instanceof List<?> l) {
            l.forEach(x -> out.add(((Number) x).intValue()));
        }
        return out;
    }
}
