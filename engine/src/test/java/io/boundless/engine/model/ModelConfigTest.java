package io.boundless.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.engine.cpu.Rope;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** config.json as transformers 4 and 5 write it: RoPE's theta and Llama 3 scaling moved into rope_parameters. */
class ModelConfigTest {
    static Map<String, Object> llama() {
        Map<String, Object> c = new HashMap<>();
        c.put("model_type", "llama");
        c.put("vocab_size", 128256);
        c.put("hidden_size", 2048);
        c.put("intermediate_size", 8192);
        c.put("num_hidden_layers", 16);
        c.put("num_attention_heads", 32);
        c.put("num_key_value_heads", 8);
        c.put("max_position_embeddings", 131072);
        c.put("rms_norm_eps", 1e-5);
        c.put("eos_token_id", 128001);
        return c;
    }

    static final Map<String, Object> SCALING = Map.of("factor", 32.0, "low_freq_factor", 1.0, "high_freq_factor", 4.0,
            "original_max_position_embeddings", 8192, "rope_type", "llama3");

    @Test
    void transformers4TopLevelThetaAndRopeScaling() {
        Map<String, Object> c = llama();
        c.put("rope_theta", 500000.0);
        c.put("rope_scaling", SCALING);
        ModelConfig m = ModelConfig.fromHuggingFace(c, "config.json");
        assertThat(m.ropeTheta()).isEqualTo(500000.0);
        assertThat(m.ropeScaling()).isEqualTo(new Rope.Llama3Scaling(32, 1, 4, 8192));
    }

    @Test
    void transformers5RopeParameters() {
        Map<String, Object> c = llama();
        Map<String, Object> rp = new HashMap<>(SCALING);
        rp.put("rope_theta", 500000.0);
        c.put("rope_parameters", rp);
        ModelConfig m = ModelConfig.fromHuggingFace(c, "config.json");
        assertThat(m.ropeTheta()).isEqualTo(500000.0);
        assertThat(m.ropeScaling()).isEqualTo(new Rope.Llama3Scaling(32, 1, 4, 8192));

        Map<String, Object> plain = llama();
        plain.put("rope_parameters", Map.of("rope_theta", 1000000.0, "rope_type", "default"));
        ModelConfig q = ModelConfig.fromHuggingFace(plain, "config.json");
        assertThat(q.ropeTheta()).isEqualTo(1000000.0);
        assertThat(q.ropeScaling()).isNull();

        Map<String, Object> yarn = llama();
        yarn.put("rope_parameters", Map.of("rope_theta", 10000.0, "rope_type", "yarn", "factor", 4.0));
        assertThatThrownBy(() -> ModelConfig.fromHuggingFace(yarn, "config.json")).hasMessageContaining("RoPE type yarn is not supported");
    }
}
