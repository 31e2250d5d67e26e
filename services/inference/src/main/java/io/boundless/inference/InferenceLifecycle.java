package io.boundless.inference;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.boundless.engine.backend.BackendKind;
import io.boundless.engine.backend.BackendUnavailableException;
import io.boundless.engine.cuda.CudaOptions;
import io.boundless.engine.cuda.Precision;
import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.sched.Sequence;
import io.boundless.engine.sched.SequenceListener;
import io.quarkus.grpc.runtime.health.GrpcHealthStorage;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

/** Loads the model, starts the engine, runs a warm-up generation, and only then reports ready. */
@ApplicationScoped
public class InferenceLifecycle {
    static final String GRPC_SERVICE = "boundless.inference.v1.Inference";
    private static final Logger LOG = Logger.getLogger(InferenceLifecycle.class);

    @Inject
    InferenceConfig config;

    @Inject
    GrpcHealthStorage grpcHealth;

    private volatile LoadedModel model;
    private volatile Engine engine;
    private volatile String modelName;
    private volatile Overlays overlays;
    private volatile String defaultVersion;
    private volatile boolean ready;
    private volatile String notReadyReason = "starting: loading the model";

    void onStart(@Observes StartupEvent event) {
        grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
        grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.NOT_SERVING);
        BackendKind backend;
        CudaOptions cuda;
        try {
            backend = BackendKind.parse(config.backend());
            InferenceConfig.Cuda c = config.cuda();
            cuda = new CudaOptions(c.device(), c.memoryFraction(), Precision.parse(c.precision()), c.graphs(), false);
        } catch (IllegalArgumentException e) {
            cannotStart(e.getMessage());
            return;
        }
        try {
            Path path = config.model().orElse(null);
            if (path == null) {
                path = DefaultModel.materialize();
                modelName = DefaultModel.NAME;
                LOG.warnf("no model configured (boundless.inference.model): serving %s, a small RANDOM-WEIGHT Llama-style model"
                        + " written to %s. It generates tokens, not language.", DefaultModel.NAME, path);
            } else {
                modelName = DefaultModel.nameOf(path);
            }
            modelName = config.modelName().orElse(modelName);
            long t0 = System.nanoTime();
            Path store = config.store().orElse(Overlays.storeOf(path));
            if (java.nio.file.Files.isRegularFile(path.resolve(io.boundless.engine.model.DeltaVersion.MANIFEST))) {
                // a delta version on its own: its base's weights, with the delta served to every request that names none
                var manifest = io.boundless.engine.model.DeltaVersion.read(path);
                defaultVersion = store.relativize(path.toAbsolutePath().normalize()).toString().replace('\\', '/');
                path = store.resolve(manifest.base());
                LOG.infof("%s is a delta version of %s: serving it over that version's weights", defaultVersion, manifest.base());
            }
            model = LoadedModel.open(path);
            overlays = new Overlays(store, path, model.config(), config.maxVersions());
            if (defaultVersion != null) {
                overlays.get(defaultVersion);
            }
            int threads = config.threads().orElse(Runtime.getRuntime().availableProcessors());
            engine = new Engine(model.weights(), new EngineConfig(config.blockSize(), (long) config.kvCacheMib() << 20,
                    config.maxBatchTokens(), config.maxRunning(), config.maxWaiting(), threads, backend, cuda));
            try {
                io.boundless.engine.grammar.TokenVocabulary.forModel(path, model.config().vocabSize()).ifPresentOrElse(engine::setVocabulary,
                        () -> LOG.warnf("%s has no tokenizer.json or GGUF tokenizer metadata: structured outputs are refused", modelName));
            } catch (io.boundless.engine.grammar.GrammarException e) {
                LOG.warnf("structured outputs are refused for %s: %s", modelName, e.getMessage());
            }
            engine.onFailure(f -> {
                // the device is gone for this process: out of rotation (readiness, gRPC health) and restarted (liveness)
                LOG.errorf("the %s backend failed; this replica serves no more requests: %s", engine.backendName(), f.getMessage());
                grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
                grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.NOT_SERVING);
            });
            engine.start();
            LOG.infof("loaded %s (%s, %d layers, vocabulary %d) in %d ms on %s: %s; KV cache %d blocks of %d tokens", modelName,
                    model.config().arch(), model.config().layers(), model.config().vocabSize(), (System.nanoTime() - t0) / 1_000_000,
                    engine.backendName(), engine.device(), engine.totalBlocks(), config.blockSize());
            warmUp();
            ready = true;
            grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.SERVING);
            grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.SERVING);
        } catch (BackendUnavailableException | ModelFormatException | java.io.UncheckedIOException | io.grpc.StatusRuntimeException e) {
            // the configured model or backend cannot be served here: no retry helps, so the process says why and exits
            closeModel();
            cannotStart(e.getMessage());
        } catch (java.io.IOException e) {
            closeModel();
            cannotStart(e.getMessage());
        } catch (RuntimeException e) {
            closeModel();
            LOG.error("loading failed", e);  // not the configuration: a bug, so the stack trace goes to the log
            cannotStart("loading failed: " + e);
        }
    }

    private void closeModel() {
        if (engine != null) {
            engine.close();
            engine = null;
        }
        if (model != null) {
            model.close();
            model = null;
        }
    }

    /** A configuration that cannot run here: one clear line (no stack trace), and exit status 1 so that the pod restarts visibly. */
    private void cannotStart(String why) {
        notReadyReason = "cannot start: " + why;
        LOG.error(notReadyReason);
        Quarkus.asyncExit(1);
    }

    /** One short generation through the whole path, so the first request does not pay for JIT and allocation. */
    private void warmUp() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        int[] prompt = {0, 1, 2, 3, 4, 5, 6, 7};
        engine.submit(prompt, SamplingParams.greedy(4), 1, 0, new SequenceListener() {
            @Override
            public void onToken(Sequence seq, Sampler.Sample sample) {}

            @Override
            public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                done.complete(null);
            }
        });
        try {
            done.get(120, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the warm-up generation did not finish: " + e, e);
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        ready = false;
        grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
        grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.NOT_SERVING);
        if (engine != null) {
            engine.close();
        }
        if (model != null) {
            model.close();
        }
    }

    public Engine engine() {
        return engine;
    }

    public LoadedModel model() {
        return model;
    }

    /** The delta versions this replica can serve over its weights. */
    public Overlays overlays() {
        return overlays;
    }

    /** The version a request that names none is served with: null (the base), or the delta version this replica was started for. */
    public String defaultVersion() {
        return defaultVersion;
    }

    public String modelName() {
        return modelName;
    }

    public boolean isReady() {
        return ready && !draining && (engine == null || engine.failure().isEmpty());
    }

    private volatile boolean draining;

    /** Leaving: readiness and gRPC health go down and new requests are refused; running ones go on. */
    public void drain() {
        if (!draining) {
            draining = true;
            notReadyReason = "draining: the replica is stopping";
            grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
            LOG.info("draining: no new requests; waiting for the running ones to finish");
        }
    }

    public boolean draining() {
        return draining;
    }

    /** Quarkus readiness: up once the model is loaded and warmed up. */
    @Readiness
    @ApplicationScoped
    static class ModelLoaded implements HealthCheck {
        @Inject
        InferenceLifecycle lifecycle;

        @Override
        public HealthCheckResponse call() {
            var r = HealthCheckResponse.named("model");
            if (lifecycle.isReady()) {
                return r.up().withData("model", lifecycle.modelName()).build();
            }
            Engine e = lifecycle.engine();
            String reason = e != null && e.failure().isPresent() ? e.failure().get() : lifecycle.notReadyReason;
            return r.down().withData("reason", reason).build();
        }
    }

    /** Quarkus liveness: down once the backend failed for good (a CUDA error poisons the context until the process ends). */
    @Liveness
    @ApplicationScoped
    static class BackendAlive implements HealthCheck {
        @Inject
        InferenceLifecycle lifecycle;

        @Override
        public HealthCheckResponse call() {
            var r = HealthCheckResponse.named("backend");
            Engine e = lifecycle.engine();
            if (e != null && e.failure().isPresent()) {
                return r.down().withData("reason", e.failure().get()).build();
            }
            return r.up().build();
        }
    }
}
