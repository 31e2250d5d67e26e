package io.boundless.tokenizer;

/** A request that cannot be served as given; the message names the offending value and the limit. */
public final class InvalidRequestException extends RuntimeException {
    public InvalidRequestException(String message) {
        super(message);
    }
}
