package io.boundless.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What boundless up says of a --model before it starts anything. */
class ModelSourceTest {
    private static final ModelConfig SMALL = new ModelConfig(Architecture.LLAMA, 300, 32, 64, 1, 4, 2, 8, 1e-5f, 10000, null, 128,
            true, false, 0, 1, List.of(2));
    private static final String TOKENIZER = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}";

    @TempDir
    Path dir;

    private Path hfModel(String name, String tokenizerConfig) throws IOException {
        Path m = dir.resolve(name);
        ModelWriter.writeHuggingFace(m, SMALL, ModelWriter.randomWeights(SMALL, 5), DType.F32);
        Files.writeString(m.resolve("tokenizer.json"), TOKENIZER);
        if (tokenizerConfig != null) {
            Files.writeString(m.resolve("tokenizer_config.json"), tokenizerConfig);
        }
        return m;
    }

    private static void refused(Path model, Path template, String line) {
        assertThatThrownBy(() -> ModelSource.check(model, template)).isInstanceOf(ModelSource.Refused.class).hasMessage(line);
    }

    @Test
    void aServableDirectoryIsDescribedWithItsNameAndTemplateFile() throws IOException {
        Path chat = hfModel("chat", "{\"chat_template\": \"{{ messages[0]['content'] }}\"}");
        ModelSource s = ModelSource.check(chat, null);
        assertThat(s.name()).isEqualTo("chat");
        assertThat(s.path()).isEqualTo(chat.toAbsolutePath());
        assertThat(s.tokenizerDir()).isEqualTo(chat.toAbsolutePath());
        assertThat(s.config()).isEqualTo(SMALL);
        assertThat(s.chatTemplate()).isNull();
        // whether it can chat is the tokenizer service's rule (TokenizerRegistryTest), asked once it runs
        Path template = Files.writeString(dir.resolve("t.jinja"), "{{ messages }}");
        assertThat(ModelSource.check(hfModel("base", "{\"bos_token\": \"<s>\"}"), template).chatTemplate()).isEqualTo(template.toAbsolutePath());
    }

    @Test
    void aStoreVersionIsNamedByItsModel() throws IOException {
        Path v = hfModel("mistral-7b/3", null);
        assertThat(ModelSource.check(v, null).name()).isEqualTo("mistral-7b");
    }

    @Test
    void eachProblemIsOneLineNamingWhatIsMissingOrUnsupported() throws IOException {
        Path nowhere = dir.resolve("nowhere");
        refused(nowhere, null, nowhere + " does not exist (--model takes a Hugging Face model directory or a .gguf file)");

        Path gemma = Files.createDirectories(dir.resolve("gemma"));
        Files.writeString(gemma.resolve("config.json"), "{\"model_type\": \"gemma\", \"hidden_size\": 8}");
        Files.writeString(gemma.resolve("tokenizer.json"), TOKENIZER);
        refused(gemma, null, gemma.resolve("config.json") + ": model_type gemma is not supported (llama, mistral, qwen2, gpt2)");

        Path sentencePiece = hfModel("sp", "{}");
        Files.delete(sentencePiece.resolve("tokenizer.json"));
        Files.writeString(sentencePiece.resolve("tokenizer.model"), "spm");
        refused(sentencePiece, null, sentencePiece + " has no tokenizer.json (the tokenizer service reads Hugging Face tokenizer.json; a"
                + " SentencePiece tokenizer.model alone is not read: AutoTokenizer.from_pretrained(dir).save_pretrained(dir) in transformers"
                + " writes tokenizer.json)");

        Path weightless = hfModel("weightless", "{}");
        Files.delete(weightless.resolve("model.safetensors"));
        refused(weightless, null, weightless + " has no model.safetensors or model.safetensors.index.json");

        Path notAModel = Files.writeString(dir.resolve("notes.txt"), "hello");
        refused(notAModel, null, notAModel + " is neither a Hugging Face model directory nor a GGUF file");

        Path base = hfModel("base", "{}");
        Path missing = dir.resolve("missing.jinja");
        refused(base, missing, "--chat-template " + missing + " does not exist");
        Path empty = Files.writeString(dir.resolve("empty.jinja"), "  \n");
        refused(base, empty, "--chat-template " + empty + " is empty");
        Path binary = Files.write(dir.resolve("binary.jinja"), new byte[] {(byte) 0xC3, (byte) 0x28});
        refused(base, binary, "--chat-template " + binary + " is not UTF-8 text");
    }

    @Test
    void aGgufFileServesWithItsOwnTokenizerOrTheOneBesideIt() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("downloads"));
        Path gguf = folder.resolve("tiny-llama.Q8_0.gguf");
        // the writer's synthetic test vocabulary names no pre-tokenizer we reproduce: refused, with what to do instead
        ModelWriter.writeGguf(gguf, SMALL, ModelWriter.randomWeights(SMALL, 5), DType.Q8_0);
        refused(gguf, null, "tiny-llama.Q8_0.gguf: GGUF pre-tokenizer 'default' is not supported (supported: gpt-2, gpt-neox, llama-bpe, mpt,"
                + " qwen2, refact, starcoder); or put the model's tokenizer.json (and tokenizer_config.json, which holds its chat template)"
                + " beside it in " + folder);
        // a GGUF that carries a real (byte-level BPE) tokenizer and a chat template serves with them
        Path hf = Files.createDirectories(dir.resolve("hf-tokenizer"));
        StringBuilder vocab = new StringBuilder("{");
        char[] alphabet = ModelWriter.byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            vocab.append(b == 0 ? "" : ", ").append(io.boundless.engine.format.Json.write(String.valueOf(alphabet[b]))).append(": ").append(b);
        }
        Files.writeString(hf.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": " + vocab + "}, \"merges\": []},"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
                + " \"added_tokens\": [{\"id\": 2, \"content\": \"<|end|>\", \"special\": true}]}");
        Files.writeString(hf.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|end|>\", \"chat_template\": \"{{ messages[0]['content'] }}\"}");
        ModelWriter.writeGguf(gguf, SMALL, ModelWriter.randomWeights(SMALL, 5), DType.Q8_0, hf);
        ModelSource own = ModelSource.check(gguf, null);
        assertThat(own.ggufTokenizer()).isNotNull();
        assertThat(own.ggufTokenizer().tokenizerConfigJson()).contains("\"chat_template\":\"{{ messages[0]['content'] }}\"")
                .contains("\"eos_token\":\"<|end|>\"");
        assertThat(own.ggufTokenizer().tokenizerJson()).contains("\"type\":\"ByteLevel\"");
        refused(folder, null, folder + " has no config.json, so it is not a Hugging Face model directory; it holds tiny-llama.Q8_0.gguf:"
                + " give that file, --model " + gguf);
        Files.writeString(folder.resolve("tokenizer.json"), TOKENIZER);
        ModelSource s = ModelSource.check(gguf, null);
        assertThat(s.name()).isEqualTo("tiny-llama.Q8_0");
        assertThat(s.tokenizerDir()).isEqualTo(folder);
        assertThat(s.ggufTokenizer()).as("a tokenizer.json beside the file wins").isNull();
        assertThat(s.config().layers()).isEqualTo(1);
    }
}
