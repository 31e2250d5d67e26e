package io.boundless.router.endpoints;

import io.boundless.proto.tls.PeerTls;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * The TLS of the router's channels to the tokenizer and the inference replicas: the process's {@link PeerTls} from
 * {@code boundless.tls.*}, or null (plaintext) only where {@code boundless.tls.plaintext} is true. The router's own
 * gRPC and HTTP front door is for outside clients and not on mutual TLS ({@code boundless.tls.mutual-server=false}).
 */
public final class PeerChannels {
    private PeerChannels() {}

    /** The process's TLS, or null for plaintext; an IllegalArgumentException saying what to set when TLS is on without its files. */
    public static PeerTls tls() {
        return PeerTls.shared(k -> ConfigProvider.getConfig().getOptionalValue(k, String.class)).orElse(null);
    }
}
