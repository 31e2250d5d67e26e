package io.boundless.knowledgeedit;

import grpc.health.v1.HealthOuterClass.HealthCheckResponse.ServingStatus;
import io.boundless.edit.Codec;
import io.boundless.proto.ApiKeysFile;
import io.boundless.proto.tokenizer.v1.DecodeRequest;
import io.boundless.proto.tokenizer.v1.EncodeRequest;
import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.grpc.ManagedChannel;
import io.boundless.proto.tls.PeerTls;
import io.grpc.ManagedChannelBuilder;
import org.eclipse.microprofile.config.ConfigProvider;
import io.grpc.Status;
import io.quarkus.grpc.runtime.health.GrpcHealthStorage;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

/** Wires the domain into Quarkus: the edit service over the model store, API keys, the audit log, health. */
@ApplicationScoped
public class KnowledgeEditLifecycle {
    static final String GRPC_SERVICE = "boundless.knowledge_edit.v1.KnowledgeEdit";
    private static final Logger LOG = Logger.getLogger(KnowledgeEditLifecycle.class);

    @Inject
    KnowledgeEditConfig config;

    @Inject
    GrpcHealthStorage grpcHealth;

    private volatile EditService service;
    private volatile ApiKeysFile keys;
    private volatile String problem = "starting";
    private ManagedChannel tokenizer;
    private ManagedChannel router;

    void onStart(@Observes StartupEvent event) {
        grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.NOT_SERVING);
        try {
            Path store = config.store().toAbsolutePath().normalize();
            Audit audit = new Audit(config.auditLog().orElse(store.resolve(".audit").resolve("knowledge-edit.jsonl")));
            keys = config.apiKeys().map(f -> new ApiKeysFile(f, audit.log())).orElse(null);
            if (keys != null) {
                keys.watch(config.keysReloadInterval());
            }
            if (config.tokenizer().isPresent()) {
                tokenizer = PeerTls.channelBuilder(peerTls(), config.tokenizer().get()).intercept(io.boundless.proto.tracing.TracingInterceptor.client()).build();
            }
            service = new EditService(store, config.defaultVersion().orElse(null), config.threads().orElse(Runtime.getRuntime().availableProcessors()),
                    audit, tokenizer == null ? null : this::tokenizerCodec, config.corpusTokens(), config.maxFacts(), config.maxQueued());
            LOG.infof("model store %s, default version %s, audit log %s, %s", store, config.defaultVersion().orElse("(none)"), audit.file(),
                    keys == null ? "no API keys (every caller may edit: local development)" : keys.current().size() + " API keys");
            problem = null;
            grpcHealth.setStatus(GRPC_SERVICE, ServingStatus.SERVING);
            grpcHealth.setStatus(GrpcHealthStorage.DEFAULT_SERVICE_NAME, ServingStatus.SERVING);
        } catch (Exception e) {
            problem = e.getMessage();
            LOG.errorf("the knowledge-edit service cannot start: %s", e.getMessage());
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        if (service != null) {
            service.close();
        }
        if (keys != null) {
            keys.close();
        }
        if (tokenizer != null) {
            tokenizer.shutdownNow();
        }
        synchronized (this) {
            if (router != null) {
                router.shutdownNow();
            }
        }
    }

    /** Why the service is not ready, or null. */
    public String problem() {
        return problem;
    }

    public EditService service() {
        if (service == null) {
            throw Status.UNAVAILABLE.withDescription("the knowledge-edit service is not ready: " + problem).asRuntimeException();
        }
        return service;
    }

    /** The caller's key name, checked for scope (admin for changes, inference for the rest); "anonymous" without API keys. */
    public String authorize(String authorization, String scope) {
        return keys == null ? "anonymous" : keys.current().authorize(authorization, scope);
    }

    /** A channel to the router (the configured one, or the given address). */
    public synchronized ManagedChannel router(String address) {
        if (address != null && !address.isBlank()) {
            return routerChannel(address);
        }
        if (config.router().isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription("no router is configured (boundless.knowledge-edit.router) and the request names none")
                    .asRuntimeException();
        }
        if (router == null) {
            router = routerChannel(config.router().get());
        }
        return router;
    }

    /** The process's mutual TLS to the tokenizer (null: plaintext, only where boundless.tls.plaintext is true). */
    private static PeerTls peerTls() {
        return PeerTls.shared(k -> ConfigProvider.getConfig().getOptionalValue(k, String.class)).orElse(null);
    }

    /**
     * The router is reached at its front door, as every admin client reaches it: the admin key says who publishes;
     * that door takes no client certificates (outside clients use it), so this channel is plaintext inside the
     * cluster's network policy.
     */
    private static ManagedChannel routerChannel(String target) {
        return ManagedChannelBuilder.forTarget(target).usePlaintext().intercept(io.boundless.proto.tracing.TracingInterceptor.client()).build();
    }

    private Codec tokenizerCodec(String version) {
        var stub = TokenizerGrpc.newBlockingStub(tokenizer);
        return new Codec() {
            @Override
            public int[] encode(String text) {
                return stub.withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS)
                        .encode(EncodeRequest.newBuilder().setModel(version).setText(text).build()).getIdsList().stream().mapToInt(Integer::intValue).toArray();
            }

            @Override
            public String decode(int[] ids) {
                var b = DecodeRequest.newBuilder().setModel(version);
                for (int id : ids) {
                    b.addIds(id);
                }
                return stub.withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS).decode(b.build()).getText();
            }
        };
    }

    @Readiness
    @ApplicationScoped
    static class Ready implements HealthCheck {
        @Inject
        KnowledgeEditLifecycle lifecycle;

        @Override
        public HealthCheckResponse call() {
            var r = HealthCheckResponse.named("knowledge-edit");
            String problem = lifecycle.problem();
            return problem == null ? r.up().build() : r.down().withData("reason", problem).build();
        }
    }
}
