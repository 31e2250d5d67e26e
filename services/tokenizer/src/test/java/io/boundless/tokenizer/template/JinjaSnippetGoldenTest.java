package io.boundless.tokenizer.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.boundless.tokenizer.TestData;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Each Jinja construct that chat templates use renders as @huggingface/jinja renders it. */
class JinjaSnippetGoldenTest {

    static Stream<Arguments> snippets() {
        JsonNode golden = TestData.golden("jinja_snippets");
        return golden.get("cases").valueStream().map(c -> Arguments.of(c.get("source").asText(), c, golden.get("context")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("snippets")
    void rendersLikeTheReference(String source, JsonNode c, JsonNode context) {
        @SuppressWarnings("unchecked")
        Map<String, Object> vars = TestData.JSON.convertValue(context, Map.class);
        ChatTemplate template = ChatTemplate.compile(source);
        if (c.has("error")) {
            assertThatThrownBy(() -> template.render(vars)).isInstanceOf(TemplateException.class).hasMessageContaining(c.get("error").asText());
        } else {
            assertThat(template.render(vars)).isEqualTo(c.get("text").asText());
        }
    }
}
