package io.boundless.tokenizer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A pure-Java encoder for the {@code tokenizer.json} configurations that BPE models use — the Llama 3,
 * Qwen 2/3, GPT-2 family (byte-level BPE with a regex pre-tokenizer) and the Llama 2 / Mistral family
 * (SentencePiece-style BPE with byte fallback). It reproduces Hugging Face tokenizers' ids exactly
 * (tested against the Rust library on the corpus and on random text) and is several times faster than
 * calling Rust through JNI, which copies every token string back to Java.
 *
 * <p>{@link #create} returns null, with the reason, for anything outside the supported subset; the
 * tokenizer then stays on the Rust library for everything.
 */
final class BpeEncoder {
    /** The GPT-2 pattern that ByteLevel's use_regex applies. */
    private static final String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Most words kept in the word cache (HF's Rust BPE keeps 10,000); 0 turns the cache off, for benchmarks. */
    private static final int CACHE_LIMIT = Integer.getInteger("boundless.tokenizer.bpe-word-cache", 200_000);
    private static final int CACHED_WORD_MAX_CHARS = 64;

    private sealed interface NormalizerStep {}
    private record Nfc(Normalizer.Form form) implements NormalizerStep {}
    private record Prepend(String prefix) implements NormalizerStep {}
    private record Replace(String pattern, String content) implements NormalizerStep {}
    private record Lowercase() implements NormalizerStep {}

    /** Reason creation failed, for the log. */
    record Unsupported(String reason) {}

    private final List<NormalizerStep> normalizer;
    private final List<Pattern> splits;       // Split(Isolated) pre-tokenizers, in order
    private final boolean byteLevel;          // ByteLevel pre-tokenizer: BPE runs on bytes
    private final boolean byteLevelPrefixSpace;
    private final AddedTokens added;
    private final Map<String, Integer> vocab;
    private final BpeMerges merges;
    private final int[] byteToId = new int[256];       // byte-level: id of each byte's character
    private final int[] byteFallbackId = new int[256]; // <0xHH> ids, -1 when absent
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final int unkId;
    private final boolean fuseUnk;
    private final int[] prefixIds;  // post-processor: ids before the sequence when add_special_tokens
    private final int[] suffixIds;  // and after it
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();
    private final ThreadLocal<BpeMerges.Scratch> scratch = ThreadLocal.withInitial(BpeMerges.Scratch::new);

    private BpeEncoder(List<NormalizerStep> normalizer, List<Pattern> splits, boolean byteLevel, boolean byteLevelPrefixSpace,
            AddedTokens added, Map<String, Integer> vocab, BpeMerges merges, boolean byteFallback, boolean ignoreMerges,
            int unkId, boolean fuseUnk, int[] prefixIds, int[] suffixIds) {
        this.normalizer = normalizer;
        this.splits = splits;
        this.byteLevel = byteLevel;
        this.byteLevelPrefixSpace = byteLevelPrefixSpace;
        this.added = added;
        this.vocab = vocab;
        this.merges = merges;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.prefixIds = prefixIds;
        this.suffixIds = suffixIds;
        char[] byteChars = byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            byteToId[b] = vocab.getOrDefault(String.valueOf(byteChars[b]), -1);
            byteFallbackId[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        }
    }

    /** Builds an encoder, or returns an {@link Unsupported} naming the first feature we do not cover. */
    static Object create(JsonNode root) {
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText())) {
            return new Unsupported("model type " + model.path("type").asText());
        }
        if (!model.path("dropout").isNull() && !model.path("dropout").isMissingNode()) {
            return new Unsupported("BPE dropout");
        }
        for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (!model.path(affix).isNull() && !model.path(affix).asText("").isEmpty()) {
                return new Unsupported("BPE " + affix);
            }
        }
        List<NormalizerStep> normalizer = new ArrayList<>();
        String why = normalizer(root.path("normalizer"), normalizer);
        if (why != null) {
            return new Unsupported(why);
        }
        List<Pattern> splits = new ArrayList<>();
        boolean[] byteLevel = new boolean[2]; // [byte level, add prefix space]
        why = preTokenizer(root.path("pre_tokenizer"), splits, byteLevel);
        if (why != null) {
            return new Unsupported(why);
        }
        List<int[]> pre = new ArrayList<>();
        List<int[]> post = new ArrayList<>();
        why = postProcessor(root.path("post_processor"), pre, post);
        if (why != null) {
            return new Unsupported(why);
        }
        Map<String, Integer> vocab = new HashMap<>();
        model.path("vocab").properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        JsonNode mergeList = model.path("merges");
        BpeMerges merges = new BpeMerges(mergeList.size());
        int rank = 0;
        for (JsonNode m : mergeList) {
            String a;
            String b;
            if (m.isArray()) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                String[] parts = m.asText().split(" ", -1); // HF requires exactly two parts
                if (parts.length != 2) {
                    return new Unsupported("merge line '" + m.asText() + "' is not two tokens");
                }
                a = parts[0];
                b = parts[1];
            }
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            Integer merged = vocab.get(a + b);
            if (ia == null || ib == null || merged == null) {
                return new Unsupported("merge " + a + " " + b + " names a token outside the vocabulary");
            }
            merges.put(ia, ib, rank++, merged);
        }
        List<String> addedContent = new ArrayList<>();
        List<Integer> addedIds = new ArrayList<>();
        for (JsonNode t : root.path("added_tokens")) {
            if (t.path("normalized").asBoolean() || t.path("lstrip").asBoolean() || t.path("rstrip").asBoolean()
                    || t.path("single_word").asBoolean()) {
                return new Unsupported("added token " + t.path("content").asText() + " with normalized/lstrip/rstrip/single_word");
            }
            addedContent.add(t.path("content").asText());
            addedIds.add(t.path("id").asInt());
        }
        String unk = model.path("unk_token").isTextual() ? model.path("unk_token").asText() : null;
        int unkId = unk != null && vocab.containsKey(unk) ? vocab.get(unk) : -1;
        return new BpeEncoder(normalizer, splits, byteLevel[0], byteLevel[1], new AddedTokens(addedContent, addedIds), vocab, merges,
                model.path("byte_fallback").asBoolean(false), model.path("ignore_merges").asBoolean(false), unkId,
                model.path("fuse_unk").asBoolean(false), concat(pre), concat(post));
    }

    private static String normalizer(JsonNode n, List<NormalizerStep> out) {
        if (n.isNull() || n.isMissingNode()) {
            return null;
        }
        switch (n.path("type").asText()) {
            case "Sequence" -> {
                for (JsonNode c : n.path("normalizers")) {
                    String why = normalizer(c, out);
                    if (why != null) {
                        return why;
                    }
                }
            }
            case "NFC" -> out.add(new Nfc(Normalizer.Form.NFC));
            case "NFD" -> out.add(new Nfc(Normalizer.Form.NFD));
            case "NFKC" -> out.add(new Nfc(Normalizer.Form.NFKC));
            case "NFKD" -> out.add(new Nfc(Normalizer.Form.NFKD));
            case "Lowercase" -> out.add(new Lowercase());
            case "Prepend" -> out.add(new Prepend(n.path("prepend").asText()));
            case "Replace" -> {
                if (!n.path("pattern").has("String")) {
                    return "Replace normalizer with a regex";
                }
                out.add(new Replace(n.path("pattern").path("String").asText(), n.path("content").asText()));
            }
            default -> {
                return "normalizer " + n.path("type").asText();
            }
        }
        return null;
    }

    private static String preTokenizer(JsonNode n, List<Pattern> splits, boolean[] byteLevel) {
        if (n.isNull() || n.isMissingNode()) {
            return null;
        }
        if (byteLevel[0]) {
            return "pre-tokenizer after ByteLevel";
        }
        switch (n.path("type").asText()) {
            case "Sequence" -> {
                for (JsonNode c : n.path("pretokenizers")) {
                    String why = preTokenizer(c, splits, byteLevel);
                    if (why != null) {
                        return why;
                    }
                }
            }
            case "Split" -> {
                if (!"Isolated".equals(n.path("behavior").asText()) || n.path("invert").asBoolean()) {
                    return "Split pre-tokenizer with behavior " + n.path("behavior").asText();
                }
                String regex = n.path("pattern").has("Regex") ? n.path("pattern").path("Regex").asText()
                        : Pattern.quote(n.path("pattern").path("String").asText());
                splits.add(Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS));
            }
            case "ByteLevel" -> {
                byteLevel[0] = true;
                byteLevel[1] = n.path("add_prefix_space").asBoolean(false);
                if (n.path("use_regex").asBoolean(true)) {
                    splits.add(Pattern.compile(GPT2_PATTERN, Pattern.UNICODE_CHARACTER_CLASS));
                }
            }
            default -> {
                return "pre-tokenizer " + n.path("type").asText();
            }
        }
        return null;
    }

    private static String postProcessor(JsonNode n, List<int[]> pre, List<int[]> post) {
        if (n.isNull() || n.isMissingNode()) {
            return null;
        }
        switch (n.path("type").asText()) {
            case "Sequence" -> {
                for (JsonNode c : n.path("processors")) {
                    String why = postProcessor(c, pre, post);
                    if (why != null) {
                        return why;
                    }
                }
            }
            case "ByteLevel" -> {
                // changes offsets only
            }
            case "TemplateProcessing" -> {
                boolean afterSequence = false;
                for (JsonNode piece : n.path("single")) {
                    if (piece.has("Sequence")) {
                        afterSequence = true;
                    } else if (piece.has("SpecialToken")) {
                        JsonNode special = n.path("special_tokens").path(piece.path("SpecialToken").path("id").asText());
                        int[] ids = new int[special.path("ids").size()];
                        for (int i = 0; i < ids.length; i++) {
                            ids[i] = special.path("ids").get(i).asInt();
                        }
                        (afterSequence ? post : pre).add(ids);
                    } else {
                        return "template piece " + piece;
                    }
                }
            }
            default -> {
                return "post-processor " + n.path("type").asText();
            }
        }
        return null;
    }

    private static int[] concat(List<int[]> parts) {
        return parts.stream().flatMapToInt(Arrays::stream).toArray();
    }

    // ---- encoding ------------------------------------------------------------------------------

    int[] encode(String text, boolean addSpecialTokens) {
        IntBuffer out = new IntBuffer(Math.max(16, text.length() / 3));
        if (addSpecialTokens) {
            out.addAll(prefixIds, prefixIds.length);
        }
        int pos = 0;
        while (pos < text.length()) {
            long m = added.find(text, pos);
            int start = m < 0 ? text.length() : (int) (m >>> 32);
            if (start > pos) {
                encodeSegment(text.substring(pos, start), out);
            }
            if (m < 0) {
                break;
            }
            int which = (int) m;
            out.add(added.ids[which]);
            pos = start + added.contents[which].length();
        }
        if (addSpecialTokens) {
            out.addAll(suffixIds, suffixIds.length);
        }
        return out.toArray();
    }

    private void encodeSegment(String segment, IntBuffer out) {
        String s = normalize(segment);
        if (s.isEmpty()) {
            return;
        }
        if (byteLevel && byteLevelPrefixSpace && s.charAt(0) != ' ') {
            s = " " + s;
        }
        if (splits.isEmpty()) {
            word(s, out);
            return;
        }
        splitAndEncode(s, 0, out);
    }

    /** Applies split pattern number {@code level}, then the next ones, to each piece; the last level encodes words. */
    private void splitAndEncode(String s, int level, IntBuffer out) {
        if (level == splits.size()) {
            word(s, out);
            return;
        }
        Matcher m = splits.get(level).matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.end() == m.start()) {
                continue;
            }
            if (m.start() > last) {
                splitAndEncode(s.substring(last, m.start()), level + 1, out);
            }
            splitAndEncode(s.substring(m.start(), m.end()), level + 1, out);
            last = m.end();
        }
        if (last < s.length()) {
            splitAndEncode(last == 0 ? s : s.substring(last), level + 1, out);
        }
    }

    private String normalize(String s) {
        for (NormalizerStep step : normalizer) {
            s = switch (step) {
                case Nfc n -> Normalizer.isNormalized(s, n.form()) ? s : Normalizer.normalize(s, n.form());
                case Prepend p -> s.isEmpty() ? s : p.prefix() + s;
                case Replace r -> s.replace(r.pattern(), r.content());
                case Lowercase l -> s.toLowerCase(java.util.Locale.ROOT);
            };
        }
        return s;
    }

    /** BPE over one pre-tokenized word. */
    private void word(String w, IntBuffer out) {
        boolean cacheable = CACHE_LIMIT > 0 && w.length() <= CACHED_WORD_MAX_CHARS;
        if (cacheable) {
            int[] hit = cache.get(w);
            if (hit != null) {
                out.addAll(hit, hit.length);
                return;
            }
        }
        int[] ids = byteLevel ? byteLevelWord(w) : charWord(w);
        if (cacheable && cache.size() < CACHE_LIMIT) {
            cache.put(w, ids);
        }
        out.addAll(ids, ids.length);
    }

    private int[] byteLevelWord(String w) {
        byte[] bytes = w.getBytes(StandardCharsets.UTF_8);
        if (ignoreMerges) {
            Integer whole = vocab.get(toByteLevel(bytes));
            if (whole != null) {
                return new int[] {whole};
            }
        }
        int[] symbols = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            symbols[i] = byteToId[bytes[i] & 0xFF];
        }
        int n = merges.mergeAll(symbols, symbols.length, scratch.get());
        return n == symbols.length ? symbols : Arrays.copyOf(symbols, n);
    }

    /** SentencePiece-style BPE: symbols are characters; unknown ones become byte tokens or unk. */
    private int[] charWord(String w) {
        if (ignoreMerges) {
            Integer whole = vocab.get(w);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        IntBuffer symbols = new IntBuffer(w.length() + 8);
        boolean lastWasUnk = false;
        for (int i = 0; i < w.length(); ) {
            int cp = w.codePointAt(i);
            int len = Character.charCount(cp);
            String ch = w.substring(i, i + len);
            i += len;
            Integer id = vocab.get(ch);
            if (id != null) {
                symbols.add(id);
                lastWasUnk = false;
                continue;
            }
            if (byteFallback) {
                byte[] b = ch.getBytes(StandardCharsets.UTF_8);
                boolean all = true;
                for (byte x : b) {
                    all &= byteFallbackId[x & 0xFF] >= 0;
                }
                if (all) {
                    for (byte x : b) {
                        symbols.add(byteFallbackId[x & 0xFF]);
                    }
                    lastWasUnk = false;
                    continue;
                }
            }
            if (unkId >= 0) {
                if (!(fuseUnk && lastWasUnk)) {
                    symbols.add(unkId);
                }
                lastWasUnk = true;
            }
        }
        int[] arr = symbols.array();
        int n = merges.mergeAll(arr, symbols.size(), scratch.get());
        return Arrays.copyOf(arr, n);
    }

    private static final char[] BYTE_CHARS = byteLevelAlphabet();

    private static String toByteLevel(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            c[i] = BYTE_CHARS[bytes[i] & 0xFF];
        }
        return new String(c);
    }

    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards. */
    static char[] byteLevelAlphabet() {
        char[] out = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            out[b] = printable ? (char) b : (char) (256 + n++);
        }
        return out;
    }

    /** Added tokens, matched leftmost-longest on the raw text, as HF does for non-normalized ones. */
    private static final class AddedTokens {
        final String[] contents;
        final int[] ids;
        private final Map<Character, int[]> byFirstChar = new HashMap<>(); // indexes, longest first

        AddedTokens(List<String> contents, List<Integer> ids) {
            this.contents = contents.toArray(String[]::new);
            this.ids = ids.stream().mapToInt(Integer::intValue).toArray();
            Map<Character, List<Integer>> groups = new HashMap<>();
            for (int i = 0; i < this.contents.length; i++) {
                if (!this.contents[i].isEmpty()) {
                    groups.computeIfAbsent(this.contents[i].charAt(0), k -> new ArrayList<>()).add(i);
                }
            }
            groups.forEach((c, list) -> {
                list.sort((a, b) -> Integer.compare(this.contents[b].length(), this.contents[a].length()));
                byFirstChar.put(c, list.stream().mapToInt(Integer::intValue).toArray());
            });
        }

        /** start << 32 | index of the leftmost-longest match at or after from, or -1. */
        long find(String text, int from) {
            if (byFirstChar.isEmpty()) {
                return -1;
            }
            for (int i = from; i < text.length(); i++) {
                int[] candidates = byFirstChar.get(text.charAt(i));
                if (candidates == null) {
                    continue;
                }
                for (int c : candidates) {
                    if (text.startsWith(contents[c], i)) {
                        return ((long) i << 32) | c;
                    }
                }
            }
            return -1;
        }
    }

    /** A growable int array. */
    static final class IntBuffer {
        private int[] a;
        private int n;

        IntBuffer(int capacity) {
            a = new int[Math.max(4, capacity)];
        }

        void add(int v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            a[n++] = v;
        }

        void addAll(int[] v, int len) {
            if (n + len > a.length) {
                a = Arrays.copyOf(a, Math.max(a.length * 2, n + len));
            }
            System.arraycopy(v, 0, a, n, len);
            n += len;
        }

        int size() {
            return n;
        }

        int[] array() {
            return a;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
