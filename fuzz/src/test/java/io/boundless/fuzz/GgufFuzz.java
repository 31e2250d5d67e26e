package io.boundless.fuzz;

import io.boundless.engine.format.Gguf;
import io.boundless.engine.format.GgufTokenizer;
import io.boundless.engine.format.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A GGUF file: its header, metadata and tensor infos, and the tokenizer its metadata carries (converted to tokenizer.json). */
public final class GgufFuzz {
    private static final Path FILE = Findings.scratch("gguf").resolve("model.gguf");

    public static void fuzzerTestOneInput(byte[] data) throws IOException {
        Files.write(FILE, data);
        Gguf g;
        try {
            g = Gguf.open(FILE);
        } catch (ModelFormatException e) {
            Findings.allow(e, ModelFormatException.class);
            return;
        }
        try (g) {
            g.tensors().size();
            if (g.metadata().containsKey("tokenizer.ggml.model")) {
                try {
                    GgufTokenizer.convert(g.metadata());
                } catch (IllegalArgumentException | ModelFormatException e) {
                    Findings.allow(e, IllegalArgumentException.class, ModelFormatException.class);
                }
            }
        }
    }
}
