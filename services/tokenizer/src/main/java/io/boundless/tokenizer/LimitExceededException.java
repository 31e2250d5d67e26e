package io.boundless.tokenizer;

/** The server is at a capacity limit (not the request's fault): RESOURCE_EXHAUSTED, retry later. */
public final class LimitExceededException extends RuntimeException {
    public LimitExceededException(String message) {
        super(message);
    }
}
