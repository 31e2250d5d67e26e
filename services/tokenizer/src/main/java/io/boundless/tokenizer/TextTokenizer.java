package io.boundless.tokenizer;

/**
 * One tokenizer implementation: text to ids and back. Implementations are thread-safe.
 * Ids are validated by callers against {@link #isValidId} before {@link #decode}.
 */
public interface TextTokenizer extends AutoCloseable {

    /** Token ids of text; offsets (code points) only when asked for, else {@code null} arrays. */
    Encoding encode(String text, boolean addSpecialTokens, boolean withOffsets);

    /** Number of ids {@link #encode} would return. */
    default int count(String text, boolean addSpecialTokens) {
        return encode(text, addSpecialTokens, false).ids().length;
    }

    /** Text of ids; incomplete UTF-8 at the end (or anywhere) decodes to U+FFFD. */
    String decode(int[] ids, boolean skipSpecialTokens);

    /** Whether id names a token (gaps in a vocabulary are not valid). */
    boolean isValidId(int id);

    /**
     * Whether id is a byte-fallback token ({@code <0xE4>}). A run of them is decoded together: if
     * the run is not valid UTF-8, every byte of it becomes U+FFFD, so its text is final only once
     * the run has ended.
     */
    default boolean isByteFallback(int id) {
        return false;
    }

    /** Whether id is a special token (left out when decoding with skip_special_tokens). */
    boolean isSpecial(int id);

    /** One more than the largest id. */
    int vocabSize();

    @Override
    default void close() {}

    /**
     * The result of encoding. {@code starts[i]}/{@code ends[i]} bound token i's source text in
     * Unicode code points, or both arrays are null when offsets were not asked for.
     */
    record Encoding(int[] ids, int[] starts, int[] ends) {}
}
