package io.boundless.engine.grammar;

/** A grammar, schema, pattern or choice that cannot be compiled; the message says what and where. */
public final class GrammarException extends IllegalArgumentException {
    public GrammarException(String message) {
        super(message);
    }
}
