package io.boundless.engine.cuda;

import io.boundless.engine.backend.BackendFailure;

/**
 * A CUDA driver call failed; the message names the call and the driver's error code. A failure of
 * the device (a fault in a kernel leaves the context unusable), so the engine stops on it.
 */
public final class CudaException extends BackendFailure {
    public CudaException(String message) {
        super(message);
    }
}
