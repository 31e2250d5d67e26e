package io.boundless.engine.cuda;

/** A CUDA driver call failed; the message names the call and the driver's error code. */
public final class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }
}
