package io.boundless.train;

import io.boundless.engine.format.Json;
import io.boundless.engine.model.ModelWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A byte-level BPE tokenizer: trained from text, encoding as Hugging Face's BPE model does, and
 * written as {@code tokenizer.json} + {@code tokenizer_config.json} that the tokenizers library (and
 * so transformers and our tokenizer service) loads. Pre-tokenization is Llama 3's split with single
 * digits (so that numbers are spelled digit by digit, which arithmetic needs), then GPT-2's byte-to-
 * character map. Ids: the 256 bytes first, then the merges in order, then the special tokens.
 */
public final class Bpe {
    /** Llama 3's pre-tokenizer pattern, with \p{N} instead of \p{N}{1,3}. */
    public static final String SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final Pattern SPLIT_PATTERN = Pattern.compile(SPLIT);
    private static final char[] BYTE_CHARS = ModelWriter.byteLevelAlphabet();

    /** The chat template: roles as special tokens, each turn closed by <|end|>. */
    public static final String CHAT_TEMPLATE = "{%- for message in messages %}"
            + "{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
            + "{{- raise_exception('roles are system, user and assistant, not ' + message['role']) }}{%- endif %}"
            + "{{- '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
            + "{%- endfor %}"
            + "{%- if add_generation_prompt %}{{- '<|assistant|>' }}{%- endif %}";

    private final List<String> vocab;            // id -> token (byte-level characters)
    private final Map<String, Integer> ids;      // token -> id
    private final Map<Long, Integer> mergeRank;  // (left id, right id) -> rank
    private final List<int[]> merges;            // rank -> (left, right)
    private final List<String> specials;         // in id order, after the vocabulary
    private final Map<String, int[]> cache = new HashMap<>();

    private Bpe(List<String> vocab, List<int[]> merges, List<String> specials) {
        this.vocab = vocab;
        this.merges = merges;
        this.specials = specials;
        this.ids = new HashMap<>();
        for (int i = 0; i < vocab.size(); i++) {
            ids.putIfAbsent(vocab.get(i), i);
        }
        this.mergeRank = new HashMap<>();
        for (int r = 0; r < merges.size(); r++) {
            mergeRank.put(key(merges.get(r)[0], merges.get(r)[1]), r);
        }
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xffffffffL);
    }

    /**
     * Trains on texts until the vocabulary (bytes + merges) has vocabSize - specials.size() tokens or
     * no pair occurs twice. Deterministic: the most frequent pair wins, ties go to the smaller (left,
     * right) ids.
     */
    public static Bpe train(Iterable<String> texts, int vocabSize, List<String> specials, java.util.function.IntConsumer progress) {
        Map<String, Integer> words = new TreeMap<>();
        for (String t : texts) {
            for (String w : pretokenize(t)) {
                words.merge(w, 1, Integer::sum);
            }
        }
        List<String> vocab = new ArrayList<>();
        Map<String, Integer> index = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.add(String.valueOf(BYTE_CHARS[b]));
            index.put(vocab.get(b), b);
        }
        List<int[]> seqs = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : words.entrySet()) {
            String w = e.getKey();
            int[] s = new int[w.length()];
            for (int i = 0; i < w.length(); i++) {
                s[i] = index.get(String.valueOf(w.charAt(i)));
            }
            seqs.add(s);
            counts.add(e.getValue());
        }
        List<int[]> merges = new ArrayList<>();
        int target = vocabSize - specials.size();
        while (vocab.size() < target) {
            Map<Long, Long> pairs = new HashMap<>();
            for (int i = 0; i < seqs.size(); i++) {
                int[] s = seqs.get(i);
                for (int j = 0; j + 1 < s.length; j++) {
                    pairs.merge(key(s[j], s[j + 1]), (long) counts.get(i), Long::sum);
                }
            }
            long best = -1;
            long bestCount = 1;  // a pair must occur at least twice
            for (Map.Entry<Long, Long> e : pairs.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && best != -1 && e.getKey() < best)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == -1) {
                break;
            }
            int a = (int) (best >>> 32);
            int b = (int) best;
            String merged = vocab.get(a) + vocab.get(b);
            Integer id = index.get(merged);
            if (id == null) {
                id = vocab.size();
                vocab.add(merged);
                index.put(merged, id);
            }
            merges.add(new int[] {a, b});
            for (int i = 0; i < seqs.size(); i++) {
                seqs.set(i, apply(seqs.get(i), a, b, id));
            }
            if (progress != null) {
                progress.accept(vocab.size());
            }
        }
        return new Bpe(vocab, merges, List.copyOf(specials));
    }

    private static int[] apply(int[] s, int a, int b, int id) {
        int n = 0;
        int[] out = null;
        for (int j = 0; j < s.length; j++) {
            if (j + 1 < s.length && s[j] == a && s[j + 1] == b) {
                if (out == null) {
                    out = new int[s.length];
                    System.arraycopy(s, 0, out, 0, j);
                    n = j;
                }
                out[n++] = id;
                j++;
            } else if (out != null) {
                out[n++] = s[j];
            }
        }
        return out == null ? s : java.util.Arrays.copyOf(out, n);
    }

    /** The pre-tokens of text as byte-level strings. */
    static List<String> pretokenize(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = SPLIT_PATTERN.matcher(text);
        while (m.find()) {
            byte[] bytes = m.group().getBytes(StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder(bytes.length);
            for (byte x : bytes) {
                sb.append(BYTE_CHARS[x & 0xff]);
            }
            out.add(sb.toString());
        }
        return out;
    }

    /** Ids of text (no special tokens are recognized in it). */
    public int[] encode(String text) {
        List<int[]> parts = new ArrayList<>();
        for (String w : pretokenize(text)) {
            parts.add(cache.computeIfAbsent(w, this::encodeWord));
        }
        return concat(parts);
    }

    /** The id arrays one after another. */
    static int[] concat(List<int[]> parts) {
        int n = 0;
        for (int[] p : parts) {
            n += p.length;
        }
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private int[] encodeWord(String w) {
        int[] s = new int[w.length()];
        for (int i = 0; i < w.length(); i++) {
            s[i] = ids.get(String.valueOf(w.charAt(i)));
        }
        while (s.length > 1) {
            int bestRank = Integer.MAX_VALUE;
            for (int j = 0; j + 1 < s.length; j++) {
                Integer r = mergeRank.get(key(s[j], s[j + 1]));
                if (r != null && r < bestRank) {
                    bestRank = r;
                }
            }
            if (bestRank == Integer.MAX_VALUE) {
                break;
            }
            int[] m = merges.get(bestRank);
            s = apply(s, m[0], m[1], ids.get(vocab.get(m[0]) + vocab.get(m[1])));
        }
        return s;
    }

    /** Text of ids (special tokens written out). */
    public String decode(int[] tokens) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int t : tokens) {
            if (t >= vocab.size()) {
                bytes.writeBytes(specials.get(t - vocab.size()).getBytes(StandardCharsets.UTF_8));
                continue;
            }
            for (char ch : vocab.get(t).toCharArray()) {
                bytes.write(byteOf(ch));
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static final Map<Character, Integer> BYTE_OF = new HashMap<>();

    static {
        for (int b = 0; b < 256; b++) {
            BYTE_OF.put(BYTE_CHARS[b], b);
        }
    }

    private static int byteOf(char ch) {
        Integer b = BYTE_OF.get(ch);
        if (b == null) {
            throw new IllegalArgumentException("not a byte-level character: " + ch);
        }
        return b;
    }

    /** The id of a special token. */
    public int special(String token) {
        int i = specials.indexOf(token);
        if (i < 0) {
            throw new IllegalArgumentException("no special token " + token);
        }
        return vocab.size() + i;
    }

    /** Tokens in all, special tokens included. */
    public int size() {
        return vocab.size() + specials.size();
    }

    public int merges() {
        return merges.size();
    }

    /** Writes tokenizer.json and tokenizer_config.json into dir. */
    public void write(Path dir, String eos, String pad, int maxLength) throws IOException {
        Files.createDirectories(dir);
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        List<Object> added = new ArrayList<>();
        for (String s : specials) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", (long) special(s));
            t.put("content", s);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            added.add(t);
        }
        root.put("added_tokens", added);
        root.put("normalizer", null);
        Map<String, Object> split = new LinkedHashMap<>();
        split.put("type", "Split");
        split.put("pattern", Map.of("Regex", SPLIT));
        split.put("behavior", "Isolated");
        split.put("invert", false);
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", false);
        root.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(split, byteLevel)));
        root.put("post_processor", null);
        Map<String, Object> decoder = new LinkedHashMap<>();
        decoder.put("type", "ByteLevel");
        decoder.put("add_prefix_space", true);
        decoder.put("trim_offsets", true);
        decoder.put("use_regex", true);
        root.put("decoder", decoder);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        Map<String, Object> v = new LinkedHashMap<>();
        for (int i = 0; i < vocab.size(); i++) {
            v.putIfAbsent(vocab.get(i), (long) i);
        }
        model.put("vocab", v);
        List<Object> m = new ArrayList<>();
        for (int[] x : merges) {
            m.add(vocab.get(x[0]) + " " + vocab.get(x[1]));
        }
        model.put("merges", m);
        root.put("model", model);
        Files.writeString(dir.resolve("tokenizer.json"), Json.write(root));

        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
        cfg.put("bos_token", null);
        cfg.put("eos_token", eos);
        cfg.put("pad_token", pad);
        cfg.put("add_bos_token", false);
        cfg.put("add_eos_token", false);
        cfg.put("clean_up_tokenization_spaces", false);
        cfg.put("model_max_length", (long) maxLength);
        Map<String, Object> dec = new LinkedHashMap<>();
        for (String s : specials) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("content", s);
            t.put("lstrip", false);
            t.put("normalized", false);
            t.put("rstrip", false);
            t.put("single_word", false);
            t.put("special", true);
            dec.put(String.valueOf(special(s)), t);
        }
        cfg.put("added_tokens_decoder", dec);
        cfg.put("chat_template", CHAT_TEMPLATE);
        Files.writeString(dir.resolve("tokenizer_config.json"), Json.write(cfg));
    }

    /** Reads a tokenizer.json this class wrote (to resume a run with the same ids). */
    @SuppressWarnings("unchecked")
    public static Bpe read(Path tokenizerJson) throws IOException {
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(tokenizerJson));
        Map<String, Object> model = (Map<String, Object>) root.get("model");
        Map<String, Object> v = (Map<String, Object>) model.get("vocab");
        String[] vocab = new String[v.size()];
        v.forEach((tok, id) -> vocab[((Number) id).intValue()] = tok);
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < vocab.length; i++) {
            index.put(vocab[i], i);
        }
        List<int[]> merges = new ArrayList<>();
        for (Object m : (List<Object>) model.get("merges")) {
            String[] ab = ((String) m).split(" ", 2);
            merges.add(new int[] {index.get(ab[0]), index.get(ab[1])});
        }
        List<String> specials = new ArrayList<>();
        for (Object t : (List<Object>) root.get("added_tokens")) {
            specials.add((String) ((Map<String, Object>) t).get("content"));
        }
        return new Bpe(new ArrayList<>(List.of(vocab)), merges, specials);
    }
}
