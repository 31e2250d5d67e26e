package io.boundless.engine.backend;

import io.boundless.engine.cuda.Cuda;
import io.boundless.engine.cuda.CudaBackend;
import io.boundless.engine.model.ModelWeights;
import io.boundless.engine.sched.EngineConfig;
import java.util.function.IntFunction;
import java.util.logging.Logger;

/**
 * Picks and builds the backend an {@link EngineConfig} asks for: {@code cpu}; {@code cuda}, which
 * is a {@link BackendUnavailableException} saying why when there is no usable device (no driver,
 * no device, too old a device, a model the kernels cannot run, no memory for the cache);
 * {@code auto}, which is CUDA when it can be built and the CPU otherwise, logging why.
 */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());

    /** What {@link #choose} decided and why. */
    public record Choice(BackendKind kind, String reason) {}

    /** The decision alone, from the configured kind and what the probe found. */
    public static Choice choose(BackendKind requested, Cuda.Probe probe) {
        return switch (requested) {
            case CPU -> new Choice(BackendKind.CPU, "configured");
            case CUDA -> {
                if (!probe.usable()) {
                    throw new BackendUnavailableException("the cuda backend was configured, but CUDA is not usable here: " + probe.reason());
                }
                yield new Choice(BackendKind.CUDA, "configured; " + probe.describe());
            }
            case AUTO -> probe.usable() ? new Choice(BackendKind.CUDA, "auto: " + probe.describe())
                    : new Choice(BackendKind.CPU, "auto: no usable CUDA device (" + probe.reason() + ")");
        };
    }

    public static Backend create(ModelWeights weights, EngineConfig config) {
        return create(weights, config, Cuda::probe);
    }

    /** As {@link #create(ModelWeights, EngineConfig)}, with the device probe given (tests pass one that finds a device). */
    public static Backend create(ModelWeights weights, EngineConfig config, IntFunction<Cuda.Probe> prober) {
        Cuda.Probe probe = config.backend() == BackendKind.CPU ? null : prober.apply(config.cuda().device());
        Choice choice = config.backend() == BackendKind.CPU ? new Choice(BackendKind.CPU, "configured") : choose(config.backend(), probe);
        if (choice.kind() == BackendKind.CUDA) {
            try {
                Backend b = new CudaBackend(weights, probe, config.cuda(), config.blockSize(), config.maxBatchTokens(), config.maxRunning());
                LOG.info(() -> "backend cuda (" + choice.reason() + "): " + b.device());
                return b;
            } catch (BackendUnavailableException e) {
                if (config.backend() == BackendKind.CUDA) {
                    throw new BackendUnavailableException("the cuda backend was configured, but cannot run: " + e.getMessage());
                }
                LOG.warning(() -> "backend auto: CUDA is present but cannot run this model (" + e.getMessage() + "); using the CPU");
            }
        } else {
            LOG.info(() -> "backend cpu (" + choice.reason() + ")");
        }
        return new CpuBackend(weights, config.threads(), config.blockSize(), config.kvBudgetBytes());
    }

    private Backends() {}
}
