package io.boundless.tokenizer;

/** A request named a model that is neither built in nor in the model store. */
public final class UnknownModelException extends RuntimeException {
    public UnknownModelException(String message) {
        super(message);
    }
}
