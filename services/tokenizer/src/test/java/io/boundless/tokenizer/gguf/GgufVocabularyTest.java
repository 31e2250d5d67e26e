package io.boundless.tokenizer.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.format.Gguf;
import io.boundless.engine.format.GgufTokenizer;
import io.boundless.engine.format.ModelFormatException;
import io.boundless.tokenizer.TestData;
import io.boundless.tokenizer.hf.HuggingFaceTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * llama.cpp's vocabulary tests: every {@code models/ggml-vocab-*.gguf} with test data gives, for each of its
 * {@code .inp} strings, the ids of its {@code .out} line (those the original Hugging Face tokenizer gives), once its
 * GGUF tokenizer is converted (GgufTokenizer) and run like any tokenizer.json; or it is listed here as unsupported,
 * with the reason the conversion gives.
 */
class GgufVocabularyTest {
    static final Path MODELS = TestData.root().resolve("references/llama.cpp/models");

    /** Vocabularies whose GGUF tokenizer we do not reproduce, and why (the converter's refusal says the same). */
    static final Map<String, String> UNSUPPORTED = Map.of(
            "bert-bge", "GGUF tokenizer model 'bert'",
            "gemma-4", "GGUF tokenizer model 'gemma4'",
            "command-r", "GGUF pre-tokenizer 'command-r'",
            "deepseek-coder", "GGUF pre-tokenizer 'deepseek-coder'",
            "deepseek-llm", "GGUF pre-tokenizer 'deepseek-llm'",
            "falcon", "GGUF pre-tokenizer 'falcon'",
            "qwen35", "GGUF pre-tokenizer 'qwen35'");

    static Stream<Arguments> vocabularies() throws Exception {
        if (!Files.isDirectory(MODELS)) {
            throw new IllegalStateException("no " + MODELS + ": run bin/llama-cpp-data (bin/test does)");
        }
        try (Stream<Path> s = Files.list(MODELS)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".gguf.inp")).sorted()
                    .map(n -> Arguments.of(n.substring("ggml-vocab-".length(), n.length() - ".gguf.inp".length()))).toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vocabularies")
    void theConvertedTokenizerGivesTheOriginalIds(String name) throws Exception {
        Path gguf = MODELS.resolve("ggml-vocab-" + name + ".gguf");
        Map<String, Object> meta;
        try (Gguf g = Gguf.open(gguf)) {
            meta = g.metadata();
        }
        if (UNSUPPORTED.containsKey(name)) {
            assertThatThrownBy(() -> GgufTokenizer.convert(meta)).isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(UNSUPPORTED.get(name));
            return;
        }
        GgufTokenizer.Files files = GgufTokenizer.convert(meta);
        Path dir = Files.createTempDirectory("gguf-" + name);
        Files.writeString(dir.resolve("tokenizer.json"), files.tokenizerJson());
        List<String> inputs = Arrays.asList(Files.readString(MODELS.resolve("ggml-vocab-" + name + ".gguf.inp")).split("\n__ggml_vocab_test__\n", -1));
        List<String> outputs = Files.readAllLines(MODELS.resolve("ggml-vocab-" + name + ".gguf.out"));
        try (HuggingFaceTokenizer t = HuggingFaceTokenizer.load(dir.resolve("tokenizer.json"), TestData.JSON)) {
            int n = Math.min(inputs.size(), outputs.size());
            assertThat(n).isGreaterThan(20);
            for (int k = 0; k < n; k++) {
                String input = k == inputs.size() - 1 && inputs.get(k).endsWith("\n__ggml_vocab_test__") ? inputs.get(k) : inputs.get(k);
                int[] expected = outputs.get(k).isBlank() ? new int[0]
                        : Arrays.stream(outputs.get(k).strip().split(" +")).mapToInt(Integer::parseInt).toArray();
                assertThat(t.encode(input, false, false).ids()).as("%s #%d %s", name, k, input.replace("\n", "\\n")).isEqualTo(expected);
            }
        }
    }
}
