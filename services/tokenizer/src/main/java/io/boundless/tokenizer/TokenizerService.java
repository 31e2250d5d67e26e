package io.boundless.tokenizer;

import io.boundless.tokenizer.TextTokenizer.Encoding;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The tokenizer service's domain: every RPC's logic and limits, without gRPC. The gRPC class maps
 * messages to these calls and exceptions to status codes.
 */
public final class TokenizerService {
    private final TokenizerRegistry registry;
    private final Limits limits;

    /** Request limits; each error message names the limit. */
    public record Limits(int maxTextBytes, int maxBatchSize, int maxIds, int maxMessages, int maxStreams) {}

    private final java.util.concurrent.atomic.AtomicInteger openStreams = new java.util.concurrent.atomic.AtomicInteger();

    public TokenizerService(TokenizerRegistry registry, Limits limits) {
        this.registry = registry;
        this.limits = limits;
    }

    public Limits limits() {
        return limits;
    }

    public ModelTokenizer model(String name) {
        return registry.get(name);
    }

    public Encoding encode(String model, String text, int utf8Bytes, boolean addSpecialTokens, boolean offsets) {
        checkText(text, utf8Bytes, -1);
        return registry.get(model).tokenizer().encode(Texts.wellFormed(text), addSpecialTokens, offsets);
    }

    public int count(String model, String text, int utf8Bytes, boolean addSpecialTokens) {
        checkText(text, utf8Bytes, -1);
        return registry.get(model).tokenizer().count(Texts.wellFormed(text), addSpecialTokens);
    }

    /** Validates a whole batch first, so a bad text fails the request before any work is done. */
    public List<Encoding> encodeBatch(String model, List<String> texts, int[] utf8Bytes, boolean addSpecialTokens, boolean offsets) {
        checkBatch(texts, utf8Bytes);
        TextTokenizer t = registry.get(model).tokenizer();
        List<Encoding> out = new ArrayList<>(texts.size());
        for (String text : texts) {
            out.add(t.encode(Texts.wellFormed(text), addSpecialTokens, offsets));
        }
        return out;
    }

    public int[] countBatch(String model, List<String> texts, int[] utf8Bytes, boolean addSpecialTokens) {
        checkBatch(texts, utf8Bytes);
        TextTokenizer t = registry.get(model).tokenizer();
        int[] out = new int[texts.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.count(Texts.wellFormed(texts.get(i)), addSpecialTokens);
        }
        return out;
    }

    public String decode(String model, int[] ids, boolean skipSpecialTokens) {
        if (ids.length > limits.maxIds()) {
            throw new InvalidRequestException("Decode takes at most " + limits.maxIds() + " ids (boundless.tokenizer.max-ids); got " + ids.length);
        }
        return registry.get(model).decode(ids, skipSpecialTokens);
    }

    /** Opens a decode stream; the caller must {@link #closeStream} it once, whatever happens. */
    public StreamingDetokenizer openStream(String model, boolean skipSpecialTokens) {
        ModelTokenizer m = registry.get(model);
        if (openStreams.incrementAndGet() > limits.maxStreams()) {
            openStreams.decrementAndGet();
            throw new LimitExceededException(limits.maxStreams() + " decode streams are open, the most this server takes"
                    + " (boundless.tokenizer.max-streams); retry later or on another replica");
        }
        return new StreamingDetokenizer(m, skipSpecialTokens, limits.maxIds());
    }

    public void closeStream() {
        openStreams.decrementAndGet();
    }

    public int openStreams() {
        return openStreams.get();
    }

    /** The rendered prompt and its ids (encoded without adding special tokens: the template writes them). */
    public record ChatPrompt(String text, int[] ids) {}

    public ChatPrompt applyChatTemplate(String model, List<Map<String, Object>> messages, boolean addGenerationPrompt,
            List<Map<String, Object>> tools, Map<String, Object> variables, String templateOverride) {
        if (messages.size() > limits.maxMessages()) {
            throw new InvalidRequestException("a conversation may have at most " + limits.maxMessages()
                    + " messages (boundless.tokenizer.max-messages); got " + messages.size());
        }
        ModelTokenizer m = registry.get(model);
        String text = m.applyChatTemplate(messages, addGenerationPrompt, tools, variables, templateOverride);
        checkText(text, Texts.utf8Length(text), -1);
        return new ChatPrompt(text, m.tokenizer().encode(text, false, false).ids());
    }

    public String toolCallFormat(String model) {
        return registry.get(model).toolCallFormat();
    }

    public TokenizerInfo info(String model) {
        return registry.get(model).info();
    }

    private void checkBatch(List<String> texts, int[] utf8Bytes) {
        if (texts.size() > limits.maxBatchSize()) {
            throw new InvalidRequestException("a batch may hold at most " + limits.maxBatchSize()
                    + " texts (boundless.tokenizer.max-batch-size); got " + texts.size());
        }
        for (int i = 0; i < texts.size(); i++) {
            checkText(texts.get(i), utf8Bytes[i], i);
        }
    }

    private void checkText(String text, int utf8Bytes, int index) {
        if (utf8Bytes > limits.maxTextBytes()) {
            throw new InvalidRequestException((index >= 0 ? "text " + index : "text") + " is " + utf8Bytes
                    + " bytes of UTF-8, over the limit of " + limits.maxTextBytes() + " bytes (boundless.tokenizer.max-text-bytes)");
        }
    }
}
