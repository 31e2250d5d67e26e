package io.boundless.tokenizer;

import java.util.Arrays;

/**
 * Turns ids into text as they arrive, emitting only text that can no longer change.
 *
 * <p>Each step decodes a short window twice: from {@code prefixStart} to the ids already emitted
 * ({@code readStart}), and from {@code prefixStart} to the end. The difference is the new text.
 * Decoding from a window start that lies before the new ids keeps context-dependent rules right
 * (SentencePiece drops the leading space of the first token only; byte-level and byte-fallback
 * tokens may split a character). Text ending in U+FFFD is held back until the character completes,
 * and so is a run of byte-fallback tokens until a token of another kind ends it;
 * {@link #finish} releases whatever is still held, so the concatenation of all pieces equals
 * {@code decode(allIds)}.
 */
public final class StreamingDetokenizer {
    private final ModelTokenizer model;
    private final boolean skipSpecialTokens;
    private int[] ids = new int[64];
    private int size;
    private int prefixStart; // window start: ids before it are never decoded again
    private int readStart;   // ids before it have had their text emitted
    private final StringBuilder emitted = new StringBuilder();
    private final int maxIds;

    public StreamingDetokenizer(ModelTokenizer model, boolean skipSpecialTokens, int maxIds) {
        this.model = model;
        this.skipSpecialTokens = skipSpecialTokens;
        this.maxIds = maxIds;
    }

    /** Adds ids and returns the text that became final (possibly empty). */
    public String add(int[] newIds) {
        model.checkIds(newIds);
        if ((long) size + newIds.length > maxIds) {
            throw new InvalidRequestException("a decode stream may carry at most " + maxIds + " ids; this one would reach " + ((long) size + newIds.length));
        }
        if (size + newIds.length > ids.length) {
            ids = Arrays.copyOf(ids, Math.max(ids.length * 2, size + newIds.length));
        }
        System.arraycopy(newIds, 0, ids, size, newIds.length);
        size += newIds.length;
        if (newIds.length == 0) {
            return "";
        }
        if (endsInByteRun()) {
            return "";
        }
        String before = decode(prefixStart, readStart);
        String after = decode(prefixStart, size);
        if (after.length() > before.length() && after.startsWith(before) && !after.endsWith("\uFFFD")) {
            String delta = after.substring(before.length());
            prefixStart = readStart;
            readStart = size;
            emitted.append(delta);
            return delta;
        }
        return "";
    }

    /** Ends the stream: returns the text still held back so that all pieces add up to decode(ids). */
    public String finish() {
        String full = decode(0, size);
        if (full.startsWith(emitted.toString())) {
            String rest = full.substring(emitted.length());
            emitted.append(rest);
            return rest;
        }
        // Every tokenizer we serve is covered by tests that make this unreachable; if a new one breaks
        // the window assumption, say so rather than silently returning different text.
        throw new IllegalStateException("streamed text diverged from decode() for model " + model.name());
    }

    /** Whether the last id that decoding keeps is a byte-fallback token: its run may not be over. */
    private boolean endsInByteRun() {
        TextTokenizer t = model.tokenizer();
        for (int i = size - 1; i >= readStart; i--) {
            if (skipSpecialTokens && t.isSpecial(ids[i])) {
                continue; // skipped tokens vanish before decoding, joining the runs around them
            }
            return t.isByteFallback(ids[i]);
        }
        return false;
    }

    public int size() {
        return size;
    }

    private String decode(int from, int to) {
        return from == to ? "" : model.tokenizer().decode(Arrays.copyOfRange(ids, from, to), skipSpecialTokens);
    }
}
