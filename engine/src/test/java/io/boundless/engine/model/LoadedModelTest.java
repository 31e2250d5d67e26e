package io.boundless.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a model directory or file that cannot be served says, before and at load. */
class LoadedModelTest {
    @TempDir
    Path dir;

    @Test
    void inspectGivesTheConfigThatOpenLoadsForEveryArchitectureAndFormat() throws Exception {
        for (ModelConfig c : TestModels.all()) {
            Path hf = dir.resolve(c.arch() + "-hf");
            Path gguf = dir.resolve(c.arch() + ".gguf");
            var weights = ModelWriter.randomWeights(c, 7);
            ModelWriter.writeHuggingFace(hf, c, weights, DType.F32);
            if (c.arch() != Architecture.MISTRAL) {  // GGUF has no mistral architecture: it is llama there
                ModelWriter.writeGguf(gguf, c, weights, DType.F32);
                try (LoadedModel m = LoadedModel.open(gguf)) {
                    assertThat(LoadedModel.inspect(gguf)).isEqualTo(m.config());
                }
            }
            try (LoadedModel m = LoadedModel.open(hf)) {
                assertThat(LoadedModel.inspect(hf)).as(c.arch().toString()).isEqualTo(m.config());
            }
        }
    }

    @Test
    void anUnsupportedArchitectureNamesItAndTheSupportedOnes() throws Exception {
        Path gemma = Files.createDirectories(dir.resolve("gemma"));
        Files.writeString(gemma.resolve("config.json"), """
                {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "hidden_size": 2048, "num_attention_heads": 8,
                 "num_hidden_layers": 18, "vocab_size": 256000, "intermediate_size": 16384, "max_position_embeddings": 8192}""");
        for (var check : List.<Runnable>of(() -> LoadedModel.inspect(gemma), () -> LoadedModel.open(gemma))) {
            assertThatThrownBy(check::run).isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("model_type gemma is not supported (llama, mistral, qwen2, gpt2)");
        }
    }

    @Test
    void aDirectoryWithoutConfigOrSafetensorsSaysWhatIsMissing() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertThatThrownBy(() -> LoadedModel.inspect(empty)).hasMessage(empty + " has no config.json: a Hugging Face model directory holds"
                + " config.json and its weights as *.safetensors");
        Path pytorch = dir.resolve("pytorch");
        ModelWriter.writeHuggingFace(pytorch, TestModels.llama(), ModelWriter.randomWeights(TestModels.llama(), 1), DType.F32);
        Files.move(pytorch.resolve("model.safetensors"), pytorch.resolve("pytorch_model.bin"));
        for (var check : List.<Runnable>of(() -> LoadedModel.inspect(pytorch), () -> LoadedModel.open(pytorch))) {
            assertThatThrownBy(check::run).hasMessageContaining(pytorch + " has no model.safetensors or model.safetensors.index.json")
                    .hasMessageContaining("PyTorch .bin weights are not read");
        }
    }

    @Test
    void aMissingTensorOrAMissingFileIsNamed() throws Exception {
        ModelConfig two = TestModels.gpt2();
        Path hf = dir.resolve("gpt2");
        ModelWriter.writeHuggingFace(hf, two, ModelWriter.randomWeights(two, 3), DType.F32);
        // the config claims a third layer the weights do not have
        String config = Files.readString(hf.resolve("config.json")).replace("\"n_layer\":2", "\"n_layer\":3");
        assertThat(config).contains("\"n_layer\":3");
        Files.writeString(hf.resolve("config.json"), config);
        assertThatThrownBy(() -> LoadedModel.inspect(hf)).isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith(hf + ": tensor h.2.ln_1.weight is missing");
        Path nowhere = dir.resolve("nowhere.gguf");
        assertThatThrownBy(() -> LoadedModel.inspect(nowhere)).hasMessage(nowhere + " does not exist");
    }
}
