package io.boundless.proto.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.tokenizer.v1.EncodeRequest;
import io.boundless.proto.tokenizer.v1.EncodeResponse;
import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutual TLS over a real gRPC server and real sockets: who is let in, who is not, and reloads without a restart. */
class PeerTlsTest {
    @TempDir
    Path dir;
    private LocalCa ca;
    private PeerTls serverTls;
    private Server server;
    private final java.util.List<ManagedChannel> channels = new java.util.ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        ca = LocalCa.inDirectory(dir, "test-ca");
        ca.issue("server", List.of("localhost"), List.of("127.0.0.1"), Duration.ofDays(1)).write(dir, "server");
        ca.issue("client", List.of(), List.of(), Duration.ofDays(1)).write(dir, "client");
        serverTls = PeerTls.load(dir.resolve("server.crt"), dir.resolve("server.key"), dir.resolve("ca.crt"));
        var creds = TlsServerCredentials.newBuilder().keyManager(serverTls.keyManager()).trustManager(serverTls.trustManager())
                .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE).build();
        server = Grpc.newServerBuilderForPort(0, creds).addService(new TokenizerGrpc.TokenizerImplBase() {
            @Override
            public void encode(EncodeRequest request, StreamObserver<EncodeResponse> response) {
                response.onNext(EncodeResponse.newBuilder().addIds(request.getText().length()).build());
                response.onCompleted();
            }
        }).build().start();
    }

    @AfterEach
    void stop() throws Exception {
        channels.forEach(ManagedChannel::shutdownNow);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        serverTls.close();
    }

    private int call(PeerTls client) {
        ManagedChannel ch = PeerTls.channelBuilder(client, "127.0.0.1", server.getPort()).build();
        channels.add(ch);
        return TokenizerGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).encode(EncodeRequest.newBuilder().setText("abc").build()).getIds(0);
    }

    private PeerTls client() {
        return PeerTls.load(dir.resolve("client.crt"), dir.resolve("client.key"), dir.resolve("ca.crt"));
    }

    @Test
    void aClientWithTheCasCertificateIsServed() {
        assertThat(call(client())).isEqualTo(3);
    }

    @Test
    void plaintextNoCertificateAndAForeignCaAreRefused() throws Exception {
        assertThatThrownBy(() -> call(null)).isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

        // TLS that trusts the server but shows no certificate of its own
        ManagedChannel noCert = Grpc.newChannelBuilderForAddress("127.0.0.1", server.getPort(),
                TlsChannelCredentials.newBuilder().trustManager(client().trustManager()).build()).build();
        channels.add(noCert);
        assertThatThrownBy(() -> TokenizerGrpc.newBlockingStub(noCert).withDeadlineAfter(10, TimeUnit.SECONDS).encode(EncodeRequest.getDefaultInstance()))
                .isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

        // a certificate of another CA (which the client trusts itself, so only the server can refuse it)
        Path other = Files.createDirectories(dir.resolve("other"));
        LocalCa foreign = LocalCa.inDirectory(other, "foreign-ca");
        foreign.issue("intruder", List.of(), List.of(), Duration.ofDays(1)).write(other, "intruder");
        Files.writeString(other.resolve("both.crt"), Files.readString(other.resolve("ca.crt")) + Files.readString(dir.resolve("ca.crt")));
        PeerTls intruder = PeerTls.load(other.resolve("intruder.crt"), other.resolve("intruder.key"), other.resolve("both.crt"));
        assertThatThrownBy(() -> call(intruder)).isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

        // and a client refuses a server whose certificate is not of its CA
        PeerTls trustsOnlyForeign = PeerTls.load(dir.resolve("client.crt"), dir.resolve("client.key"), other.resolve("ca.crt"));
        assertThatThrownBy(() -> call(trustsOnlyForeign)).isInstanceOf(StatusRuntimeException.class);
    }

    @Test
    void aRenewedCertificateAndARotatedCaTakeWithoutARestart() throws Exception {
        X509Certificate before = servedCertificate();
        assertThat(before.getSerialNumber()).isEqualTo(serverTls.certificate().getSerialNumber());
        ca.issue("server", List.of("localhost"), List.of("127.0.0.1"), Duration.ofDays(2)).write(dir, "server");
        assertThat(serverTls.reload()).isTrue();
        assertThat(serverTls.reloads()).isEqualTo(1);
        X509Certificate after = servedCertificate();
        assertThat(after.getSerialNumber()).isNotEqualTo(before.getSerialNumber()).isEqualTo(serverTls.certificate().getSerialNumber());
        assertThat(serverTls.reload()).as("the same files again: nothing to take").isFalse();

        // a new CA: its client is refused until the server's CA file has it and is reloaded
        Path next = Files.createDirectories(dir.resolve("next"));
        LocalCa nextCa = LocalCa.inDirectory(next, "next-ca");
        nextCa.issue("client", List.of(), List.of(), Duration.ofDays(1)).write(next, "client");
        Files.writeString(next.resolve("bundle.crt"), Files.readString(dir.resolve("ca.crt")) + Files.readString(next.resolve("ca.crt")));
        PeerTls newClient = PeerTls.load(next.resolve("client.crt"), next.resolve("client.key"), next.resolve("bundle.crt"));
        assertThatThrownBy(() -> call(newClient)).isInstanceOf(StatusRuntimeException.class);
        Files.copy(next.resolve("bundle.crt"), dir.resolve("ca.crt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThat(serverTls.reload()).isTrue();
        assertThat(call(newClient)).isEqualTo(3);
        assertThat(call(client())).as("the old CA's clients during the rotation").isEqualTo(3);
    }

    @Test
    void aBrokenFileOnReloadKeepsTheCertificateInForce() throws Exception {
        var serial = serverTls.certificate().getSerialNumber();
        Files.writeString(dir.resolve("server.key"), "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        assertThat(serverTls.reload()).isFalse();
        assertThat(serverTls.reload()).isFalse();
        assertThat(serverTls.failedReloads()).isEqualTo(2);
        assertThat(serverTls.certificate().getSerialNumber()).isEqualTo(serial);
        assertThat(call(client())).isEqualTo(3);
    }

    @Test
    void configurationSaysWhatIsMissingAndPlaintextOnlyWhenAskedFor() {
        assertThat(PeerTls.fromConfig(config(Map.of("boundless.tls.plaintext", "true")))).isEmpty();
        assertThatThrownBy(() -> PeerTls.fromConfig(k -> Optional.empty())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("boundless.tls.cert (BOUNDLESS_TLS_CERT), boundless.tls.key (BOUNDLESS_TLS_KEY), boundless.tls.ca (BOUNDLESS_TLS_CA) are not set")
                .hasMessageContaining("boundless.tls.plaintext=true");
        assertThatThrownBy(() -> PeerTls.fromConfig(config(Map.of("boundless.tls.plaintext", "false", "boundless.tls.cert", "/nonexistent/x.crt",
                "boundless.tls.key", "/nonexistent/x.key", "boundless.tls.ca", "/nonexistent/ca.crt"))))
                .hasMessage("the TLS certificate file /nonexistent/x.crt does not exist");
        var tls = PeerTls.fromConfig(config(Map.of("boundless.tls.cert", dir.resolve("server.crt").toString(), "boundless.tls.key",
                dir.resolve("server.key").toString(), "boundless.tls.ca", dir.resolve("ca.crt").toString(), "boundless.tls.reload-interval", "1s")));
        assertThat(tls).isPresent();
        tls.get().close();
        assertThat(PeerTls.duration("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(PeerTls.duration("2m")).isEqualTo(Duration.ofMinutes(2));
        assertThat(PeerTls.duration("PT3S")).isEqualTo(Duration.ofSeconds(3));
        assertThatThrownBy(() -> PeerTls.duration("soon")).hasMessageContaining("not a duration: 'soon'");
    }

    @Test
    void keysOtherThanPkcs8AndMismatchedPairsAreRefusedByName() throws Exception {
        Files.writeString(dir.resolve("rsa.key"), "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n");
        assertThatThrownBy(() -> PeerTls.load(dir.resolve("server.crt"), dir.resolve("rsa.key"), dir.resolve("ca.crt")))
                .hasMessageContaining("is RSA PRIVATE KEY (PKCS#1/SEC1): give it as PKCS#8");
        Files.writeString(dir.resolve("empty.crt"), "");
        assertThatThrownBy(() -> PeerTls.load(dir.resolve("empty.crt"), dir.resolve("server.key"), dir.resolve("ca.crt")))
                .hasMessageContaining("holds no certificate");
        var rsa = java.security.KeyPairGenerator.getInstance("RSA");
        rsa.initialize(2048);
        Files.writeString(dir.resolve("other.key"), LocalCa.pem(rsa.generateKeyPair().getPrivate()));
        assertThatThrownBy(() -> PeerTls.load(dir.resolve("server.crt"), dir.resolve("other.key"), dir.resolve("ca.crt")))
                .hasMessageContaining("(RSA) does not go with the certificate");
    }

    private static java.util.function.Function<String, Optional<String>> config(Map<String, String> values) {
        return k -> Optional.ofNullable(values.get(k));
    }

    private X509Certificate servedCertificate() throws Exception {
        return PeerTls.servedCertificate("127.0.0.1", server.getPort(), client());
    }
}
