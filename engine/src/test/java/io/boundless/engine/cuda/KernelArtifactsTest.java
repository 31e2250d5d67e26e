package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed PTX and cubins are the build of the committed CUDA sources: bin/build-kernels
 * records the sources' SHA-256 next to its outputs, and a source changed without a rebuild fails
 * here (on machines without nvcc too). `bin/build-kernels --check`, in bin/test, rebuilds and compares
 * the outputs byte for byte, and fails when it cannot: no nvcc, or not the version the outputs record.
 */
class KernelArtifactsTest {
    static final Path SOURCES = Path.of("src/main/cuda");

    @Test
    void committedKernelsWereBuiltFromTheseSources() throws IOException, NoSuchAlgorithmException {
        Map<String, String> recorded = new TreeMap<>();
        String manifest = new String(Kernels.resource("sources.sha256", false), StandardCharsets.UTF_8);
        for (String line : manifest.lines().toList()) {
            String[] parts = line.trim().split("\\s+");
            recorded.put(parts[1], parts[0]);
        }
        Map<String, String> actual = new TreeMap<>();
        try (Stream<Path> files = Files.list(SOURCES)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).toList()) {
                byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
                actual.put(f.getFileName().toString(), HexFormat.of().formatHex(digest));
            }
        }
        assertThat(actual).as("engine/src/main/cuda changed without `bin/build-kernels`: the committed kernels are stale").isEqualTo(recorded);
    }

    /** The check refuses to pass when it cannot compare: no nvcc, or an nvcc of another version than nvcc.version. */
    @Test
    void theKernelCheckFailsWithoutTheCompilerThatBuiltThem(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path script = Path.of("../bin/build-kernels").toAbsolutePath().normalize();
        Path other = dir.resolve("nvcc");
        Files.writeString(other, "#!/bin/sh\necho 'Cuda compilation tools, release 12.4, V12.4.131'\n");
        other.toFile().setExecutable(true);
        String recorded = new String(Kernels.resource("nvcc.version", false), StandardCharsets.UTF_8).trim();
        assertThat(recorded).matches("release [0-9.]+, V[0-9.]+");
        for (String[] c : new String[][] {{dir.resolve("missing").toString(), "nvcc not found"}, {other.toString(), "the check needs that version"}}) {
            ProcessBuilder pb = new ProcessBuilder("bash", script.toString(), "--check").redirectErrorStream(true);
            pb.environment().put("NVCC", c[0]);
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor()).as(out).isEqualTo(1);
            assertThat(out).contains(c[1], recorded);
        }
    }

    @Test
    void everyModuleHasPtxForAmpereAndACubinForHopper() {
        for (String m : Kernels.MODULES) {
            String ptx = new String(Kernels.resource(m + ".ptx", false), StandardCharsets.UTF_8);
            assertThat(ptx).as(m).contains(".target sm_80");
            byte[] cubin = Kernels.resource(m + ".sm_90.cubin", false);
            assertThat(cubin).as(m + " cubin is an ELF file").startsWith(0x7f, 'E', 'L', 'F');
        }
        // the tensor-core GEMM really uses the matrix instructions
        assertThat(new String(Kernels.resource("gemm.ptx", false), StandardCharsets.UTF_8)).contains("wmma.mma.sync");
    }
}
