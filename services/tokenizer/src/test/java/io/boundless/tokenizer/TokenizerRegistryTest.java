package io.boundless.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerRegistryTest {

    @Test
    void ordersVersionsByTheirNumbers() {
        List<String> versions = new ArrayList<>(List.of("v10", "v9", "v2", "1.10.0", "1.9.3", "2024-01-05", "2024-01-10"));
        versions.sort(TokenizerRegistry.VERSION_ORDER);
        assertThat(versions).containsExactly("1.9.3", "1.10.0", "2024-01-05", "2024-01-10", "v2", "v9", "v10");
    }

    @Test
    void resolvesTheNewestVersionAndPicksUpANewOne(@TempDir Path store) throws IOException {
        Path llama = TestData.lenml("llama3");
        for (String v : new String[] {"v9", "v10"}) {
            Path dir = Files.createDirectories(store.resolve("m").resolve(v));
            Files.createSymbolicLink(dir.resolve("tokenizer.json"), llama.resolve("tokenizer.json").toAbsolutePath());
        }
        try (TokenizerRegistry registry = new TokenizerRegistry(store, TestData.JSON)) {
            assertThat(registry.get("m").name()).isEqualTo("m/v10");
            assertThat(registry.get("m/v9").name()).isEqualTo("m/v9");
            assertThat(registry.get("m").info().hasChatTemplate()).isFalse();
        }
    }

    @Test
    void rejectsNamesThatLeaveTheStore(@TempDir Path store) {
        try (TokenizerRegistry registry = new TokenizerRegistry(store, TestData.JSON)) {
            for (String bad : new String[] {"..", "../x", "a/../b", "/etc/passwd", "a/b/c", "a//b", ""}) {
                assertThatThrownBy(() -> registry.get(bad)).as(bad).isInstanceOf(InvalidRequestException.class);
            }
            assertThatThrownBy(() -> registry.get("absent")).isInstanceOf(UnknownModelException.class).hasMessageContaining("absent");
        }
    }

    @Test
    void aCorruptTokenizerIsALoadErrorNamingTheFile(@TempDir Path store) throws IOException {
        Path dir = Files.createDirectories(store.resolve("broken").resolve("1"));
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [");
        Path dir2 = Files.createDirectories(store.resolve("odd").resolve("1"));
        Files.writeString(dir2.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Nonsense\", \"vocab\": {\"a\": 0}}}");
        try (TokenizerRegistry registry = new TokenizerRegistry(store, TestData.JSON)) {
            assertThatThrownBy(() -> registry.get("broken")).isInstanceOf(ModelLoadException.class).hasMessageContaining("tokenizer.json");
            assertThatThrownBy(() -> registry.get("odd")).isInstanceOf(ModelLoadException.class).hasMessageContaining("odd");
        }
    }

    /** transformers 5's save_pretrained writes the template to chat_template.jinja only; its loader lets the files win. */
    @Test
    void aChatTemplateFileReplacesTheConfigsTemplateAsTransformersLoadsIt(@TempDir Path store) throws IOException {
        Path llama = TestData.lenml("llama2");  // the smallest vocabulary: six loads
        String config = "{\"chat_template\": \"CONFIG {{ messages[0]['content'] }}\"}";
        Path onlyConfig = version(store, "config-only", llama, config);
        Path withFile = version(store, "with-file", llama, config);
        Files.writeString(withFile.resolve("chat_template.jinja"), "FILE {{ messages[0]['content'] }}");
        Path onlyFile = version(store, "file-only", llama, "{}");
        Files.writeString(onlyFile.resolve("chat_template.jinja"), "FILE {{ messages[0]['content'] }}");
        Path namedDefault = version(store, "named-default", llama, config);
        Files.createDirectories(namedDefault.resolve("chat_templates"));
        Files.writeString(namedDefault.resolve("chat_templates/default.jinja"), "NAMED {{ messages[0]['content'] }}");
        Path namedOther = version(store, "named-other", llama, config);
        Files.createDirectories(namedOther.resolve("chat_templates"));
        Files.writeString(namedOther.resolve("chat_templates/tool_use.jinja"), "TOOLS {{ messages[0]['content'] }}");
        version(store, "listed-default", llama, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"TOOLS\"},"
                + " {\"name\": \"default\", \"template\": \"LISTED {{ messages[0]['content'] }}\"}]}");
        version(store, "listed-tools-only", llama, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"TOOLS\"}]}");
        Path broken = version(store, "broken-file", llama, "{}");
        Files.writeString(broken.resolve("chat_template.jinja"), "{% if %}");
        var hi = List.<java.util.Map<String, Object>>of(java.util.Map.of("role", "user", "content", "hi"));
        try (TokenizerRegistry registry = new TokenizerRegistry(store, TestData.JSON)) {
            assertThat(render(registry, "config-only", hi)).isEqualTo("CONFIG hi");
            assertThat(render(registry, "with-file", hi)).isEqualTo("FILE hi");
            assertThat(render(registry, "file-only", hi)).isEqualTo("FILE hi");
            assertThat(registry.get("file-only").info().hasChatTemplate()).isTrue();
            assertThat(render(registry, "named-default", hi)).isEqualTo("NAMED hi");
            assertThat(render(registry, "listed-default", hi)).isEqualTo("LISTED hi");
            assertThat(registry.get("listed-tools-only").info().hasChatTemplate()).isFalse();
            assertThat(registry.get("config-only").info().hasChatTemplate()).isTrue();
            // named templates without a default replace the config's too: there is no default template then
            assertThat(registry.get("named-other").info().hasChatTemplate()).isFalse();
            assertThatThrownBy(() -> render(registry, "named-other", hi)).isInstanceOf(InvalidRequestException.class)
                    .hasMessageContaining("has no chat template");
            assertThatThrownBy(() -> registry.get("broken-file")).isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining(broken.resolve("chat_template.jinja") + " does not parse");
        }
    }

    private static Path version(Path store, String model, Path tokenizer, String config) throws IOException {
        Path dir = Files.createDirectories(store.resolve(model).resolve("1"));
        Files.createSymbolicLink(dir.resolve("tokenizer.json"), tokenizer.resolve("tokenizer.json").toAbsolutePath());
        Files.writeString(dir.resolve("tokenizer_config.json"), config);
        return dir;
    }

    private static String render(TokenizerRegistry registry, String model, List<java.util.Map<String, Object>> messages) {
        return registry.get(model).applyChatTemplate(messages, false, List.of(), java.util.Map.of(), null);
    }
}
