package io.boundless.tokenizer.template;

/**
 * A chat template failed to parse or render. The message is the template's own (for example the
 * text given to {@code raise_exception}) so that a client sees why its conversation was refused.
 */
public final class TemplateException extends RuntimeException {
    public TemplateException(String message) {
        super(message);
    }
}
