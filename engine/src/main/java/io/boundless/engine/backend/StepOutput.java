package io.boundless.engine.backend;

/**
 * The logits a step produced, row by row, in as much detail as each row's {@link RowNeed} asked
 * for (a backend may give more). A whole row is {@link #logits} from {@link #offset} for vocab
 * floats. Every row reduced on the device has its argmax (lowest id among equal maxima) and that
 * token's log-probability; a TOP_K row also its {@link Candidates}; a DRAW row the token drawn and
 * its log-probability (and candidates when it asked for some).
 *
 * @param offsets     per row, where its logits start, or -1 where the row was reduced
 * @param argmax      per row (null when every row is whole)
 * @param candidates  per row, or null for rows without them (the array itself may be null)
 * @param drawn       per row, the token drawn on the backend, or -1 (the array itself may be null)
 */
public record StepOutput(float[] logits, int[] offsets, int[] argmax, float[] argmaxLogprob, Candidates[] candidates, int[] drawn,
        float[] drawnLogprob, java.util.function.IntFunction<float[]> rowFetcher) {

    /**
     * A row's k best tokens, by logit then lowest id, with their logits; the row's maximum logit and
     * log-sum-exp; and the sum over the whole vocabulary of exp((logit - max) / temperature), in
     * double (for a temperature above 0).
     */
    public record Candidates(int[] ids, float[] logits, float max, float logSumExp, double sumAtTemperature) {}

    /** Every row whole: rows laid out one after another. */
    public static StepOutput full(float[] logits, int rows, int vocab) {
        int[] offsets = new int[rows];
        for (int i = 0; i < rows; i++) {
            offsets[i] = i * vocab;
        }
        return new StepOutput(logits, offsets, null, null, null, null, null, null);
    }

    public boolean isFull(int row) {
        return offsets[row] >= 0;
    }

    public int offset(int row) {
        if (offsets[row] < 0) {
            throw new IllegalStateException("logits row " + row + " was reduced on the device");
        }
        return offsets[row];
    }

    /**
     * A reduced row, whole after all (copied from the device on demand; valid until the backend's
     * next step): for top-p when the candidates turn out not to hold the top-p mass.
     */
    public float[] fetchRow(int row) {
        if (rowFetcher == null) {
            throw new IllegalStateException("logits row " + row + " was reduced and the backend cannot fetch it");
        }
        return rowFetcher.apply(row);
    }

    /** The token drawn on the backend for this row, or -1. */
    public int drawn(int row) {
        return drawn == null ? -1 : drawn[row];
    }

    /** The row's candidates, or null where it has none. */
    public Candidates candidates(int row) {
        return candidates == null ? null : candidates[row];
    }
}
