package io.boundless.engine.backend;

/**
 * How much of a logits row the engine needs back from the backend: the whole row; only its argmax
 * and that token's log-probability; or its k best tokens with their logits plus the row's
 * statistics ({@link StepOutput.Candidates}), from which top-k sampling and top-N logprobs are
 * exact. A GPU sends back as little as the need says; the CPU backend always has whole rows.
 *
 * @param k           candidates wanted (TOP_K only, at most {@link #MAX_TOP_K})
 * @param temperature the sampling temperature for the candidates' normalizer (0: none needed)
 */
public record RowNeed(Kind kind, int k, float temperature) {
    public enum Kind { WHOLE, ARGMAX, TOP_K }

    /** The most candidates a backend returns per row. */
    public static final int MAX_TOP_K = 64;

    public static final RowNeed WHOLE = new RowNeed(Kind.WHOLE, 0, 0);
    public static final RowNeed ARGMAX = new RowNeed(Kind.ARGMAX, 0, 0);

    public RowNeed {
        if (kind == Kind.TOP_K && (k < 1 || k > MAX_TOP_K)) {
            throw new IllegalArgumentException("top-k candidates must be 1 to " + MAX_TOP_K + ", got " + k);
        }
    }

    public static RowNeed topK(int k, float temperature) {
        return new RowNeed(Kind.TOP_K, k, temperature);
    }
}
