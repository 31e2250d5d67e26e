package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The CUDA kernels' own source, compiled for the CPU with g++ through src/test/cuda/emu (threads as
 * fibers, barriers and warp shuffles emulated) and run on random inputs against float64 references:
 * every kernel, every weight and KV type, the edges of tiles, chunks and warps (see
 * src/test/cuda/kernels_test.cpp). It checks arithmetic and indexing, not races or the GPU's speed;
 * bin/device-check does those on a GPU.
 */
class KernelEmulationTest {

    @Test
    void everyKernelMatchesItsFloat64ReferenceOnTheCpu() throws IOException, InterruptedException {
        Path exe = Path.of("target/kernel-emulation");
        Files.createDirectories(exe.getParent());
        // -fno-strict-aliasing: the kernels reinterpret registers and shared memory as CUDA allows and C++ does not
        run(List.of("g++", "-std=c++17", "-O2", "-fno-strict-aliasing", "-w", "-I", "src/test/cuda/emu", "-o", exe.toString(), "src/test/cuda/kernels_test.cpp"), "compiling");
        String out = run(List.of(exe.toString()), "running");
        System.out.println(out);
        assertThat(out).contains("PASS gemv_bf16_8", "PASS gemm_bf16", "PASS paged_attention_bf16 hd 128", "PASS sample_rows", "; 0 failed")
                .doesNotContain("FAIL");
    }

    private static String run(List<String> command, String what) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError(command.get(0) + " is needed to run the kernels on the CPU (apt-get install g++): " + e.getMessage(), e);
        }
        byte[] bytes = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).as(what + " finished").isTrue();
        String out = new String(bytes, StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as(what + " the kernel emulation:\n" + out).isZero();
        return out;
    }
}
