package io.boundless.engine.model;

import io.boundless.engine.cpu.Rope;
import java.util.List;

/** Small configurations of every architecture, shaped like the real ones (GQA, biases, tied embeddings, scaling). */
final class TestModels {
    static ModelConfig llama() {
        return new ModelConfig(Architecture.LLAMA, 300, 64, 160, 2, 8, 2, 8, 1e-5f, 500000, new Rope.Llama3Scaling(32, 1, 4, 64),
                256, true, false, 0, 298, List.of(299));
    }

    static ModelConfig mistral() {
        return new ModelConfig(Architecture.MISTRAL, 300, 64, 128, 2, 4, 2, 16, 1e-5f, 10000, null, 256, false, false, 6, 298, List.of(299));
    }

    static ModelConfig qwen2() {
        return new ModelConfig(Architecture.QWEN2, 300, 64, 96, 2, 4, 2, 16, 1e-6f, 1000000, null, 256, true, true, 0, 298, List.of(299));
    }

    static ModelConfig gpt2() {
        return new ModelConfig(Architecture.GPT2, 300, 64, 256, 2, 4, 4, 16, 1e-5f, 0, null, 128, true, true, 0, 298, List.of(299));
    }

    static List<ModelConfig> all() {
        return List.of(llama(), mistral(), qwen2(), gpt2());
    }

    private TestModels() {}
}
