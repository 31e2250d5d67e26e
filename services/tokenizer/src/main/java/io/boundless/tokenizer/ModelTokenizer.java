package io.boundless.tokenizer;

import io.boundless.tokenizer.template.ChatTemplate;
import io.boundless.tokenizer.template.TemplateException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything the service knows about one model's text handling: its tokenizer, its chat template
 * and the special-token strings that templates see ({@code bos_token}, {@code eos_token}, ...).
 */
public final class ModelTokenizer implements AutoCloseable {
    private final TextTokenizer tokenizer;
    private final TokenizerInfo info;
    private final ChatTemplate chatTemplate;            // null when the model has none
    private final Map<String, Object> templateGlobals;  // special_tokens_map as HF passes it

    public ModelTokenizer(TextTokenizer tokenizer, TokenizerInfo info, ChatTemplate chatTemplate, Map<String, Object> templateGlobals) {
        this.tokenizer = tokenizer;
        this.info = info;
        this.chatTemplate = chatTemplate;
        this.templateGlobals = Map.copyOf(templateGlobals);
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    /** The tool-call format the model's chat template implies ("" when none or no template). */
    public String toolCallFormat() {
        return chatTemplate == null ? "" : chatTemplate.toolCallFormat();
    }

    public TokenizerInfo info() {
        return info;
    }

    public String name() {
        return info.model();
    }

    /** Throws INVALID_ARGUMENT-class errors naming the first id outside the vocabulary. */
    public void checkIds(int[] ids) {
        for (int i = 0; i < ids.length; i++) {
            if (!tokenizer.isValidId(ids[i])) {
                throw new InvalidRequestException("token id " + Integer.toUnsignedString(ids[i]) + " at position " + i
                        + " is outside the vocabulary of " + info.model() + " (size " + info.vocabSize() + ")");
            }
        }
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        checkIds(ids);
        return tokenizer.decode(ids, skipSpecialTokens);
    }

    /**
     * Renders a conversation. {@code override} replaces the model's template when non-null.
     * Variables are HF's: messages, add_generation_prompt, tools (if any), the special tokens, and
     * the caller's extras, which win over everything else.
     */
    public String applyChatTemplate(List<Map<String, Object>> messages, boolean addGenerationPrompt,
            List<Map<String, Object>> tools, Map<String, Object> extra, String override) {
        ChatTemplate template = chatTemplate;
        if (override != null && !override.isEmpty()) {
            template = ChatTemplate.compile(override);
        }
        if (template == null) {
            throw new InvalidRequestException("model " + info.model() + " has no chat template (no chat_template in its"
                    + " tokenizer_config.json and no chat_template.jinja): it is a base model; encode plain text, or pass chat_template"
                    + " in the request");
        }
        Map<String, Object> vars = new HashMap<>(templateGlobals);
        vars.put("messages", messages);
        vars.put("add_generation_prompt", addGenerationPrompt);
        // As apply_chat_template: tools and documents are always defined, None when absent.
        vars.put("tools", tools == null || tools.isEmpty() ? null : tools);
        vars.put("documents", null);
        vars.putAll(extra);
        try {
            return template.render(vars);
        } catch (TemplateException e) {
            throw e;
        } catch (RuntimeException e) {
            // A template bug that our engine surfaced as a Java error still belongs to the request.
            throw new TemplateException("chat template failed: " + e);
        }
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
