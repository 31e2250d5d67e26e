package io.boundless.proto.tls;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannelBuilder;
import io.grpc.TlsChannelCredentials;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Mutual TLS between the platform's services: one certificate and key (PEM; the key PKCS#8) that a service shows
 * both as a server and as a client, and the platform's CA (PEM) that every peer's certificate must chain to. The
 * files are read again when they change (a cert-manager Secret renewed in place, {@code boundless up}'s files
 * rewritten), without a restart: the key and trust managers handed to the servers and channels look up the current
 * material on every handshake, so connections made after a reload use it; a file that does not parse leaves the old
 * material in force and is reported once.
 *
 * <p>Configuration (MicroProfile keys, so {@code BOUNDLESS_TLS_CERT} and so on from the environment):
 * {@code boundless.tls.cert}, {@code boundless.tls.key}, {@code boundless.tls.ca}, {@code boundless.tls.reload-interval}
 * (default 10s), and {@code boundless.tls.plaintext=true}, the only way to run without TLS (local development).
 *
 * <p>A peer is trusted when its certificate chains to the CA and is within its validity (no host name check: the
 * router reaches replicas by pod address; the CA is the platform's own and issues only its services' certificates).
 */
public final class PeerTls implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(PeerTls.class.getName());
    private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END \\1-----");
    private static PeerTls shared;
    private static boolean sharedResolved;

    private final Path certFile;
    private final Path keyFile;
    private final Path caFile;
    private volatile Material material;
    private volatile String lastError;
    private volatile long reloads;
    private volatile long failedReloads;
    private ScheduledExecutorService timer;
    private final X509ExtendedKeyManager keyManager = new CurrentKeyManager();
    private final X509ExtendedTrustManager trustManager = new CurrentTrustManager();

    /** What one reading of the three files gave. */
    private record Material(X509Certificate[] chain, PrivateKey key, X509ExtendedTrustManager trust, String stamp) {}

    private PeerTls(Path certFile, Path keyFile, Path caFile) {
        this.certFile = certFile;
        this.keyFile = keyFile;
        this.caFile = caFile;
        this.material = read();
    }

    /** Loads the three files now: an IllegalArgumentException that names the file and what is wrong with it if one is bad. */
    public static PeerTls load(Path cert, Path key, Path ca) {
        return new PeerTls(cert, key, ca);
    }

    /**
     * The configuration's TLS, or empty where {@code boundless.tls.plaintext} is true. Anything else without the
     * three files is an IllegalArgumentException saying what to set: a service never falls back to plaintext.
     */
    public static Optional<PeerTls> fromConfig(Function<String, Optional<String>> config) {
        boolean plaintext = config.apply("boundless.tls.plaintext").map(String::trim).map(Boolean::parseBoolean).orElse(false);
        if (plaintext) {
            return Optional.empty();
        }
        List<String> missing = new ArrayList<>();
        Optional<String> cert = config.apply("boundless.tls.cert");
        Optional<String> key = config.apply("boundless.tls.key");
        Optional<String> ca = config.apply("boundless.tls.ca");
        cert.ifPresentOrElse(v -> {}, () -> missing.add("boundless.tls.cert (BOUNDLESS_TLS_CERT)"));
        key.ifPresentOrElse(v -> {}, () -> missing.add("boundless.tls.key (BOUNDLESS_TLS_KEY)"));
        ca.ifPresentOrElse(v -> {}, () -> missing.add("boundless.tls.ca (BOUNDLESS_TLS_CA)"));
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("mutual TLS between the platform's services is on, but " + String.join(", ", missing)
                    + (missing.size() == 1 ? " is" : " are") + " not set: give the service its certificate, key and the platform's CA"
                    + " (PEM files), or set boundless.tls.plaintext=true (BOUNDLESS_TLS_PLAINTEXT) for local development only");
        }
        PeerTls tls = load(Path.of(cert.get()), Path.of(key.get()), Path.of(ca.get()));
        tls.watch(config.apply("boundless.tls.reload-interval").map(PeerTls::duration).orElse(Duration.ofSeconds(10)));
        return Optional.of(tls);
    }

    /**
     * The process's TLS from its configuration, read once and shared by its server and its channels (one set of
     * files per process).
     */
    public static synchronized Optional<PeerTls> shared(Function<String, Optional<String>> config) {
        if (!sharedResolved) {
            shared = fromConfig(config).orElse(null);
            sharedResolved = true;
        }
        return Optional.ofNullable(shared);
    }

    /** "10s", "500ms", "2m", "1h", or ISO-8601 ("PT10S"). */
    static Duration duration(String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
        try {
            if (t.startsWith("pt") || t.startsWith("p")) {
                return Duration.parse(t.toUpperCase(java.util.Locale.ROOT));
            }
            if (t.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            }
            long n = Long.parseLong(t.substring(0, t.length() - 1));
            return switch (t.charAt(t.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                default -> Duration.ofSeconds(Long.parseLong(t));
            };
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("boundless.tls.reload-interval: not a duration: '" + text + "' (e.g. 10s, 500ms, 2m)");
        }
    }

    // ---- reading ----

    private Material read() {
        byte[] certBytes = bytes(certFile, "certificate");
        byte[] keyBytes = bytes(keyFile, "key");
        byte[] caBytes = bytes(caFile, "CA certificate");
        X509Certificate[] chain = certificates(certBytes, certFile, "certificate");
        X509Certificate[] cas = certificates(caBytes, caFile, "CA certificate");
        PrivateKey key = privateKey(keyBytes, keyFile);
        if (!chain[0].getPublicKey().getAlgorithm().equals(key.getAlgorithm())) {
            throw new IllegalArgumentException("the TLS key " + keyFile + " (" + key.getAlgorithm() + ") does not go with the certificate "
                    + certFile + " (" + chain[0].getPublicKey().getAlgorithm() + ")");
        }
        X509ExtendedTrustManager trust;
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            for (int i = 0; i < cas.length; i++) {
                store.setCertificateEntry("ca-" + i, cas[i]);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(store);
            trust = Arrays.stream(tmf.getTrustManagers()).filter(t -> t instanceof X509ExtendedTrustManager)
                    .map(t -> (X509ExtendedTrustManager) t).findFirst().orElseThrow();
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("the CA certificate " + caFile + " cannot be used to check peers: " + e.getMessage(), e);
        }
        String stamp = Arrays.hashCode(certBytes) + ":" + Arrays.hashCode(keyBytes) + ":" + Arrays.hashCode(caBytes);
        return new Material(chain, key, trust, stamp);
    }

    private static byte[] bytes(Path file, String what) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("the TLS " + what + " file " + file + " does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException("the TLS " + what + " file " + file + " cannot be read: " + e.getMessage(), e);
        }
    }

    private static X509Certificate[] certificates(byte[] pem, Path file, String what) {
        try {
            var certs = CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem));
            if (certs.isEmpty()) {
                throw new IllegalArgumentException("the TLS " + what + " file " + file + " holds no certificate (PEM, BEGIN CERTIFICATE)");
            }
            return certs.stream().map(c -> (X509Certificate) c).toArray(X509Certificate[]::new);
        } catch (CertificateException e) {
            throw new IllegalArgumentException("the TLS " + what + " file " + file + " is not a PEM certificate: " + e.getMessage(), e);
        }
    }

    private static PrivateKey privateKey(byte[] pem, Path file) {
        Matcher m = PEM.matcher(new String(pem, StandardCharsets.US_ASCII));
        while (m.find()) {
            String type = m.group(1);
            if (type.equals("RSA PRIVATE KEY") || type.equals("EC PRIVATE KEY")) {
                throw new IllegalArgumentException("the TLS key " + file + " is " + type + " (PKCS#1/SEC1): give it as PKCS#8 (BEGIN PRIVATE KEY;"
                        + " cert-manager: privateKey.encoding: PKCS8; openssl pkcs8 -topk8 -nocrypt)");
            }
            if (!type.equals("PRIVATE KEY")) {
                continue;
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(m.group(2).trim());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("the TLS key " + file + " is not valid base64 PEM", e);
            }
            for (String algorithm : List.of("EC", "RSA", "Ed25519", "RSASSA-PSS")) {
                try {
                    return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
                } catch (GeneralSecurityException e) {
                    // try the next algorithm
                }
            }
            throw new IllegalArgumentException("the TLS key " + file + " is not a PKCS#8 EC, RSA or Ed25519 private key");
        }
        throw new IllegalArgumentException("the TLS key " + file + " holds no private key (PEM, BEGIN PRIVATE KEY)");
    }

    // ---- reloading ----

    /**
     * Reads the files again; takes them where they changed and parse. Returns whether new material took. A bad file
     * keeps the old material (reported once per distinct problem).
     */
    public synchronized boolean reload() {
        Material next;
        try {
            next = read();
        } catch (IllegalArgumentException e) {
            failedReloads++;
            if (!e.getMessage().equals(lastError)) {
                lastError = e.getMessage();
                LOG.log(System.Logger.Level.WARNING, "TLS files not reloaded, the certificate in force stays (" + describe() + "): " + e.getMessage());
            }
            return false;
        }
        lastError = null;
        if (next.stamp().equals(material.stamp())) {
            return false;
        }
        material = next;
        reloads++;
        LOG.log(System.Logger.Level.INFO, "TLS certificate reloaded: " + describe());
        return true;
    }

    /**
     * A command-line client's TLS: the certificate of BOUNDLESS_TLS_CERT / _KEY / _CA, or the one {@code boundless up}
     * issued the CLI (BOUNDLESS_HOME, default ~/.boundless, then tls/cli.*); null (plaintext) where neither is there, as
     * against a platform started with --plaintext.
     */
    public static PeerTls ofClientEnvironment() {
        String cert = System.getenv("BOUNDLESS_TLS_CERT");
        if (cert != null && !cert.isBlank()) {
            return load(Path.of(cert), Path.of(System.getenv().getOrDefault("BOUNDLESS_TLS_KEY", "")),
                    Path.of(System.getenv().getOrDefault("BOUNDLESS_TLS_CA", "")));
        }
        String home = System.getenv("BOUNDLESS_HOME");
        Path dir = (home != null && !home.isBlank() ? Path.of(home) : Path.of(System.getProperty("user.home"), ".boundless")).resolve("tls");
        return Files.isRegularFile(dir.resolve("cli.crt")) ? load(dir.resolve("cli.crt"), dir.resolve("cli.key"), dir.resolve("ca.crt")) : null;
    }

    /** Reloads every interval from now on, on a daemon thread. */
    public synchronized void watch(Duration interval) {
        if (timer == null) {
            timer = io.boundless.proto.FileWatch.every("tls-reload", interval, this::reload);
        }
    }

    @Override
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }

    public long reloads() {
        return reloads;
    }

    public long failedReloads() {
        return failedReloads;
    }

    /** The certificate in force: its subject and when it expires. */
    public String describe() {
        X509Certificate c = material.chain()[0];
        return c.getSubjectX500Principal().getName() + ", valid until " + c.getNotAfter().toInstant();
    }

    /** The certificate in force. */
    public X509Certificate certificate() {
        return material.chain()[0];
    }

    // ---- what servers and channels use ----

    /** A key manager that shows the current certificate. */
    public X509ExtendedKeyManager keyManager() {
        return keyManager;
    }

    /** A trust manager that checks peers against the current CA. */
    public X509ExtendedTrustManager trustManager() {
        return trustManager;
    }

    /** Client credentials: this certificate shown to the server, the server's checked against the CA. */
    public ChannelCredentials channelCredentials() {
        return TlsChannelCredentials.newBuilder().keyManager(keyManager).trustManager(trustManager).build();
    }

    /** A channel builder to target ("host:port" or a gRPC target): mutual TLS with tls, plaintext where tls is null. */
    public static ManagedChannelBuilder<?> channelBuilder(PeerTls tls, String target) {
        return Grpc.newChannelBuilder(target, tls == null ? InsecureChannelCredentials.create() : tls.channelCredentials());
    }

    /** A channel builder to host:port: mutual TLS with tls, plaintext where tls is null. */
    public static ManagedChannelBuilder<?> channelBuilder(PeerTls tls, String host, int port) {
        return Grpc.newChannelBuilderForAddress(host, port, tls == null ? InsecureChannelCredentials.create() : tls.channelCredentials());
    }

    /**
     * The certificate a TLS server at host:port shows on a new connection, whether trusted or not; client is the
     * certificate shown to it (null: none). For checks of a rotation ({@code boundless up}'s, tests).
     */
    public static X509Certificate servedCertificate(String host, int port, PeerTls client) throws IOException {
        X509Certificate[] seen = new X509Certificate[1];
        javax.net.ssl.TrustManager record = new javax.net.ssl.X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {
                seen[0] = chain[0];
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        };
        try {
            javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(client == null ? null : new javax.net.ssl.KeyManager[] {client.keyManager()}, new javax.net.ssl.TrustManager[] {record}, null);
            try (var socket = (javax.net.ssl.SSLSocket) ctx.getSocketFactory().createSocket(host, port)) {
                var params = socket.getSSLParameters();
                params.setApplicationProtocols(new String[] {"h2"});
                socket.setSSLParameters(params);
                socket.setSoTimeout(10_000);
                socket.startHandshake();
            }
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
        return seen[0];
    }

    private final class CurrentKeyManager extends X509ExtendedKeyManager {
        private static final String ALIAS = "boundless";

        private boolean matches(String keyType) {
            String algorithm = material.key().getAlgorithm();
            return keyType == null || keyType.equalsIgnoreCase(algorithm) || (algorithm.equals("EC") && keyType.startsWith("EC"))
                    || (algorithm.equals("RSA") && keyType.startsWith("RSA"));
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return matches(keyType) ? new String[] {ALIAS} : null;
        }

        @Override
        public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
            return chooseAny(keyTypes);
        }

        @Override
        public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
            return chooseAny(keyTypes);
        }

        private String chooseAny(String[] keyTypes) {
            if (keyTypes == null) {
                return ALIAS;
            }
            for (String t : keyTypes) {
                if (matches(t)) {
                    return ALIAS;
                }
            }
            return null;
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return matches(keyType) ? new String[] {ALIAS} : null;
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            return matches(keyType) ? ALIAS : null;
        }

        @Override
        public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
            return matches(keyType) ? ALIAS : null;
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            return ALIAS.equals(alias) ? material.chain().clone() : null;
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            return ALIAS.equals(alias) ? material.key() : null;
        }
    }

    private final class CurrentTrustManager extends X509ExtendedTrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            material.trust().checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            material.trust().checkServerTrusted(chain, authType);  // the chain, not the host name (see the class)
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            material.trust().checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            material.trust().checkServerTrusted(chain, authType);  // the chain, not the host name (see the class)
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            material.trust().checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            material.trust().checkServerTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return material.trust().getAcceptedIssuers();
        }
    }
}
