package io.boundless.engine.backend;

/** The configured backend cannot run here; the message says why (no driver, no device, too old a device). */
public final class BackendUnavailableException extends RuntimeException {
    public BackendUnavailableException(String message) {
        super(message);
    }
}
