package io.boundless.fuzz;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.engine.grammar.TokenVocabulary;
import io.boundless.tokenizer.InvalidRequestException;
import io.boundless.tokenizer.ModelLoadException;
import io.boundless.tokenizer.TokenizerRegistry;
import io.boundless.tokenizer.template.TemplateException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A model-store entry's tokenizer files, as the tokenizer service loads them: tokenizer.json (first byte even; the
 * default model's tokenizer_config.json beside it) or tokenizer_config.json (odd; the default model's tokenizer.json
 * beside it), then a chat rendered and a text encoded and decoded. tokenizer.json also goes through the engine's
 * token vocabulary (what structured outputs mask with).
 */
public final class TokenizerFilesFuzz {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path STORE = Findings.scratch("tokenizer");
    private static final Path DIR = STORE.resolve("m").resolve("1");
    private static final byte[] TOKENIZER;
    private static final byte[] CONFIG;

    static {
        try {
            Path models = Path.of(System.getProperty("boundless.models", "models")).resolve("boundless-world");
            TOKENIZER = Files.readAllBytes(models.resolve("tokenizer.json"));
            CONFIG = Files.readAllBytes(models.resolve("tokenizer_config.json"));
            Files.createDirectories(DIR);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static void fuzzerTestOneInput(byte[] data) throws IOException {
        if (data.length == 0) {
            return;
        }
        boolean config = (data[0] & 1) == 1;
        byte[] file = java.util.Arrays.copyOfRange(data, 1, data.length);
        Files.write(DIR.resolve("tokenizer.json"), config ? TOKENIZER : file);
        Files.write(DIR.resolve("tokenizer_config.json"), config ? file : CONFIG);
        try (TokenizerRegistry registry = new TokenizerRegistry(STORE, JSON)) {
            var t = registry.get("m/1");
            int[] ids = t.tokenizer().encode("Hello, world! 123", true, false).ids();
            t.checkIds(ids);
            t.decode(ids, false);
            if (t.info().hasChatTemplate()) {
                try {
                    t.applyChatTemplate(List.of(Map.of("role", "user", "content", "Hi")), true, List.of(), Map.of(), null);
                } catch (TemplateException e) {
                    Findings.allow(e, TemplateException.class);
                }
            }
        } catch (ModelLoadException | InvalidRequestException e) {
            Findings.allow(e, ModelLoadException.class, InvalidRequestException.class);
        }
        if (!config) {
            try {
                TokenVocabulary.fromTokenizerJson(new String(file, java.nio.charset.StandardCharsets.UTF_8), 1 << 16);
            } catch (IllegalArgumentException e) {
                Findings.allow(e, IllegalArgumentException.class);
            }
        }
    }
}
