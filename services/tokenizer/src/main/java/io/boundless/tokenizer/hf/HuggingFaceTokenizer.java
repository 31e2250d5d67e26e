package io.boundless.tokenizer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.tokenizer.ModelLoadException;
import io.boundless.tokenizer.TextTokenizer;
import io.boundless.tokenizer.TokenizerInfo.SpecialToken;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json}, run by the Rust tokenizers library through DJL's JNI
 * binding. We read the JSON ourselves only for what DJL does not expose: the set of valid ids and
 * the special tokens.
 */
public final class HuggingFaceTokenizer implements TextTokenizer {
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(HuggingFaceTokenizer.class);
    private final ai.djl.huggingface.tokenizers.HuggingFaceTokenizer native_;
    private final BitSet validIds;   // ids of the model vocabulary plus added tokens
    private final int vocabSize;      // max id + 1
    private final List<SpecialToken> specialTokens;
    private final Map<String, Integer> tokenIds; // content -> id, for added tokens (and looked-up specials)
    private final BitSet byteFallback;  // ids of <0xHH> tokens when the model decodes them with byte fallback
    private final BitSet special;       // ids of special added tokens
    private final BpeEncoder fast;      // pure-Java encoder for ids, or null: then Rust does everything

    private HuggingFaceTokenizer(ai.djl.huggingface.tokenizers.HuggingFaceTokenizer native_, BitSet validIds,
            List<SpecialToken> specialTokens, Map<String, Integer> tokenIds, BitSet byteFallback, BpeEncoder fast) {
        this.native_ = native_;
        this.fast = fast;
        this.byteFallback = byteFallback;
        this.special = new BitSet();
        specialTokens.forEach(t -> special.set(t.id()));
        this.validIds = validIds;
        this.vocabSize = validIds.length();
        this.specialTokens = specialTokens;
        this.tokenIds = tokenIds;
    }

    /** Loads {@code tokenizer.json}; errors name the file. */
    public static HuggingFaceTokenizer load(Path tokenizerJson, ObjectMapper json) {
        JsonNode root;
        try {
            root = json.readTree(Files.readAllBytes(tokenizerJson));
        } catch (IOException e) {
            throw new ModelLoadException("cannot read " + tokenizerJson + ": " + e.getMessage(), e);
        }
        BitSet valid = new BitSet();
        Map<String, Integer> ids = new HashMap<>();
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) { // BPE, WordPiece, WordLevel: {"token": id}
            vocab.properties().forEach(e -> {
                valid.set(e.getValue().asInt());
                ids.put(e.getKey(), e.getValue().asInt());
            });
        } else if (vocab.isArray()) { // Unigram: [[piece, score], ...], id = index
            for (int i = 0; i < vocab.size(); i++) {
                valid.set(i);
                ids.put(vocab.get(i).path(0).asText(), i);
            }
        } else {
            throw new ModelLoadException(tokenizerJson + " has no model.vocab", null);
        }
        List<SpecialToken> specials = new ArrayList<>();
        for (JsonNode t : root.path("added_tokens")) {
            int id = t.path("id").asInt();
            valid.set(id);
            ids.put(t.path("content").asText(), id);
            if (t.path("special").asBoolean()) {
                specials.add(new SpecialToken(t.path("content").asText(), id));
            }
        }
        BitSet byteFallback = new BitSet();
        if (root.path("model").path("byte_fallback").asBoolean(false)) {
            ids.forEach((token, id) -> {
                if (token.length() == 6 && token.startsWith("<0x") && token.endsWith(">")) {
                    byteFallback.set(id);
                }
            });
        }
        Object encoder = BpeEncoder.create(root);
        if (encoder instanceof BpeEncoder.Unsupported u) {
            LOG.infof("%s: ids come from the Rust library (the Java encoder does not cover %s)", tokenizerJson, u.reason());
        }
        DjlEnvironment.ensureOffline();
        try {
            var native_ = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(tokenizerJson,
                    Map.of("truncation", "false", "padding", "false", "addSpecialTokens", "true"));
            return new HuggingFaceTokenizer(native_, valid, Collections.unmodifiableList(specials), ids, byteFallback,
                    encoder instanceof BpeEncoder e ? e : null);
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException("cannot load " + tokenizerJson + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Encoding encode(String text, boolean addSpecialTokens, boolean withOffsets) {
        if (fast != null && !withOffsets && UnicodeAge.allAssignedBy13(text)) {
            return new Encoding(fast.encode(text, addSpecialTokens), null, null);
        }
        return encodeWithRust(text, addSpecialTokens, withOffsets);
    }

    /**
     * Whether ids come from the pure-Java encoder (offsets and decoding always come from Rust; so do
     * the ids of text with characters newer than Unicode 13.0, see {@link UnicodeAge}).
     */
    public boolean hasJavaEncoder() {
        return fast != null;
    }

    /** The Rust library's encoding, bypassing the Java encoder (offsets, and the reference in tests). */
    public Encoding encodeWithRust(String text, boolean addSpecialTokens, boolean withOffsets) {
        var enc = native_.encode(text, addSpecialTokens, false);
        long[] raw = enc.getIds();
        int[] out = new int[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = (int) raw[i];
        }
        if (!withOffsets) {
            return new Encoding(out, null, null);
        }
        var spans = enc.getCharTokenSpans();
        int[] starts = new int[out.length];
        int[] ends = new int[out.length];
        for (int i = 0; i < out.length; i++) {
            if (spans[i] != null) { // special tokens added by the post-processor have no span
                starts[i] = spans[i].getStart();
                ends[i] = spans[i].getEnd();
            }
        }
        return new Encoding(out, starts, ends);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] raw = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            raw[i] = ids[i];
        }
        return native_.decode(raw, skipSpecialTokens);
    }

    @Override
    public boolean isValidId(int id) {
        return id >= 0 && validIds.get(id);
    }

    @Override
    public boolean isByteFallback(int id) {
        return id >= 0 && byteFallback.get(id);
    }

    @Override
    public boolean isSpecial(int id) {
        return id >= 0 && special.get(id);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    public List<SpecialToken> specialTokens() {
        return specialTokens;
    }

    /** The id of a token's exact text, or null. */
    public Integer idOf(String token) {
        return tokenIds.get(token);
    }

    @Override
    public void close() {
        native_.close();
    }
}
