package io.boundless.tokenizer.tiktoken;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import io.boundless.tokenizer.TextTokenizer;
import io.boundless.tokenizer.TokenizerInfo.SpecialToken;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * OpenAI's tiktoken encodings through jtokkit (pure Java; the BPE ranks ship inside its jar).
 * Text is encoded as tiktoken's {@code encode_ordinary} does: special-token literals in user text
 * are plain text, never control tokens. tiktoken adds no BOS/EOS, so add_special_tokens is a no-op.
 */
public final class TiktokenTokenizer implements TextTokenizer {
    private static final EncodingRegistry REGISTRY = Encodings.newDefaultEncodingRegistry();

    /** The encodings we serve by name, with their ordinary-token count and special tokens. */
    private static final Map<String, Spec> SPECS = Map.of(
            "cl100k_base", new Spec(EncodingType.CL100K_BASE, 100256, List.of(
                    new SpecialToken("<|endoftext|>", 100257), new SpecialToken("<|fim_prefix|>", 100258),
                    new SpecialToken("<|fim_middle|>", 100259), new SpecialToken("<|fim_suffix|>", 100260),
                    new SpecialToken("<|endofprompt|>", 100276))),
            "o200k_base", new Spec(EncodingType.O200K_BASE, 199998, List.of(
                    new SpecialToken("<|endoftext|>", 199999), new SpecialToken("<|endofprompt|>", 200018))));

    private record Spec(EncodingType type, int ordinaryTokens, List<SpecialToken> specials) {}

    private final com.knuddels.jtokkit.api.Encoding encoding;
    private final Spec spec;
    private final int vocabSize;

    private TiktokenTokenizer(Spec spec) {
        this.encoding = REGISTRY.getEncoding(spec.type());
        this.spec = spec;
        this.vocabSize = spec.specials().stream().mapToInt(SpecialToken::id).max().orElse(spec.ordinaryTokens() - 1) + 1;
    }

    public static boolean isBuiltIn(String name) {
        return SPECS.containsKey(name);
    }

    public static List<String> builtInNames() {
        return SPECS.keySet().stream().sorted().toList();
    }

    public static TiktokenTokenizer named(String name) {
        Spec spec = SPECS.get(name);
        if (spec == null) {
            throw new IllegalArgumentException("no built-in tiktoken encoding " + name);
        }
        return new TiktokenTokenizer(spec);
    }

    public List<SpecialToken> specialTokens() {
        return spec.specials();
    }

    @Override
    public Encoding encode(String text, boolean addSpecialTokens, boolean withOffsets) {
        int[] ids = encoding.encodeOrdinary(text).toArray();
        if (!withOffsets) {
            return new Encoding(ids, null, null);
        }
        // Offsets: map each token's byte range onto code points of the text. A token that ends in
        // the middle of a character covers that whole character.
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        int[] cpAtByte = new int[utf8.length + 1]; // code point index of the character holding byte b
        int cp = -1;
        for (int b = 0; b < utf8.length; b++) {
            if ((utf8[b] & 0xC0) != 0x80) {
                cp++;
            }
            cpAtByte[b] = cp;
        }
        cpAtByte[utf8.length] = cp + 1;
        int[] starts = new int[ids.length];
        int[] ends = new int[ids.length];
        int pos = 0;
        IntArrayList one = new IntArrayList(1);
        for (int i = 0; i < ids.length; i++) {
            one.clear();
            one.add(ids[i]);
            int len = encoding.decodeBytes(one).length;
            starts[i] = cpAtByte[pos];
            ends[i] = len == 0 ? starts[i] : cpAtByte[pos + len - 1] + 1;
            pos += len;
        }
        return new Encoding(ids, starts, ends);
    }

    @Override
    public int count(String text, boolean addSpecialTokens) {
        return encoding.countTokensOrdinary(text);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        IntArrayList list = new IntArrayList(ids.length);
        for (int id : ids) {
            if (!(skipSpecialTokens && id >= spec.ordinaryTokens())) {
                list.add(id);
            }
        }
        // Invalid UTF-8 (a character cut between tokens) becomes U+FFFD, as tiktoken's decode does
        // with errors="replace".
        return new String(encoding.decodeBytes(list), StandardCharsets.UTF_8);
    }

    @Override
    public boolean isValidId(int id) {
        if (id >= 0 && id < spec.ordinaryTokens()) {
            return true;
        }
        for (SpecialToken s : spec.specials()) {
            if (s.id() == id) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean isSpecial(int id) {
        return id >= spec.ordinaryTokens() && isValidId(id);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }
}
