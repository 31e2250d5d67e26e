package io.boundless.engine.sched;

import io.boundless.engine.sample.Sampler;

/** Receives a sequence's tokens as they are produced, on the engine thread; must not block. */
public interface SequenceListener {
    void onToken(Sequence seq, Sampler.Sample sample);

    void onFinish(Sequence seq, Sequence.FinishReason reason);

    /**
     * A Score request's result: for each continuation token, its log-probability after everything
     * before it, and the top alternatives there. Called once, before onFinish.
     */
    default void onScore(Sequence seq, float[] logprobs, int[][] topIds, float[][] topLogprobs) {}
}
