package io.boundless.proto.tls;

import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.net.KeyCertOptions;
import io.vertx.core.net.TrustOptions;
import io.vertx.grpc.VertxServerBuilder;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * Puts a service's gRPC server (Quarkus' separate server) on mutual TLS with {@link PeerTls}: its certificate shown,
 * every client's certificate required and checked against the platform's CA, both followed as their files change.
 * Quarkus' own TLS settings of that server read their files once; these managers look them up on each handshake.
 *
 * <p>It goes with {@code quarkus.grpc.server.plain-text=${boundless.tls.plaintext}} and
 * {@code quarkus.grpc.server.ssl.client-auth=REQUIRED} in the service's properties (Quarkus applies those after
 * this). A service whose server is a front door for outside clients (the router) sets
 * {@code boundless.tls.mutual-server=false}; its channels to the other services still use {@link PeerTls}.
 */
@Singleton
public class PeerTlsServer implements ServerBuilderCustomizer<VertxServerBuilder> {

    @Override
    public void customize(GrpcServerConfiguration config, VertxServerBuilder builder) {
        var mp = ConfigProvider.getConfig();
        if (!mp.getOptionalValue("boundless.tls.mutual-server", Boolean.class).orElse(true)) {
            return;
        }
        PeerTls tls;
        try {
            tls = PeerTls.shared(k -> mp.getOptionalValue(k, String.class)).orElse(null);
        } catch (IllegalArgumentException e) {
            // a configuration that cannot run: one clear line and exit status 1, as the services' other start checks
            // (Quarkus would otherwise log a stack trace and go on without its gRPC server)
            System.getLogger(PeerTlsServer.class.getName()).log(System.Logger.Level.ERROR, "cannot start: " + e.getMessage());
            io.quarkus.runtime.Quarkus.asyncExit(1);
            throw new CannotStart(e.getMessage());
        }
        if (tls == null) {
            if (!config.plainText()) {
                throw new IllegalStateException("boundless.tls.plaintext is true but quarkus.grpc.server.plain-text is false: set both the same way");
            }
            return;
        }
        if (config.plainText() || config.ssl().clientAuth() != ClientAuth.REQUIRED) {
            throw new IllegalStateException("mutual TLS is on: quarkus.grpc.server.plain-text must be false and quarkus.grpc.server.ssl.client-auth REQUIRED"
                    + " (they are " + config.plainText() + " and " + config.ssl().clientAuth() + ")");
        }
        builder.useSsl(options -> options.setSsl(true)
                .setKeyCertOptions(KeyCertOptions.wrap(tls.keyManager()))
                .setTrustOptions(TrustOptions.wrap(tls.trustManager()))
                .setClientAuth(ClientAuth.REQUIRED));
        System.getLogger(PeerTlsServer.class.getName()).log(System.Logger.Level.INFO,
                "gRPC server on mutual TLS: " + tls.describe() + "; clients need a certificate from the platform's CA");
    }

    /** The refusal, without a stack trace (Quarkus logs the exception it gets; the reason is in its message). */
    static final class CannotStart extends RuntimeException {
        CannotStart(String message) {
            super("cannot start: " + message, null, false, false);
        }
    }

    @Override
    public int priority() {
        return 100;
    }
}
