package io.boundless.engine.backend;

/**
 * The backend's device failed in a way it does not recover from (a CUDA error poisons its context
 * until the process ends): the engine stops taking requests and says so, so that the replica is
 * restarted and traffic goes elsewhere.
 */
public class BackendFailure extends RuntimeException {
    public BackendFailure(String message) {
        super(message);
    }
}
