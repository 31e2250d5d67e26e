package io.boundless.engine.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.boundless.engine.cpu.Rope;
import io.boundless.engine.cuda.Cuda;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Backend selection: auto, cpu, cuda; falling back and failing clearly where there is no usable GPU. */
class BackendsTest {
    // hidden 48 is not a multiple of 32: the CUDA kernels refuse it before touching a device
    static final ModelConfig ODD = new ModelConfig(Architecture.LLAMA, 100, 48, 64, 1, 4, 2, 12, 1e-5f, 10000, (Rope.Llama3Scaling) null, 64, false,
            false, 0, 1, List.of(2));
    static final Cuda.Probe GPU = new Cuda.Probe(true, null, "NVIDIA H100 80GB HBM3", 9, 0, 12080, 1);
    static final Cuda.Probe NONE = new Cuda.Probe(false, "no NVIDIA driver here: libcuda.so.1 cannot be loaded", null, 0, 0, 0, 0);
    static Path dir;
    static LoadedModel model;

    @BeforeAll
    static void writeModel() throws IOException {
        dir = Files.createTempDirectory("backends-test");
        ModelWriter.writeHuggingFace(dir, ODD, ModelWriter.randomWeights(ODD, 1), DType.F32);
        model = LoadedModel.open(dir);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static EngineConfig config(BackendKind kind) {
        return new EngineConfig(16, 1 << 20, 64, 4, 4, 1).withBackend(kind);
    }

    @Test
    void theChoiceFollowsTheConfigAndTheProbe() {
        assertThat(Backends.choose(BackendKind.CPU, GPU).kind()).isEqualTo(BackendKind.CPU);
        assertThat(Backends.choose(BackendKind.AUTO, GPU).kind()).isEqualTo(BackendKind.CUDA);
        assertThat(Backends.choose(BackendKind.AUTO, GPU).reason()).contains("H100", "9.0");
        Backends.Choice fallback = Backends.choose(BackendKind.AUTO, NONE);
        assertThat(fallback.kind()).isEqualTo(BackendKind.CPU);
        assertThat(fallback.reason()).contains("libcuda.so.1");
        assertThat(Backends.choose(BackendKind.CUDA, GPU).kind()).isEqualTo(BackendKind.CUDA);
        assertThatThrownBy(() -> Backends.choose(BackendKind.CUDA, NONE)).isInstanceOf(BackendUnavailableException.class)
                .hasMessage("the cuda backend was configured, but CUDA is not usable here: no NVIDIA driver here: libcuda.so.1 cannot be loaded");
    }

    @Test
    void withoutADriverTheProbeSaysSoInOneLine() {
        assumeThat(Path.of("/dev/nvidia0")).as("this check is for machines without a GPU").doesNotExist();
        Cuda.Probe p = Cuda.probe(0);
        assertThat(p.usable()).isFalse();
        assertThat(p.reason()).contains("libcuda.so.1").doesNotContain("\n");
    }

    @Test
    void autoRunsOnTheCpuWhereThereIsNoDevice() {
        try (Backend b = Backends.create(model.weights(), config(BackendKind.AUTO), d -> NONE)) {
            assertThat(b).isInstanceOf(CpuBackend.class);
            assertThat(b.name()).isEqualTo("cpu");
        }
    }

    @Test
    void forcingCudaWithoutADeviceIsAClearError() {
        assertThatThrownBy(() -> Backends.create(model.weights(), config(BackendKind.CUDA), d -> NONE)).isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("cuda backend was configured").hasMessageContaining("libcuda.so.1");
    }

    @Test
    void aModelTheKernelsCannotRunFallsBackUnderAutoAndFailsUnderCuda() {
        // the probe claims a GPU; the backend refuses the shape before any driver call
        try (Backend b = Backends.create(model.weights(), config(BackendKind.AUTO), d -> GPU)) {
            assertThat(b.name()).isEqualTo("cpu");
        }
        assertThatThrownBy(() -> Backends.create(model.weights(), config(BackendKind.CUDA), d -> GPU))
                .isInstanceOf(BackendUnavailableException.class).hasMessageContaining("hidden size 48 is not a multiple of 32");
    }

    @Test
    void theRealProbeOnThisMachineDecidesAuto() {
        try (Backend b = Backends.create(model.weights(), config(BackendKind.AUTO))) {
            // the odd shape runs on the CPU whatever the machine has
            assertThat(b.name()).isEqualTo("cpu");
            assertThat(b.numBlocks()).isPositive();
        }
    }

    @Test
    void backendNamesParse() {
        assertThat(BackendKind.parse(" CUDA ")).isEqualTo(BackendKind.CUDA);
        assertThat(BackendKind.parse("auto")).isEqualTo(BackendKind.AUTO);
        assertThatThrownBy(() -> BackendKind.parse("rocm")).hasMessage("backend must be auto, cpu or cuda, got 'rocm'");
    }
}
