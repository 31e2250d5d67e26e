package io.boundless.engine.format;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file's tokenizer ({@code tokenizer.ggml.*} and {@code tokenizer.chat_template}) as the Hugging Face
 * files a tokenizer service loads: {@code tokenizer.json} and {@code tokenizer_config.json}.
 *
 * <ul>
 *   <li>{@code gpt2} (byte-level BPE): the tokens and merges as they are, and the pre-tokenizer that
 *       {@code tokenizer.ggml.pre} names (see {@link #PRE_TOKENIZERS}; another name is refused with the known ones);
 *   <li>{@code llama} (SentencePiece BPE with byte fallback): the merges rebuilt from the pieces' scores (a pair
 *       merges at the score of the piece it makes), {@code ▁} for spaces and a prefix space unless
 *       {@code tokenizer.ggml.add_space_prefix} is false;
 *   <li>control tokens (type 3) and the unknown token are special added tokens, user-defined ones (type 4) plain
 *       added tokens; {@code add_bos_token} becomes a post-processor that prepends BOS.
 * </ul>
 */
public final class GgufTokenizer {
    /** The two files' contents. */
    public record Files(String tokenizerJson, String tokenizerConfigJson) {}

    /**
     * Pre-tokenizers by {@code tokenizer.ggml.pre}: Split regexes (the original tokenizers' own, as their
     * tokenizer.json files give them), or GPT-2's byte-level regex.
     */
    static final Map<String, String> PRE_TOKENIZERS = Map.of(
            "llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            "qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            "gpt-2", "",
            "mpt", "",
            "gpt-neox", "",
            "starcoder", "digits",
            "refact", "digits");

    private GgufTokenizer() {}

    /** The pre-tokenizers this converter knows, by llama.cpp's names (a regex, "" for GPT-2's, "digits" for digits then GPT-2's). */
    public static Map<String, String> preTokenizers() {
        return PRE_TOKENIZERS;
    }

    /** Converts a file's metadata; a tokenizer it cannot reproduce is a ModelFormatException saying why. */
    public static Files convert(Map<String, Object> meta) {
        String model = String.valueOf(meta.get("tokenizer.ggml.model"));
        if (!(meta.get("tokenizer.ggml.tokens") instanceof List<?> rawTokens)) {
            throw new ModelFormatException("the GGUF file has no tokenizer (no tokenizer.ggml.tokens)");
        }
        List<String> tokens = rawTokens.stream().map(String::valueOf).toList();
        List<Integer> types = null;
        if (meta.get("tokenizer.ggml.token_type") instanceof List<?> t) {
            types = new ArrayList<>(t.size());
            for (Object x : t) {
                if (!(x instanceof Number n)) {
                    throw new ModelFormatException("tokenizer.ggml.token_type holds " + x + ", not a number");
                }
                types.add(n.intValue());
            }
        }
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("version", "1.0");
        json.put("truncation", null);
        json.put("padding", null);
        List<Object> added = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            int type = type(types, id);
            if (type == 3 || type == 4 || type == 2) {
                Map<String, Object> a = new LinkedHashMap<>();
                a.put("id", id);
                a.put("content", tokens.get(id));
                a.put("single_word", false);
                a.put("lstrip", false);
                a.put("rstrip", false);
                a.put("normalized", false);
                a.put("special", type != 4);
                added.add(a);
            }
        }
        json.put("added_tokens", added);
        Integer bos = id(meta, "tokenizer.ggml.bos_token_id");
        Integer eos = id(meta, "tokenizer.ggml.eos_token_id");
        Integer unk = id(meta, "tokenizer.ggml.unknown_token_id");
        boolean addBos = Boolean.TRUE.equals(meta.get("tokenizer.ggml.add_bos_token"));
        switch (model) {
            case "gpt2" -> byteLevel(json, meta, tokens);
            case "llama" -> sentencePiece(json, meta, tokens, types, unk);
            default -> throw new ModelFormatException("GGUF tokenizer model '" + model + "' is not supported (supported: gpt2, the byte-level"
                    + " BPE of GPT-2, Llama 3, Qwen; llama, the SentencePiece BPE of Llama 2, Mistral, Phi-3)");
        }
        if (addBos && bos != null && bos < tokens.size()) {
            Map<String, Object> single = Map.of("SpecialToken", Map.of("id", tokens.get(bos), "type_id", 0));
            Map<String, Object> a = Map.of("Sequence", Map.of("id", "A", "type_id", 0));
            Map<String, Object> b = Map.of("Sequence", Map.of("id", "B", "type_id", 1));
            Map<String, Object> pp = new LinkedHashMap<>();
            pp.put("type", "TemplateProcessing");
            pp.put("single", List.of(single, a));
            pp.put("pair", List.of(single, a, single, b));
            pp.put("special_tokens", Map.of(tokens.get(bos), Map.of("id", tokens.get(bos), "ids", List.of(bos), "tokens", List.of(tokens.get(bos)))));
            json.put("post_processor", pp);
        }
        Map<String, Object> config = new LinkedHashMap<>();
        if (bos != null && bos < tokens.size()) {
            config.put("bos_token", tokens.get(bos));
        }
        if (eos != null && eos < tokens.size()) {
            config.put("eos_token", tokens.get(eos));
        }
        if (unk != null && unk < tokens.size()) {
            config.put("unk_token", tokens.get(unk));
        }
        config.put("add_bos_token", addBos);
        if (meta.get("tokenizer.chat_template") instanceof String tpl) {
            config.put("chat_template", tpl);
        }
        config.put("tokenizer_class", "PreTrainedTokenizerFast");
        return new Files(Json.write(json), Json.write(config));
    }

    private static int type(List<Integer> types, int id) {
        return types == null || id >= types.size() ? 1 : types.get(id);
    }

    /** A token id from the metadata; null when absent or out of range (a uint32 past int's range, or negative). */
    private static Integer id(Map<String, Object> meta, String key) {
        return meta.get(key) instanceof Number n && n.longValue() >= 0 && n.longValue() <= Integer.MAX_VALUE ? n.intValue() : null;
    }

    private static void byteLevel(Map<String, Object> json, Map<String, Object> meta, List<String> tokens) {
        String pre = meta.get("tokenizer.ggml.pre") instanceof String p ? p : "gpt-2";
        String regex = PRE_TOKENIZERS.get(pre);
        if (regex == null) {
            throw new ModelFormatException("GGUF pre-tokenizer '" + pre + "' is not supported (supported: " + String.join(", ",
                    new java.util.TreeSet<>(PRE_TOKENIZERS.keySet())) + ")");
        }
        if (!(meta.get("tokenizer.ggml.merges") instanceof List<?> merges)) {
            throw new ModelFormatException("a GGUF byte-level BPE tokenizer needs tokenizer.ggml.merges");
        }
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", regex.isEmpty() || regex.equals("digits"));
        Object preTokenizer;
        if (regex.isEmpty()) {
            preTokenizer = byteLevel;
        } else if (regex.equals("digits")) {
            preTokenizer = Map.of("type", "Sequence", "pretokenizers", List.of(Map.of("type", "Digits", "individual_digits", true), byteLevel));
        } else {
            Map<String, Object> split = new LinkedHashMap<>();
            split.put("type", "Split");
            split.put("pattern", Map.of("Regex", regex));
            split.put("behavior", "Isolated");
            split.put("invert", false);
            preTokenizer = Map.of("type", "Sequence", "pretokenizers", List.of(split, byteLevel));
        }
        json.put("normalizer", pre.equals("qwen2") ? Map.of("type", "NFC") : null);
        json.put("pre_tokenizer", preTokenizer);
        json.put("post_processor", null);
        json.put("decoder", Map.of("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", true, "use_regex", true));
        Map<String, Object> m = bpe(tokens, merges.stream().map(String::valueOf).toList());
        m.put("ignore_merges", pre.equals("llama-bpe")); // Llama 3 takes a word that is a token whole
        json.put("model", m);
    }

    private static Map<String, Object> bpe(List<String> tokens, List<String> merges) {
        Map<String, Object> vocab = new LinkedHashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            vocab.putIfAbsent(tokens.get(id), id);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "BPE");
        m.put("dropout", null);
        m.put("unk_token", null);
        m.put("continuing_subword_prefix", null);
        m.put("end_of_word_suffix", null);
        m.put("fuse_unk", false);
        m.put("byte_fallback", false);
        m.put("ignore_merges", false);
        m.put("vocab", vocab);
        m.put("merges", merges);
        return m;
    }

    private static void sentencePiece(Map<String, Object> json, Map<String, Object> meta, List<String> tokens, List<Integer> types, Integer unk) {
        if (!(meta.get("tokenizer.ggml.scores") instanceof List<?> rawScores) || rawScores.size() != tokens.size()) {
            throw new ModelFormatException("a GGUF SentencePiece tokenizer needs one tokenizer.ggml.scores per token");
        }
        List<Float> scores = rawScores.stream().map(x -> ((Number) x).floatValue()).toList();
        boolean prefix = !Boolean.FALSE.equals(meta.get("tokenizer.ggml.add_space_prefix"));
        List<Object> normalizers = new ArrayList<>();
        if (prefix) {
            normalizers.add(Map.of("type", "Prepend", "prepend", "\u2581"));
        }
        normalizers.add(Map.of("type", "Replace", "pattern", Map.of("String", " "), "content", "\u2581"));
        json.put("normalizer", Map.of("type", "Sequence", "normalizers", normalizers));
        json.put("pre_tokenizer", null);
        json.put("post_processor", null);
        List<Object> decoders = new ArrayList<>(List.of(Map.of("type", "Replace", "pattern", Map.of("String", "\u2581"), "content", " "),
                Map.of("type", "ByteFallback"), Map.of("type", "Fuse")));
        if (prefix) {
            decoders.add(Map.of("type", "Strip", "content", " ", "start", 1, "stop", 0));
        }
        json.put("decoder", Map.of("type", "Sequence", "decoders", decoders));
        // merges: every split of a normal piece into two pieces, ranked by the piece's score (highest first)
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            ids.putIfAbsent(tokens.get(id), id);
        }
        record Merge(String left, String right, float score, int leftId, int rightId) {}
        List<Merge> merges = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            if (type(types, id) != 1) {
                continue;
            }
            String piece = tokens.get(id);
            int[] cps = piece.codePoints().toArray();
            for (int k = 1; k < cps.length; k++) {
                String l = new String(cps, 0, k);
                String r = new String(cps, k, cps.length - k);
                Integer li = ids.get(l);
                Integer ri = ids.get(r);
                if (li != null && ri != null && type(types, li) == 1 && type(types, ri) == 1) {
                    merges.add(new Merge(l, r, scores.get(id), li, ri));
                }
            }
        }
        merges.sort((a, b) -> a.score() != b.score() ? Float.compare(b.score(), a.score())
                : a.leftId() != b.leftId() ? Integer.compare(a.leftId(), b.leftId()) : Integer.compare(a.rightId(), b.rightId()));
        Map<String, Object> m = bpe(tokens, merges.stream().map(x -> x.left() + " " + x.right()).toList());
        m.put("unk_token", unk != null && unk < tokens.size() ? tokens.get(unk) : "<unk>");
        m.put("fuse_unk", true);
        m.put("byte_fallback", true);
        json.put("model", m);
    }
}
