package io.boundless.engine.backend;

/**
 * The logits a step produced, row by row. A row is either whole ({@link #isFull}: {@link #logits}
 * from {@link #offset} for vocab floats) or reduced to its argmax (lowest id among equal maxima)
 * and that token's log-probability under the row's softmax.
 */
public record StepOutput(float[] logits, int[] offsets, int[] argmax, float[] argmaxLogprob) {

    /** Every row whole: rows laid out one after another. */
    public static StepOutput full(float[] logits, int rows, int vocab) {
        int[] offsets = new int[rows];
        for (int i = 0; i < rows; i++) {
            offsets[i] = i * vocab;
        }
        return new StepOutput(logits, offsets, null, null);
    }

    public boolean isFull(int row) {
        return offsets[row] >= 0;
    }

    public int offset(int row) {
        if (offsets[row] < 0) {
            throw new IllegalStateException("logits row " + row + " was reduced to its argmax");
        }
        return offsets[row];
    }
}
