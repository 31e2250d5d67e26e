package io.boundless.engine.backend;

/**
 * How much of a logits row the engine needs back from the backend: the whole row; only its argmax
 * and that token's log-probability; its k best tokens with their logits plus the row's statistics
 * ({@link StepOutput.Candidates}), from which top-k sampling and top-N logprobs are exact; or, to
 * sample with temperature and min-p alone, the token the backend draws itself with the uniform
 * number {@code u} the engine drew from the sequence's stream (plus k candidates for logprobs). A
 * GPU sends back as little as the need says; the CPU backend always has whole rows.
 *
 * @param k           candidates wanted (TOP_K and DRAW, at most {@link #MAX_TOP_K})
 * @param temperature the sampling temperature (TOP_K: for the candidates' normalizer; 0: none needed)
 * @param minP        DRAW: min-p
 * @param u           DRAW: the uniform number in [0, 1) the draw uses
 */
public record RowNeed(Kind kind, int k, float temperature, float minP, double u) {
    public enum Kind { WHOLE, ARGMAX, TOP_K, DRAW }

    /** The most candidates a backend returns per row. */
    public static final int MAX_TOP_K = 64;

    public static final RowNeed WHOLE = new RowNeed(Kind.WHOLE, 0, 0, 0, 0);
    public static final RowNeed ARGMAX = new RowNeed(Kind.ARGMAX, 0, 0, 0, 0);

    public RowNeed {
        if (kind == Kind.TOP_K && (k < 1 || k > MAX_TOP_K) || kind == Kind.DRAW && (k < 0 || k > MAX_TOP_K)) {
            throw new IllegalArgumentException("candidates must be 1 to " + MAX_TOP_K + " (0 allowed when drawing), got " + k);
        }
        if (kind == Kind.DRAW && !(temperature > 0 && u >= 0 && u < 1)) {
            throw new IllegalArgumentException("a draw needs a temperature above 0 and u in [0, 1), got " + temperature + ", " + u);
        }
    }

    public static RowNeed topK(int k, float temperature) {
        return new RowNeed(Kind.TOP_K, k, temperature, 0, 0);
    }

    /** Draw on the backend with temperature and min-p, u from the sequence's stream; k candidates for logprobs (0: none). */
    public static RowNeed draw(float temperature, float minP, double u, int k) {
        return new RowNeed(Kind.DRAW, k, temperature, minP, u);
    }
}
