package io.boundless.tokenizer;

/** The committed test model store (testdata/store: llama3, qwen3, llama2, each version "1"). */
public final class TestStores {
    private static TokenizerRegistry shared;

    /** One registry shared by the tests of a JVM (loading tokenizers costs seconds). */
    public static synchronized TokenizerRegistry sharedRegistry() {
        if (shared == null) {
            shared = new TokenizerRegistry(TestData.root().resolve("store"), TestData.JSON);
        }
        return shared;
    }

    private TestStores() {}
}
