package io.boundless.engine.sched;

import io.boundless.engine.kv.IntList;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.sample.SamplingParams;
import java.util.SplittableRandom;

/** One token stream being generated: its tokens, KV blocks, progress and sampling state. Engine-thread only. */
public final class Sequence {
    public enum Status { WAITING, RUNNING, FINISHED }

    public enum FinishReason { STOP, LENGTH, ABORTED }

    public final long id;
    public final int priority;
    final long arrival;
    final IntList tokens;          // prompt then generated tokens
    public final int promptLength;
    final IntList blockTable = new IntList();
    int computed;                  // tokens whose keys and values are in the cache
    int cachedPromptTokens;        // prompt tokens the prefix cache served at admission
    Status status = Status.WAITING;
    FinishReason finishReason;
    final SamplingParams params;
    final SplittableRandom rng;
    int[] outputCounts;            // occurrences of each token in the output (penalties), lazily
    boolean[] seen;                // tokens in prompt or output (repetition penalty), lazily
    final SequenceListener listener;
    Overlay overlay;               // the edited version's low-rank delta it is served with, or null (the base)
    int pendingSamples;            // n > 1: samples still to fork from this leader after its prefill
    int sampleIndex;               // n > 1: which sample this is (0 for the leader)
    int scoreFrom = -1;            // Score requests: the first continuation token's index, else -1
    float[] scoreLogprobs;         // log-probabilities of the continuation tokens, filled as rows arrive
    int[][] scoreTopIds;           // per continuation token: top alternatives
    float[][] scoreTopLogprobs;
    io.boundless.engine.grammar.Matcher.State grammar; // a constrained output's matcher state, or null

    Sequence(long id, int[] prompt, SamplingParams params, int priority, long arrival, SplittableRandom rng, SequenceListener listener) {
        this.id = id;
        this.priority = priority;
        this.arrival = arrival;
        this.tokens = IntList.of(prompt);
        this.promptLength = prompt.length;
        this.params = params;
        this.rng = rng;
        this.listener = listener;
    }

    /** A fork sharing everything computed so far (the prompt's blocks), for n > 1. */
    Sequence fork(long newId, SplittableRandom newRng, BlockShare share) {
        Sequence s = new Sequence(newId, tokens.toArray(), params, priority, arrival, newRng, listener);
        share.share(blockTable, s.blockTable);
        s.overlay = overlay;
        s.computed = computed;
        s.cachedPromptTokens = cachedPromptTokens;
        s.status = status;
        s.grammar = grammar;
        return s;
    }

    /** How blocks are shared between a leader and its forks. */
    interface BlockShare {
        void share(IntList from, IntList to);
    }

    /** The prefix cache's key for this sequence's weights: 0 for the base, the overlay's content hash otherwise. */
    long salt() {
        return overlay == null ? 0 : overlay.salt();
    }

    public int length() {
        return tokens.size();
    }

    public int generated() {
        return tokens.size() - promptLength;
    }

    public Status status() {
        return status;
    }

    public FinishReason finishReason() {
        return finishReason;
    }

    public int sampleIndex() {
        return sampleIndex;
    }

    public int cachedPromptTokens() {
        return cachedPromptTokens;
    }

    public int[] tokens() {
        return tokens.toArray();
    }

    void append(int token, int vocab) {
        tokens.add(token);
        if (params.repetitionPenalty() != 1 || params.presencePenalty() != 0 || params.frequencyPenalty() != 0) {
            if (outputCounts == null) {
                outputCounts = new int[vocab];
                seen = new boolean[vocab];
                for (int i = 0; i < promptLength; i++) {
                    int t = tokens.get(i);
                    if (t >= 0 && t < vocab) {
                        seen[t] = true;
                    }
                }
            }
            outputCounts[token]++;
            seen[token] = true;
        }
    }
}
