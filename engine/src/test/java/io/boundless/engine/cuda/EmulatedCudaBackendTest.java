package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.backend.Backend;
import io.boundless.engine.cpu.Rope;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.sched.Sequence;
import io.boundless.engine.sched.SequenceListener;
import io.boundless.engine.tensor.DType;
import io.boundless.engine.tensor.Quant;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole CUDA backend — uploads, step packing, graph capture and replay, every launch, the
 * sampling reductions, what comes back — on an emulated device that runs the kernels' own source
 * on the CPU, held to the CPU backend by the same parity check the GPU run uses (DeviceCheck):
 * logits of every prompt position (f32 within 1e-5 relative L2 per position, native BF16 within 3e-2 (measured up to 2.1e-2), and the
 * same argmax wherever the bound cannot change it), greedy tokens alone
 * and batched with a shared prefix equal to the CPU's, and equal with and without graphs.
 */
class EmulatedCudaBackendTest {
    /** Per prompt position: f32 to float rounding of the CPU's (measured 1.5e-6 to 2e-6), native BF16 as on the device. */
    static final DeviceCheck.Bounds BOUNDS = new DeviceCheck.Bounds(1e-5, 1e-5, 3e-2);

    record Case(String name, ModelConfig config, DType dtype, boolean gguf) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<Case> cases() {
        return List.of(
                new Case("llama (GQA, Llama 3 RoPE scaling, BF16)", new ModelConfig(Architecture.LLAMA, 512, 128, 256, 2, 4, 2, 32, 1e-5f, 500000,
                        new Rope.Llama3Scaling(8, 1, 4, 64), 512, true, false, 0, 1, List.of(2)), DType.BF16, false),
                new Case("qwen2 (q/k/v biases, F32)", new ModelConfig(Architecture.QWEN2, 512, 128, 320, 2, 4, 1, 32, 1e-6f, 1000000, null, 512, false, true,
                        0, 1, List.of(2)), DType.F32, false),
                new Case("mistral (sliding window 24, F16)", new ModelConfig(Architecture.MISTRAL, 512, 128, 256, 2, 4, 2, 32, 1e-5f, 10000, null, 512, false,
                        false, 24, 1, List.of(2)), DType.F16, false),
                new Case("gpt2 (LayerNorm, biases, learned positions, F32)", new ModelConfig(Architecture.GPT2, 512, 128, 512, 2, 4, 4, 32, 1e-5f, 0, null,
                        256, true, true, 0, 1, List.of(2)), DType.F32, false),
                new Case("llama GGUF Q8_0 (adjacent RoPE pairs)", new ModelConfig(Architecture.LLAMA, 512, 128, 256, 2, 4, 2, 32, 1e-5f, 10000, null, 512,
                        false, false, 0, 1, List.of(2)), DType.Q8_0, true));
    }

    static DeviceCheck.Factory emulated(Precision precision) {
        return (m, rows, running, graphs) -> new CudaBackend(m.weights(), EmulatedDevice.PROBE, new CudaOptions(0, 0.3, precision, graphs, false), 16,
                rows, running, () -> new EmulatedDevice(48L << 20));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void theCudaBackendOnEmulatedKernelsPassesTheDeviceCheck(Case c) throws IOException {
        Path dir = Files.createTempDirectory("emulated-cuda");
        Path model = dir;
        Path reference = dir;
        List<ModelWriter.Weight> weights = ModelWriter.randomWeights(c.config(), 7);
        if (c.gguf()) {
            model = dir.resolve("model.gguf");
            ModelWriter.writeGguf(model, c.config(), weights, c.dtype());
            // the CPU multiplies Q8_0 weights by Q8_0-quantized activations (llama.cpp's arithmetic), the GPU by float
            // activations: the CPU's reference is the same weights, dequantized, in F32
            reference = dir.resolve("dequantized.gguf");
            ModelWriter.writeGguf(reference, c.config(), roundTrip(weights, c.dtype()), DType.F32);
        } else {
            ModelWriter.writeHuggingFace(dir, c.config(), weights, c.dtype());
        }
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int failures;
        try (LoadedModel m = LoadedModel.open(model); LoadedModel cpu = LoadedModel.open(reference)) {
            int[] prompt = DeviceCheck.randomIds(21, c.config().vocabSize(), 5);
            System.setOut(new PrintStream(buf, true));
            failures = DeviceCheck.parity(c.name(), m, cpu, prompt, null, emulated(Precision.F32), emulated(Precision.NATIVE), BOUNDS);
        } finally {
            System.setOut(old);
        }
        String out = buf.toString();
        System.out.print(out);
        assertThat(out).contains("cuda-f32 vs cpu logits", "greedy tokens cuda-f32 = cpu", "native tokens with graphs = without");
        assertThat(failures).as(out).isZero();
    }

    /** Matrices quantized to {@code type} and back, as the GGUF writer stores them (vectors stay F32). */
    static List<ModelWriter.Weight> roundTrip(List<ModelWriter.Weight> weights, DType type) {
        return weights.stream().map(w -> {
            if (w.shape().length != 2 || w.values().length % 32 != 0) {
                return w;
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment q = a.allocate(type.byteSize(w.values().length));
                Quant.quantize(type, w.values(), q);
                return new ModelWriter.Weight(w.hfName(), w.shape(), new Tensor("q", type, new long[] {w.values().length}, q).toFloatArray());
            }
        }).toList();
    }

    /**
     * Top-k sampling from the device's candidates, temperature sampling drawn on the device, top-p
     * from a row fetched after the candidates fell short, n = 2
     * sharing a prompt (a copy-on-write block copy on the device), and preemption for lack of
     * blocks: the same tokens as the CPU engine with the same number of blocks.
     */
    @Test
    void samplingSharingAndPreemptionMatchTheCpu() throws IOException {
        Case c = cases().get(0);
        Path dir = Files.createTempDirectory("emulated-cuda");
        ModelWriter.writeHuggingFace(dir, c.config(), ModelWriter.randomWeights(c.config(), 11), DType.BF16);
        int blocks = 9;
        long perBlock = CudaBackend.bytesPerBlock(c.config(), 16, WeightType.F32);
        int[][] prompts = DeviceCheck.prompts(4, 21, c.config().vocabSize(), 3);
        try (LoadedModel m = LoadedModel.open(dir)) {
            EngineConfig cfg = new EngineConfig(16, blocks * io.boundless.engine.kv.KvCache.bytesPerBlock(c.config(), 16), 64, 4, 16, 1);
            Map<String, List<Integer>> cpu;
            long cpuPreemptions;
            try (Engine e = new Engine(m.weights(), cfg)) {
                cpu = run(e, prompts);
                cpuPreemptions = e.load().preemptions();
            }
            CudaBackend gpu = new CudaBackend(m.weights(), EmulatedDevice.PROBE, new CudaOptions(0, 0.5, Precision.F32, true, false), 16, 64, 4,
                    () -> new EmulatedDevice(48L << 20, 2 * blocks * perBlock));
            assertThat(gpu.numBlocks()).isEqualTo(blocks);
            Map<String, List<Integer>> cuda;
            long cudaPreemptions;
            try (Engine e = new Engine(m.config(), cfg, gpu)) {
                cuda = run(e, prompts);
                cudaPreemptions = e.load().preemptions();
            }
            assertThat(cuda).isEqualTo(cpu);
            assertThat(cpuPreemptions).isPositive();
            assertThat(cudaPreemptions).isEqualTo(cpuPreemptions);
        }
    }

    /**
     * Delta versions on the device: one batch of base rows and rows of two deltas (one editing both layers at rank 2),
     * prefill and decode, through graphs on (a step with a delta runs without them): the same greedy tokens as the CPU
     * backend with the same deltas, which OverlayServingTest holds to the merged checkpoints.
     */
    @Test
    void deltaVersionsServeAsOnTheCpu() throws IOException {
        Case c = cases().get(0);
        Path dir = Files.createTempDirectory("emulated-cuda-overlay");
        ModelWriter.writeHuggingFace(dir, c.config(), ModelWriter.randomWeights(c.config(), 13), DType.F32);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        List<io.boundless.engine.model.Overlay> overlays = new java.util.ArrayList<>();
        for (int k = 0; k < 2; k++) {
            List<io.boundless.engine.model.Overlay.LowRank> ds = new java.util.ArrayList<>();
            for (int layer = k; layer < 2; layer++) {
                int rank = k + 1;
                float[] u = new float[c.config().hidden() * rank];
                float[] v = new float[c.config().intermediate() * rank];
                for (int i = 0; i < u.length; i++) {
                    u[i] = (float) (0.5 * rnd.nextGaussian());
                }
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.5 * rnd.nextGaussian());
                }
                ds.add(new io.boundless.engine.model.Overlay.LowRank(layer, c.config().hidden(), c.config().intermediate(), rank, u, v));
            }
            Path f = dir.resolve("delta-" + k + ".safetensors");
            io.boundless.engine.model.Overlay.write(f, c.config().arch(), ds, Map.of());
            overlays.add(io.boundless.engine.model.Overlay.read("d" + k, f, c.config()));
        }
        int[][] prompts = DeviceCheck.prompts(3, 19, c.config().vocabSize(), 5);
        try (LoadedModel m = LoadedModel.open(dir)) {
            EngineConfig cfg = new EngineConfig(16, 64 * io.boundless.engine.kv.KvCache.bytesPerBlock(c.config(), 16), 64, 8, 16, 1);
            Map<String, List<Integer>> cpu;
            try (Engine e = new Engine(m.weights(), cfg)) {
                cpu = runWith(e, prompts, overlays);
            }
            CudaBackend gpu = new CudaBackend(m.weights(), EmulatedDevice.PROBE, new CudaOptions(0, 0.5, Precision.F32, true, false), 16, 64, 8,
                    () -> new EmulatedDevice(48L << 20, 64 * CudaBackend.bytesPerBlock(c.config(), 16, WeightType.F32)));
            assertThat(gpu.servesOverlays()).isTrue();
            Map<String, List<Integer>> cuda;
            try (Engine e = new Engine(m.config(), cfg, gpu)) {
                cuda = runWith(e, prompts, overlays);
            }
            assertThat(cpu.get("0/base")).as("a delta changes the tokens").isNotEqualTo(cpu.get("0/d0"));
            assertThat(cuda).isEqualTo(cpu);
        }
    }

    /** Greedy tokens of each prompt as the base and as each overlay, all submitted at once. */
    static Map<String, List<Integer>> runWith(Engine e, int[][] prompts, List<io.boundless.engine.model.Overlay> overlays) {
        Map<String, List<Integer>> out = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(prompts.length * (overlays.size() + 1));
        for (int i = 0; i < prompts.length; i++) {
            for (int k = -1; k < overlays.size(); k++) {
                String key = i + "/" + (k < 0 ? "base" : overlays.get(k).name());
                e.submit(prompts[i], new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 12, 0, true), 1, 0, new SequenceListener() {
                    @Override
                    public void onToken(Sequence seq, Sampler.Sample sample) {
                        out.computeIfAbsent(key, x -> new java.util.ArrayList<>()).add(sample.token());
                    }

                    @Override
                    public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                        done.countDown();
                    }
                }, k < 0 ? null : overlays.get(k));
            }
        }
        for (int i = 0; i < 10_000 && e.step(); i++) {
            // until idle
        }
        assertThat(done.getCount()).isZero();
        return out;
    }

    /** Each sample's tokens by "prompt/sample"; prompt 0 asks for two samples. */
    static Map<String, List<Integer>> run(Engine e, int[][] prompts) {
        Map<String, List<Integer>> out = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(prompts.length + 1);
        for (int i = 0; i < prompts.length; i++) {
            int prompt = i;
            // even prompts: top-k (candidates from the device); 1: temperature and min-p (drawn on the device);
            // 3: top-p alone beyond the 64 best (the row fetched from the device afterwards)
            SamplingParams p = i % 2 == 0 ? new SamplingParams(0.8f, 20, 0.9f, 0, 1, 0, 0, 100L + i, 2, List.of(), 24, 0, true)
                    : i == 1 ? new SamplingParams(1.1f, 0, 1, 0.01f, 1, 0, 0, 100L + i, 1, List.of(), 24, 0, true)
                    : new SamplingParams(3f, 0, 0.999f, 0, 1, 0, 0, 100L + i, 0, List.of(), 24, 0, true);
            long[] ids = e.submit(prompts[i], p, i == 0 ? 2 : 1, 0, new SequenceListener() {
                @Override
                public void onToken(Sequence seq, Sampler.Sample sample) {
                    out.computeIfAbsent(prompt + "/" + seq.sampleIndex(), k -> new java.util.ArrayList<>()).add(sample.token());
                }

                @Override
                public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                    done.countDown();
                }
            });
            assertThat(ids).hasSize(i == 0 ? 2 : 1);
        }
        e.start();
        try {
            assertThat(done.await(600, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException ex) {
            throw new AssertionError(ex);
        }
        assertThat(e.lastError()).isNull();
        return out;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void theDescriptionNamesTheEmulation(Case c) throws IOException {
        Path dir = Files.createTempDirectory("emulated-cuda");
        ModelWriter.writeHuggingFace(dir, c.config(), ModelWriter.randomWeights(c.config(), 7), c.gguf() ? DType.F32 : c.dtype());
        try (LoadedModel m = LoadedModel.open(dir); Backend b = emulated(Precision.NATIVE).make(m, 64, 4, true)) {
            assertThat(b.device()).contains("emulated GPU", "kernels emulated on the CPU", "NATIVE weights", "BF16 KV cache", "CUDA graphs up to batch 4");
            assertThat(b.numBlocks()).isPositive();
        }
    }
}
