package io.boundless.engine.sched;

import io.boundless.engine.sample.Sampler;

/** Receives a sequence's tokens as they are produced, on the engine thread; must not block. */
public interface SequenceListener {
    void onToken(Sequence seq, Sampler.Sample sample);

    void onFinish(Sequence seq, Sequence.FinishReason reason);
}
