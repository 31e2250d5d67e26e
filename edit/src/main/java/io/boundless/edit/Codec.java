package io.boundless.edit;

import io.boundless.train.Bpe;

/** Text to token ids and back, as the model's tokenizer does it (no special tokens are recognized in text). */
public interface Codec {
    int[] encode(String text);

    String decode(int[] ids);

    /** The codec of a tokenizer that Boundless trained ({@code tokenizer.json} of a trained model). */
    static Codec of(Bpe bpe) {
        return new Codec() {
            @Override
            public int[] encode(String text) {
                return bpe.encode(text);
            }

            @Override
            public String decode(int[] ids) {
                return bpe.decode(ids);
            }
        };
    }
}
