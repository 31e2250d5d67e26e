package io.boundless.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.quarkus.grpc.runtime.health.GrpcHealthStorage;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

/**
 * Wires the domain into Quarkus: builds the registry, preloads the configured models, and reports
 * ready (Quarkus readiness and gRPC health) only once they are loaded.
 */
@ApplicationScoped
public class TokenizerLifecycle {
    static final String GRPC_SERVICE = "boundless.tokenizer.v1.Tokenizer";
    private static final Logger LOG = Logger.getLogger(TokenizerLifecycle.class);

    private final AtomicBoolean ready = new AtomicBoolean();
    private volatile String notReadyReason = "starting: loading tokenizers";

    @Inject
    TokenizerConfig config;

    @Inject
    GrpcHealthStorage grpcHealth;

    @Produces
    @Singleton
    TokenizerRegistry registry(ObjectMapper json) {
        return new TokenizerRegistry(config.resolvedStore(), json);
    }

    @Produces
    @Singleton
    TokenizerService service(TokenizerRegistry registry) {
        return new TokenizerService(registry, new TokenizerService.Limits(config.maxTextBytes(), config.maxBatchSize(),
                config.maxIds(), config.maxMessages(), config.maxStreams()));
    }

    void onStart(@Observes StartupEvent event, TokenizerRegistry registry) {
        grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
        grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.NOT_SERVING);
        LOG.infof("model store: %s", registry.store().toAbsolutePath());
        try {
            for (String model : config.preload()) {
                long t0 = System.nanoTime();
                // Encode once so lazily built tables (jtokkit's) are ready before the first request.
                registry.get(model.strip()).tokenizer().encode("Boundless warm-up", true, false);
                LOG.infof("loaded tokenizer %s in %d ms", model, (System.nanoTime() - t0) / 1_000_000);
            }
            ready.set(true);
            grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.SERVING);
            grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.SERVING);
        } catch (RuntimeException e) {
            // Stay up but not ready: the readiness probe says why, and Kubernetes keeps traffic away.
            notReadyReason = "preloading failed: " + e.getMessage();
            LOG.error(notReadyReason, e);
        }
    }

    void onStop(@Observes ShutdownEvent event, TokenizerRegistry registry) {
        ready.set(false);
        grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
        grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.NOT_SERVING);
    }

    boolean isReady() {
        return ready.get();
    }

    String notReadyReason() {
        return notReadyReason;
    }

    /** Quarkus readiness: up once the preloaded tokenizers are in memory. */
    @Readiness
    @ApplicationScoped
    static class TokenizersLoaded implements HealthCheck {
        @Inject
        TokenizerLifecycle lifecycle;

        @Inject
        TokenizerRegistry registry;

        @Override
        public HealthCheckResponse call() {
            var r = HealthCheckResponse.named("tokenizers").withData("loaded", String.join(",", registry.loadedModels()));
            return lifecycle.isReady() ? r.up().build() : r.down().withData("reason", lifecycle.notReadyReason()).build();
        }
    }
}
