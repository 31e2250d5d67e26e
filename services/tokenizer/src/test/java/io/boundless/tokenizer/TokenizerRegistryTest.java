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
}
