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
 * here (on machines without nvcc too). `bin/build-kernels --check`, in bin/test where nvcc exists,
 * rebuilds and compares the outputs byte for byte.
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
