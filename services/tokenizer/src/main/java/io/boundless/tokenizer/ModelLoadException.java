package io.boundless.tokenizer;

/** A model's tokenizer files exist but cannot be loaded (unreadable, corrupt, unsupported). */
public final class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
