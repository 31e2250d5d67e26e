package io.boundless.engine.sample;

import java.util.List;

/**
 * How to pick each next token of a sequence. Defaults are greedy decoding.
 *
 * @param temperature       0 for greedy; otherwise logits are divided by it
 * @param topK              keep the k most likely tokens (0: all)
 * @param topP              keep the smallest set whose probability reaches p (1: all)
 * @param minP              drop tokens below minP × the top probability (0: none)
 * @param repetitionPenalty divides positive (multiplies negative) logits of tokens seen in prompt or output (1: off)
 * @param presencePenalty   subtracted once from logits of tokens seen in the output
 * @param frequencyPenalty  subtracted per occurrence in the output
 * @param seed              per-request seed: the same seed gives the same tokens whatever else is batched; null: random
 * @param logprobs          how many top alternatives to report with each token's log-probability (0: none)
 * @param stopTokenIds      tokens that end the sequence (besides EOS unless ignoreEos)
 * @param maxNewTokens      most tokens to generate
 * @param minNewTokens      stop tokens and EOS are suppressed until this many were generated
 * @param ignoreEos         keep going past EOS
 * @param logitBias         added to these tokens' logits before sampling
 * @param constraint        the language the output must be in (structured outputs), or null
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repetitionPenalty,
        float presencePenalty, float frequencyPenalty, Long seed, int logprobs, List<Integer> stopTokenIds,
        int maxNewTokens, int minNewTokens, boolean ignoreEos, java.util.Map<Integer, Float> logitBias,
        io.boundless.engine.grammar.Constraint constraint) {

    public static final int MAX_LOGPROBS = 20;
    /** Token ids a logit bias may name, at most. */
    public static final int MAX_LOGIT_BIAS = 1024;

    /** Without a constraint. */
    public SamplingParams(float temperature, int topK, float topP, float minP, float repetitionPenalty, float presencePenalty, float frequencyPenalty,
            Long seed, int logprobs, List<Integer> stopTokenIds, int maxNewTokens, int minNewTokens, boolean ignoreEos,
            java.util.Map<Integer, Float> logitBias) {
        this(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, seed, logprobs, stopTokenIds, maxNewTokens,
                minNewTokens, ignoreEos, logitBias, null);
    }

    /** Without a logit bias. */
    public SamplingParams(float temperature, int topK, float topP, float minP, float repetitionPenalty, float presencePenalty, float frequencyPenalty,
            Long seed, int logprobs, List<Integer> stopTokenIds, int maxNewTokens, int minNewTokens, boolean ignoreEos) {
        this(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, seed, logprobs, stopTokenIds, maxNewTokens,
                minNewTokens, ignoreEos, java.util.Map.of(), null);
    }

    public SamplingParams {
        stopTokenIds = List.copyOf(stopTokenIds);
        logitBias = java.util.Map.copyOf(logitBias);
        check(logitBias.size() <= MAX_LOGIT_BIAS, "logit_bias", logitBias.size() + " token ids", "at most " + MAX_LOGIT_BIAS + " token ids");
        for (var e : logitBias.entrySet()) {
            check(e.getKey() >= 0, "a logit_bias token id", e.getKey(), "0 or more");
            check(Float.isFinite(e.getValue()) && Math.abs(e.getValue()) <= 100, "logit_bias of token " + e.getKey(), e.getValue(), "-100 to 100");
        }
        check(Float.isFinite(temperature) && temperature >= 0 && temperature <= 100, "temperature", temperature, "0 to 100");
        check(topK >= 0, "top_k", topK, "0 (off) or more");
        check(Float.isFinite(topP) && topP > 0 && topP <= 1, "top_p", topP, "above 0 and at most 1");
        check(Float.isFinite(minP) && minP >= 0 && minP <= 1, "min_p", minP, "0 to 1");
        check(Float.isFinite(repetitionPenalty) && repetitionPenalty > 0 && repetitionPenalty <= 10, "repetition_penalty", repetitionPenalty, "above 0, at most 10");
        check(Float.isFinite(presencePenalty) && Math.abs(presencePenalty) <= 2, "presence_penalty", presencePenalty, "-2 to 2");
        check(Float.isFinite(frequencyPenalty) && Math.abs(frequencyPenalty) <= 2, "frequency_penalty", frequencyPenalty, "-2 to 2");
        check(logprobs >= 0 && logprobs <= MAX_LOGPROBS, "logprobs", logprobs, "0 to " + MAX_LOGPROBS);
        check(maxNewTokens >= 1, "max_new_tokens", maxNewTokens, "at least 1");
        check(minNewTokens >= 0 && minNewTokens <= maxNewTokens, "min_new_tokens", minNewTokens, "0 to max_new_tokens (" + maxNewTokens + ")");
    }

    private static void check(boolean ok, String name, Object value, String range) {
        if (!ok) {
            throw new IllegalArgumentException(name + " must be " + range + ", got " + value);
        }
    }

    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), maxNewTokens, 0, false);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }
}
