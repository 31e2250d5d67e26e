package io.boundless.engine.format;

/**
 * A model file is not what its format says: truncated, corrupt, inconsistent or unsupported. The
 * message names the file and, where there is one, the tensor.
 */
public final class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
