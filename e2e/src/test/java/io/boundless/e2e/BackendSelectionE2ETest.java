package io.boundless.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.cli.LocalPlatform;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The inference process with a backend it cannot have (forcing CUDA on a machine without a GPU,
 * naming an unknown backend) or a model it cannot load: one clear log line and exit status 1, not a
 * stack trace and not a process that lingers unready.
 */
class BackendSelectionE2ETest {
    private final Path root = Path.of(System.getProperty("boundless.root", "..")).toAbsolutePath().normalize();

    private String run(String backend, Path log) throws Exception {
        return run(Map.of("BOUNDLESS_INFERENCE_BACKEND", backend), log);
    }

    /** Runs one inference process with these settings over the service's own default model, expecting it to exit 1 by itself. */
    private String run(Map<String, String> settings, Path log) throws Exception {
        return run(settings, log, List.of());
    }

    /** The same, the command behind a prefix (setpriv, to run it as another user). */
    private String run(Map<String, String> settings, Path log, List<String> prefix) throws Exception {
        return run("inference-1", settings, log, prefix);
    }

    /** One of the platform's services (as boundless up would start it) with these settings, expected to exit 1 by itself. */
    private String run(String service, Map<String, String> settings, Path log, List<String> prefix) throws Exception {
        Path work = root.resolve("e2e/target/backend-e2e");
        Files.createDirectories(work);
        LocalPlatform platform = new LocalPlatform(new LocalPlatform.Options(root, work, null, 1, 19500, 18500, Map.of(), Map.of(), Map.of()));
        platform.issueCertificates();  // on mutual TLS, as boundless up starts it
        LocalPlatform.Service inference = platform.service(service);
        Map<String, String> env = new HashMap<>(inference.env());
        env.remove("BOUNDLESS_INFERENCE_MODEL"); // the service's own default model
        env.putAll(settings);
        List<String> command = new java.util.ArrayList<>(prefix);
        command.addAll(inference.command());
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        try {
            assertThat(p.waitFor(90, TimeUnit.SECONDS)).as("the process exits by itself").isTrue();
            assertThat(p.exitValue()).as("exit status").isEqualTo(1);
        } finally {
            p.destroyForcibly();
        }
        return Files.readString(log);
    }

    @Test
    void forcingCudaWithoutAGpuExitsWithOneClearLine() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(Files.exists(Path.of("/dev/nvidia0")), "this machine has a GPU");
        String out = run("cuda", root.resolve("e2e/target/backend-e2e/cuda.log"));
        assertThat(out).contains("cannot start: the cuda backend was configured, but CUDA is not usable here: no NVIDIA driver here: libcuda.so.1");
        assertThat(out).doesNotContain("\tat ", "Exception in thread");
    }

    @Test
    void aMissingOrBadTlsFileExitsWithOneClearLine() throws Exception {
        Path work = root.resolve("e2e/target/backend-e2e");
        String out = run(Map.of("BOUNDLESS_TLS_KEY", work.resolve("tls/absent.key").toString()), work.resolve("tls-missing.log"));
        assertThat(out).contains("cannot start: the TLS key file " + work.resolve("tls/absent.key") + " does not exist");
        assertThat(out).doesNotContain("\tat ", "Exception in thread");
        // a PKCS#1 key (what openssl genrsa wrote before 3.0), not the PKCS#8 the services read
        Path pkcs1 = work.resolve("tls/pkcs1.key");
        Files.writeString(pkcs1, "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n");
        out = run(Map.of("BOUNDLESS_TLS_KEY", pkcs1.toString()), work.resolve("tls-pkcs1.log"));
        assertThat(out).contains("cannot start: ").contains("PKCS#1");
        assertThat(out).doesNotContain("\tat ", "Exception in thread");
        // and without the settings at all (plaintext is never the fallback)
        out = run(Map.of("BOUNDLESS_TLS_CERT", ""), work.resolve("tls-unset.log"));
        assertThat(out).contains("cannot start: mutual TLS between the platform's services is on, but boundless.tls.cert (BOUNDLESS_TLS_CERT) is not set");
    }

    @Test
    void aTruncatedOrUnreadableModelExitsWithOneClearLine() throws Exception {
        Path work = root.resolve("e2e/target/backend-e2e");
        Path model = work.resolve("truncated-model");
        copyModel(model);
        Path weights = model.resolve("model.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(weights, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);  // a copy cut short (a full disk, an interrupted download)
        }
        String out = run(Map.of("BOUNDLESS_INFERENCE_MODEL", model.toString()), work.resolve("truncated.log"));
        assertThat(out).containsPattern("cannot start: " + java.util.regex.Pattern.quote(weights.toString())
                + ", tensor \\S+: data_offsets \\[\\d+, \\d+\\] fall outside the \\d+ bytes of tensor data");
        assertThat(out).doesNotContain("\tat ");

        // unreadable: a weights file the service's user may not read (the service as nobody; root reads anything)
        org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")) && Files.isExecutable(Path.of("/usr/bin/setpriv")),
                "needs root and setpriv to run the service as another user");
        Path locked = work.resolve("unreadable-model");
        copyModel(locked);
        Files.setPosixFilePermissions(locked.resolve("model.safetensors"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        out = run(Map.of("BOUNDLESS_INFERENCE_MODEL", locked.toString(), "BOUNDLESS_TLS_PLAINTEXT", "true"), work.resolve("unreadable.log"),
                List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"));
        assertThat(out).contains("cannot start: cannot map " + locked.resolve("model.safetensors") + ": permission denied: the file is rw-------, owner root,"
                + " group root, and this process runs as nobody");
        assertThat(out).doesNotContain("\tat ");
    }

    /** The trained default model's files, copied (readable by all: the model directory and its files). */
    private void copyModel(Path to) throws Exception {
        Files.createDirectories(to);
        java.nio.file.attribute.PosixFileAttributeView v = Files.getFileAttributeView(to, java.nio.file.attribute.PosixFileAttributeView.class);
        v.setPermissions(java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            Files.copy(root.resolve("models/boundless-world").resolve(f), to.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(to.resolve(f), java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        }
    }

    @Test
    void theRouterWithoutItsTlsFilesExitsWithOneClearLine() throws Exception {
        Path work = root.resolve("e2e/target/backend-e2e");
        String out = run("router", Map.of("BOUNDLESS_TLS_CERT", work.resolve("tls/absent.crt").toString()), work.resolve("router-tls.log"), List.of());
        assertThat(out).contains("cannot start: the TLS certificate file " + work.resolve("tls/absent.crt") + " does not exist");
        assertThat(out).doesNotContain("\tat ", "Exception in thread");
    }

    @Test
    void anUnknownBackendExitsNamingTheChoices() throws Exception {
        String out = run("rocm", root.resolve("e2e/target/backend-e2e/rocm.log"));
        assertThat(out).contains("cannot start: backend must be auto, cpu or cuda, got 'rocm'");
        assertThat(out).doesNotContain("\tat ");
    }

    @Test
    void aModelItCannotLoadExitsWithOneClearLine() throws Exception {
        Path gemma = Files.createDirectories(root.resolve("e2e/target/backend-e2e/gemma"));
        Files.writeString(gemma.resolve("config.json"), "{\"model_type\": \"gemma\", \"hidden_size\": 2048}");
        String out = run(Map.of("BOUNDLESS_INFERENCE_MODEL", gemma.toString()), root.resolve("e2e/target/backend-e2e/gemma.log"));
        assertThat(out).contains("cannot start: " + gemma.resolve("config.json") + ": model_type gemma is not supported (llama, mistral, qwen2, gpt2)");
        assertThat(out).doesNotContain("\tat ");
    }
}
