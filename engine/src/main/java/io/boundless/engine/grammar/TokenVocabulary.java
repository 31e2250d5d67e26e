package io.boundless.engine.grammar;

import io.boundless.engine.format.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The bytes each token id stands for in generated text, as constrained decoding sees the vocabulary:
 * byte-level BPE (GPT-2's byte-to-character table), or SentencePiece pieces ({@code ▁} for a space,
 * {@code <0xNN>} byte-fallback pieces). Special and control tokens have no bytes: they are never text,
 * so a grammar never allows them (EOS and stop tokens are the engine's to allow once the text is complete).
 */
public final class TokenVocabulary {
    /** How a model's token strings map to bytes. */
    public enum Kind { BYTE_LEVEL, SENTENCEPIECE }

    private final byte[][] bytes;

    public TokenVocabulary(byte[][] bytes) {
        this.bytes = bytes;
    }

    public int size() {
        return bytes.length;
    }

    /** The token's bytes, or null for a special token. */
    public byte[] bytes(int id) {
        return id >= 0 && id < bytes.length ? bytes[id] : null;
    }

    /** Whether every single byte has a token of its own (then every valid text can be spelled, one byte at a time). */
    public boolean spellsEveryByte() {
        boolean[] seen = new boolean[256];
        for (byte[] b : bytes) {
            if (b != null && b.length == 1) {
                seen[b[0] & 0xFF] = true;
            }
        }
        for (int c = 0x20; c < 0x7F; c++) {
            if (!seen[c]) {
                return false;
            }
        }
        return true;
    }

    /** Reads a Hugging Face tokenizer.json; ids at or past {@code vocabSize} are ignored, ids missing below it have no bytes. */
    public static TokenVocabulary fromTokenizerJson(Path file, int vocabSize) throws IOException {
        return fromTokenizerJson(Files.readString(file), vocabSize);
    }

    public static TokenVocabulary fromTokenizerJson(String json, int vocabSize) {
        Object parsed;
        try {
            parsed = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new GrammarException("tokenizer.json is not valid JSON: " + e.getMessage());
        }
        if (!(parsed instanceof Map<?, ?> root)) {
            throw new GrammarException("tokenizer.json is not a JSON object");
        }
        if (!(root.get("model") instanceof Map<?, ?> model)) {
            throw new GrammarException("tokenizer.json has no model");
        }
        Kind kind = kindOf(root, model);
        String[] pieces = new String[vocabSize];
        Object vocab = model.get("vocab");
        if (vocab instanceof Map<?, ?> m) {
            for (var e : m.entrySet()) {
                if (!(e.getValue() instanceof Number id)) {
                    throw new GrammarException("tokenizer.json's vocab gives '" + e.getKey() + "' the id " + e.getValue() + ", not a number");
                }
                put(pieces, id, String.valueOf(e.getKey()));
            }
        } else if (vocab instanceof List<?> l) { // Unigram: [[piece, score], ...]
            for (int id = 0; id < l.size(); id++) {
                if (!(l.get(id) instanceof List<?> entry) || entry.isEmpty() || !(entry.getFirst() instanceof String piece)) {
                    throw new GrammarException("tokenizer.json's vocab entry " + id + " is not [piece, score]");
                }
                put(pieces, id, piece);
            }
        } else {
            throw new GrammarException("tokenizer.json's model has no vocab");
        }
        byte[][] bytes = new byte[vocabSize][];
        for (int id = 0; id < vocabSize; id++) {
            if (pieces[id] != null) {
                bytes[id] = decode(pieces[id], kind);
            }
        }
        if (root.get("added_tokens") instanceof List<?> added) {
            for (Object o : added) {
                if (!(o instanceof Map<?, ?> t) || !(t.get("id") instanceof Number n) || !(t.get("content") instanceof String content)) {
                    throw new GrammarException("tokenizer.json's added_tokens holds " + Json.write(o) + ", not a token with an id and content");
                }
                long id = n.longValue();
                if (id < 0 || id >= vocabSize) {
                    continue;
                }
                boolean special = Boolean.TRUE.equals(t.get("special"));
                bytes[(int) id] = special ? null : content.getBytes(StandardCharsets.UTF_8);
            }
        }
        return new TokenVocabulary(bytes);
    }

    /**
     * From a GGUF file's {@code tokenizer.ggml.*} metadata: the token strings, their types (1 normal, 2 unknown,
     * 3 control, 4 user-defined, 5 unused, 6 byte) and the model ("gpt2": byte-level; "llama": SentencePiece).
     */
    public static TokenVocabulary fromGguf(String model, List<String> tokens, List<Integer> types, int vocabSize) {
        Kind kind = switch (model) {
            case "gpt2" -> Kind.BYTE_LEVEL;
            case "llama" -> Kind.SENTENCEPIECE;
            default -> throw new GrammarException("constrained decoding does not know GGUF tokenizer model '" + model + "'");
        };
        byte[][] bytes = new byte[vocabSize][];
        for (int id = 0; id < Math.min(vocabSize, tokens.size()); id++) {
            int type = types == null || id >= types.size() ? 1 : types.get(id);
            if (type == 3 || type == 5 || type == 2) {
                continue;
            }
            bytes[id] = type == 4 ? tokens.get(id).getBytes(StandardCharsets.UTF_8) : decode(tokens.get(id), kind);
        }
        return new TokenVocabulary(bytes);
    }

    /**
     * A served model's vocabulary: tokenizer.json in a Hugging Face directory, or a GGUF file's tokenizer
     * metadata. Empty when the model has neither (structured outputs are then refused with that reason).
     */
    public static java.util.Optional<TokenVocabulary> forModel(Path path, int vocabSize) throws IOException {
        if (Files.isDirectory(path)) {
            Path json = path.resolve("tokenizer.json");
            return Files.isRegularFile(json) ? java.util.Optional.of(fromTokenizerJson(json, vocabSize)) : java.util.Optional.empty();
        }
        try (io.boundless.engine.format.Gguf g = io.boundless.engine.format.Gguf.open(path)) {
            Map<String, Object> meta = g.metadata();
            if (!(meta.get("tokenizer.ggml.tokens") instanceof List<?> tokens) || !(meta.get("tokenizer.ggml.model") instanceof String model)) {
                return java.util.Optional.empty();
            }
            List<Integer> types = meta.get("tokenizer.ggml.token_type") instanceof List<?> t
                    ? t.stream().map(x -> ((Number) x).intValue()).toList() : null;
            return java.util.Optional.of(fromGguf(model, tokens.stream().map(String::valueOf).toList(), types, vocabSize));
        }
    }

    private static void put(String[] pieces, Number n, String piece) {
        long id = n.longValue();
        if (id >= 0 && id < pieces.length) {
            pieces[(int) id] = piece;
        }
    }

    private static Kind kindOf(Map<?, ?> root, Map<?, ?> model) {
        String all = Json.write(root.get("decoder")) + Json.write(root.get("pre_tokenizer"));
        if (all.contains("\"ByteLevel\"")) {
            return Kind.BYTE_LEVEL;
        }
        if (all.contains("ByteFallback") || all.contains("Metaspace") || all.contains("\u2581") || Boolean.TRUE.equals(model.get("byte_fallback"))
                || "Unigram".equals(model.get("type"))) {
            return Kind.SENTENCEPIECE;
        }
        throw new GrammarException("constrained decoding needs a byte-level BPE or SentencePiece vocabulary; this tokenizer's decoder is "
                + Json.write(root.get("decoder")));
    }

    private static final int[] BYTE_OF_CHAR = new int[512];

    static {
        // GPT-2's bytes_to_unicode, inverted: the character each byte stands for in byte-level token strings
        java.util.Arrays.fill(BYTE_OF_CHAR, -1);
        char[] alphabet = io.boundless.engine.model.ModelWriter.byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            BYTE_OF_CHAR[alphabet[b]] = b;
        }
    }

    static byte[] decode(String piece, Kind kind) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(piece.length());
        if (kind == Kind.BYTE_LEVEL) {
            for (int k = 0; k < piece.length(); k++) {
                char c = piece.charAt(k);
                int b = c < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[c] : -1;
                if (b < 0) { // not a byte-level character: an added token's own text
                    return piece.getBytes(StandardCharsets.UTF_8);
                }
                out.write(b);
            }
            return out.toByteArray();
        }
        if (piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(piece.substring(3, 5), 16)};
            } catch (NumberFormatException e) {
                // an ordinary piece that looks like one
            }
        }
        return piece.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
    }
}
