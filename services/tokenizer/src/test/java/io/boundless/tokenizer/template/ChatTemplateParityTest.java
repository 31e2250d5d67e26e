package io.boundless.tokenizer.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.boundless.tokenizer.TestData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The real chat templates of llama.cpp's {@code models/templates} (Llama 3.x, Qwen, Mistral, Hermes, Granite,
 * Phi, DeepSeek, Gemma, gpt-oss, Command-R, functionary, ...) render byte for byte as transformers renders them,
 * on every conversation shape of {@code testdata/chat-templates/shapes.json}, or fail where transformers raises.
 * The goldens come from {@code testdata/references/chat-template-goldens.py}; bin/test checks they are still
 * what transformers renders.
 */
class ChatTemplateParityTest {
    static final Path GOLDENS = TestData.root().resolve("chat-templates");
    static final Path TEMPLATES = TestData.root().resolve("references/llama.cpp/models/templates");
    static final JsonNode SPEC = TestData.read(GOLDENS.resolve("shapes.json"));
    /** transformers' renders were made with strftime_now pinned to this moment. */
    static final ZonedDateTime PINNED = ZonedDateTime.of(2026, 1, 15, 9, 30, 0, 0, ZoneOffset.UTC);

    static Stream<Path> goldens() {
        try (Stream<Path> s = Files.list(GOLDENS)) {
            return s.filter(p -> !p.getFileName().toString().equals("shapes.json")).sorted().toList().stream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Stream<Arguments> cases() {
        return goldens().flatMap(p -> {
            JsonNode golden = TestData.read(p);
            String name = golden.get("template").asText();
            return golden.get("renders").propertyStream().map(e -> Arguments.of(name, e.getKey(), e.getValue()));
        });
    }

    @Test
    void everyTemplateOfTheSetHasGoldensAndIsTheOneTheyWereMadeFrom() throws Exception {
        if (!Files.isDirectory(TEMPLATES)) {
            throw new IllegalStateException("no " + TEMPLATES + ": run bin/llama-cpp-data (bin/test does)");
        }
        List<String> templates;
        try (Stream<Path> s = Files.list(TEMPLATES)) {
            templates = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".jinja")).sorted().toList();
        }
        assertThat(templates).hasSizeGreaterThanOrEqualTo(60);
        assertThat(goldens().map(p -> TestData.read(p).get("template").asText()).toList()).isEqualTo(templates);
        for (Path p : goldens().toList()) {
            JsonNode golden = TestData.read(p);
            byte[] source = Files.readAllBytes(TEMPLATES.resolve(golden.get("template").asText()));
            assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(source)))
                    .as(golden.get("template").asText()).isEqualTo(golden.get("sha256").asText());
            assertThat(golden.get("renders").size()).isGreaterThanOrEqualTo(8);
        }
    }

    @Test
    void theToolCallFormatComesFromTheTemplate() throws IOException {
        Map<String, String> expected = Map.of("Qwen-Qwen3-0.6B", "hermes", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "hermes",
                "Qwen-Qwen2.5-7B-Instruct", "hermes", "meta-llama-Llama-3.1-8B-Instruct", "llama3_json", "meta-llama-Llama-3.3-70B-Instruct",
                "llama3_json", "mistralai-Mistral-Nemo-Instruct-2407", "mistral", "ibm-granite-granite-3.3-2B-Instruct", "granite",
                "meetkai-functionary-medium-v3.1", "functionary", "google-gemma-2-2b-it", "");
        for (var e : expected.entrySet()) {
            String source = Files.readString(TEMPLATES.resolve(e.getKey() + ".jinja"), StandardCharsets.UTF_8);
            assertThat(ChatTemplate.compile(source).toolCallFormat()).as(e.getKey()).isEqualTo(e.getValue());
        }
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void rendersExactlyAsTransformersDoes(String template, String shape, JsonNode expected) throws IOException {
        String source = Files.readString(TEMPLATES.resolve(template), StandardCharsets.UTF_8);
        JsonNode s = SPEC.get("shapes").get(shape);
        Map<String, Object> vars = new HashMap<>(TestData.JSON.convertValue(SPEC.get("special_tokens"), Map.class));
        vars.put("messages", TestData.JSON.convertValue(s.get("messages"), List.class));
        vars.put("add_generation_prompt", s.get("add_generation_prompt").asBoolean());
        // apply_chat_template always passes tools and documents, None when absent.
        vars.put("tools", s.has("tools") ? TestData.JSON.convertValue(SPEC.get("tools"), List.class) : null);
        vars.put("documents", null);
        vars.put("strftime_now", (Values.Callable) (args, kw) -> Interpreter.strftime(Values.str(args.getFirst()), PINNED));
        if (expected.has("error")) {
            assertThatThrownBy(() -> ChatTemplate.compile(source).render(vars))
                    .as("transformers raises %s", expected.get("error").asText())
                    .isInstanceOf(TemplateException.class);
        } else {
            assertThat(ChatTemplate.compile(source).render(vars)).isEqualTo(expected.get("text").asText());
        }
    }
}
