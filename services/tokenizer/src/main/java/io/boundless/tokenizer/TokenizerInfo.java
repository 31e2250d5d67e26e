package io.boundless.tokenizer;

import java.util.List;

/**
 * What a model's tokenizer is: its vocabulary size, special tokens and limits.
 *
 * @param bosTokenId  null when the model has no BOS token
 * @param eosTokenId  null when the model has no EOS token
 * @param modelMaxLength 0 when tokenizer_config.json states no real limit
 */
public record TokenizerInfo(String model, Kind kind, int vocabSize, List<SpecialToken> specialTokens,
        Integer bosTokenId, Integer eosTokenId, long modelMaxLength, boolean hasChatTemplate) {

    public enum Kind { HUGGING_FACE, TIKTOKEN }

    public record SpecialToken(String content, int id) {}
}
