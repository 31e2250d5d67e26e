package io.boundless.fuzz;

import io.boundless.tokenizer.template.ChatTemplate;
import io.boundless.tokenizer.template.TemplateException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A chat template (a model's, or a request's own chat_template): compiled and rendered on a conversation with a tool
 * call, as the tokenizer service does. It must end, within the interpreter's limits, with text or a TemplateException.
 */
public final class ChatTemplateFuzz {
    private static final Map<String, Object> VARS = new HashMap<>();

    static {
        Map<String, Object> call = Map.of("type", "function", "function", Map.of("name", "get_weather", "arguments", Map.of("city", "Paris")));
        VARS.put("messages", List.of(Map.of("role", "system", "content", "Be brief."), Map.of("role", "user", "content", "Weather in Paris?"),
                Map.of("role", "assistant", "content", "", "tool_calls", List.of(call)), Map.of("role", "tool", "content", "sunny")));
        VARS.put("add_generation_prompt", true);
        VARS.put("tools", List.of(Map.of("type", "function", "function", Map.of("name", "get_weather", "parameters", Map.of("type", "object")))));
        VARS.put("documents", null);
        VARS.put("bos_token", "<s>");
        VARS.put("eos_token", "</s>");
    }

    public static void fuzzerTestOneInput(byte[] data) {
        String source = new String(data, StandardCharsets.UTF_8);
        try {
            ChatTemplate t = ChatTemplate.compile(source);
            t.render(new HashMap<>(VARS));
        } catch (TemplateException e) {
            Findings.allow(e, TemplateException.class);
        }
    }
}
