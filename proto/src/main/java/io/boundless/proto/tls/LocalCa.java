package io.boundless.proto.tls;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority of its own for a local platform ({@code boundless up}) and for tests: EC P-256 keys, a
 * self-signed CA, and certificates it issues for both server and client use (what cert-manager's CA issuer does in
 * the chart). Files are PEM, keys PKCS#8, written with owner-only permissions and swapped in atomically, so a
 * service reading them while they are rewritten sees the old or the new file, never half of one. Needs BouncyCastle
 * (bcpkix) on the class path: the CLI and the tests bring it; the services only read the files ({@link PeerTls}).
 */
public final class LocalCa {
    private static final SecureRandom RANDOM = new SecureRandom();
    private final X509Certificate certificate;
    private final PrivateKey key;

    private LocalCa(X509Certificate certificate, PrivateKey key) {
        this.certificate = certificate;
        this.key = key;
    }

    /** A new CA named name (its subject's common name), valid for validity from now. */
    public static LocalCa create(String name, Duration validity) {
        KeyPair pair = ecKeyPair();
        X500Name subject = new X500Name("CN=" + name + ",O=Boundless");
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(), Date.from(Instant.now().minusSeconds(60)),
                    Date.from(Instant.now().plus(validity)), subject, pair.getPublic());
            var ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
            return new LocalCa(sign(b, pair.getPrivate()), pair.getPrivate());
        } catch (IOException | GeneralSecurityException | OperatorCreationException e) {
            throw new IllegalStateException("cannot create a CA: " + e.getMessage(), e);
        }
    }

    /** The CA kept in dir (ca.crt, ca.key), or a new one written there when there is none. */
    public static LocalCa inDirectory(Path dir, String name) throws IOException {
        Path crt = dir.resolve("ca.crt");
        Path keyFile = dir.resolve("ca.key");
        if (Files.isRegularFile(crt) && Files.isRegularFile(keyFile)) {
            try {
                var cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(Files.newInputStream(crt));
                String pem = Files.readString(keyFile).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
                PrivateKey k = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
                if (cert.getNotAfter().toInstant().isAfter(Instant.now().plus(Duration.ofDays(1)))) {
                    return new LocalCa(cert, k);
                }
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                // unreadable or expiring: a new CA replaces it below
            }
        }
        LocalCa ca = create(name, Duration.ofDays(3650));
        Files.createDirectories(dir);
        write(keyFile, pem(ca.key));
        write(crt, pem(ca.certificate));
        return ca;
    }

    /** A certificate and key for a service (server and client use) with the given DNS names and IP addresses. */
    public Issued issue(String commonName, List<String> dnsNames, List<String> ipAddresses, Duration validity) {
        KeyPair pair = ecKeyPair();
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(certificate, serial(), Date.from(Instant.now().minusSeconds(60)),
                    Date.from(Instant.now().plus(validity)), new X500Name("CN=" + commonName + ",O=Boundless"), pair.getPublic());
            var ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(certificate));
            List<GeneralName> names = new ArrayList<>();
            dnsNames.forEach(n -> names.add(new GeneralName(GeneralName.dNSName, n)));
            ipAddresses.forEach(n -> names.add(new GeneralName(GeneralName.iPAddress, n)));
            if (!names.isEmpty()) {
                b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            return new Issued(sign(b, key), pair.getPrivate());
        } catch (IOException | GeneralSecurityException | OperatorCreationException e) {
            throw new IllegalStateException("cannot issue a certificate for " + commonName + ": " + e.getMessage(), e);
        }
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /** A certificate the CA issued, with its key. */
    public record Issued(X509Certificate certificate, PrivateKey key) {
        /** Writes name.crt and name.key in dir (each swapped in whole). */
        public void write(Path dir, String name) throws IOException {
            Files.createDirectories(dir);
            LocalCa.write(dir.resolve(name + ".key"), pem(key));
            LocalCa.write(dir.resolve(name + ".crt"), pem(certificate));
        }
    }

    /** PEM of a certificate. */
    public static String pem(X509Certificate c) {
        try {
            return block("CERTIFICATE", c.getEncoded());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** PEM of a private key, PKCS#8. */
    public static String pem(PrivateKey k) {
        return block("PRIVATE KEY", k.getEncoded());
    }

    private static String block(String type, byte[] der) {
        StringWriter w = new StringWriter();
        w.append("-----BEGIN ").append(type).append("-----\n");
        w.append(Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)).append('\n');
        w.append("-----END ").append(type).append("-----\n");
        return w.toString();
    }

    private static void write(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        try {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey signer) throws OperatorCreationException, GeneralSecurityException {
        return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer)));
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM).add(BigInteger.ONE);
    }

    private static KeyPair ecKeyPair() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
