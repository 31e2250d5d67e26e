package io.boundless.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;

/**
 * Without a GPU, the closest check of the CUDA backend's launches: every launch a step makes, for
 * every architecture, precision, weight type and batch size, names a kernel that is in the
 * compiled PTX, passes as many arguments as it declares with matching kinds (pointers and longs
 * as .u64, ints as .u32/.s32, floats as .f32), and stays within its block-size bound.
 */
class KernelLaunchTest {

    record Signature(List<String> params, int maxThreads) {}

    static Map<String, Signature> ptxSignatures() {
        Map<String, Signature> out = new HashMap<>();
        Pattern entry = Pattern.compile("\\.visible \\.entry (\\w+)\\(([^)]*)\\)\\s*(\\.maxntid (\\d+))?", Pattern.DOTALL);
        Pattern param = Pattern.compile("\\.param \\.(\\w+)");
        for (String module : Kernels.MODULES) {
            String ptx = new String(Kernels.resource(module + ".ptx", false), StandardCharsets.UTF_8);
            Matcher m = entry.matcher(ptx);
            while (m.find()) {
                List<String> types = new ArrayList<>();
                Matcher p = param.matcher(m.group(2));
                while (p.find()) {
                    types.add(p.group(1));
                }
                out.put(m.group(1), new Signature(types, m.group(4) == null ? 1024 : Integer.parseInt(m.group(4))));
            }
        }
        return out;
    }

    /** A launcher that checks each launch against the PTX and records the kernel names. */
    static final class Checking implements ForwardPass.Launcher {
        final Map<String, Signature> signatures;
        final List<String> launched = new ArrayList<>();

        Checking(Map<String, Signature> signatures) {
            this.signatures = signatures;
        }

        @Override
        public void launch(String kernel, int gridX, int gridY, int threads, Object... args) {
            launched.add(kernel);
            Signature s = signatures.get(kernel);
            assertThat(s).as("kernel %s is in the PTX", kernel).isNotNull();
            assertThat(args).as("arguments of %s", kernel).hasSize(s.params().size());
            for (int i = 0; i < args.length; i++) {
                String type = s.params().get(i);
                Object a = args[i];
                String what = kernel + " argument " + i + " (" + (a == null ? "null pointer" : a.getClass().getSimpleName()) + ") against ." + type;
                if (a == null || a instanceof CUdeviceptr || a instanceof Long) {
                    assertThat(type).as(what).isEqualTo("u64");
                } else if (a instanceof Integer) {
                    assertThat(type).as(what).isIn("u32", "s32");
                } else if (a instanceof Float) {
                    assertThat(type).as(what).isEqualTo("f32");
                } else {
                    throw new AssertionError(what + ": not a kernel argument type");
                }
            }
            assertThat(threads).as("block size of %s", kernel).isBetween(32, s.maxThreads());
            assertThat(gridX).as("grid x of %s", kernel).isBetween(1, Integer.MAX_VALUE);
            assertThat(gridY).as("grid y of %s", kernel).isBetween(1, 65535);
        }
    }

    static ModelConfig config(Architecture arch, int kvHeads, int slidingWindow) {
        return new ModelConfig(arch, 1000, 256, 512, 2, 8, arch == Architecture.GPT2 ? 8 : kvHeads, 32, 1e-5f, 10000, null, 512, false,
                arch == Architecture.GPT2 || arch == Architecture.QWEN2, slidingWindow, 1, List.of(2));
    }

    static ForwardPass pass(ModelConfig c, WeightType wt, WeightType kvType) {
        CUdeviceptr d = new CUdeviceptr();
        int qkvDim = c.qDim() + 2 * c.kvDim();
        boolean llama = c.arch().isLlamaLike();
        ForwardPass.Matrix embed = matrix(wt, c.vocabSize(), c.hidden());
        ForwardPass.Globals g = new ForwardPass.Globals(embed, llama ? null : d, d, llama ? null : d, embed, llama ? d : null, llama ? c.headDim() / 2 : 0,
                false);
        List<ForwardPass.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new ForwardPass.Layer(d, llama ? null : d, matrix(wt, qkvDim, c.hidden()), c.qkvBias() ? d : null, matrix(wt, c.hidden(), c.qDim()),
                    llama ? null : d, d, llama ? null : d, matrix(wt, llama ? 2 * c.intermediate() : c.intermediate(), c.hidden()), llama ? null : d,
                    matrix(wt, c.hidden(), c.intermediate()), llama ? null : d));
        }
        return new ForwardPass(c, g, layers, new ForwardPass.Buffers(d, d, d, d, d, d, d, d, new ForwardPass.Samples(d, d, d, d, d, d, d, d, 64), d, 512), new ForwardPass.Cache(d, 1 << 20, kvType, 16));
    }

    static ForwardPass.Matrix matrix(WeightType wt, int rows, int cols) {
        return new ForwardPass.Matrix(new CUdeviceptr(), wt == WeightType.Q8 ? new CUdeviceptr() : null, wt, rows, cols);
    }

    @Test
    void everyLaunchMatchesACompiledKernel() {
        Map<String, Signature> signatures = ptxSignatures();
        Set<String> used = new HashSet<>();
        for (Architecture arch : Architecture.values()) {
            for (WeightType wt : WeightType.values()) {
                for (WeightType kv : List.of(WeightType.F32, WeightType.BF16)) {
                    ForwardPass pass = pass(config(arch, 2, arch == Architecture.MISTRAL ? 64 : 0), wt, kv);
                    for (int n : new int[] {1, 2, 3, 5, 8, 9, 64, 300}) {
                        for (int r : new int[] {1, n}) {
                            Checking k = new Checking(signatures);
                            pass.run(k, n, r);
                            used.addAll(k.launched);
                            int perLayer = arch.isLlamaLike() && n <= 8 ? 6 : 9;
                            assertThat(k.launched).as("%s %s n=%d", arch, wt, n).hasSize(1 + 2 * perLayer + 3);
                        }
                    }
                }
            }
        }
        // a step with a delta version: lowrank_add after each layer's down projection, as CudaBackend launches it
        ModelConfig c = config(Architecture.LLAMA, 2, 0);
        Checking k = new Checking(signatures);
        pass(c, WeightType.BF16, WeightType.F32).run(k, 5, 1, (kk, layer, x, act) -> kk.launch("lowrank_add", 5, 1, 128, x, act, new CUdeviceptr(),
                new CUdeviceptr(), 0, c.hidden(), c.intermediate(), 2));
        assertThat(k.launched).filteredOn("lowrank_add"::equals).hasSize(c.layers());
        used.addAll(k.launched);
        // every compiled kernel is used by some step, and the GEMM/GEMV split is by rows
        assertThat(used).containsExactlyInAnyOrderElementsOf(signatures.keySet());
    }

    @Test
    void smallBatchesTakeTheGemvAndLargeOnesTheGemm() {
        Map<String, Signature> signatures = ptxSignatures();
        ForwardPass.Matrix w = matrix(WeightType.BF16, 2048, 2048);
        for (int rows = 1; rows <= 20; rows++) {
            Checking k = new Checking(signatures);
            ForwardPass.matmul(k, new CUdeviceptr(), new CUdeviceptr(), null, 0f, w, null, rows, false);
            int m = rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8;
            assertThat(k.launched).containsExactly(rows <= 8 ? "gemv_bf16_" + m : "gemm_bf16");
        }
    }

    @Test
    void ropeRotatesQueriesAndKeysTogetherThenKeysAndValuesAreStored() {
        // q and k sit side by side at the start of each fused q|k|v row: one launch covers heads + kvHeads,
        // then k and v (at offsets qDim and qDim + kvDim) go to the cache
        for (Architecture arch : List.of(Architecture.LLAMA, Architecture.GPT2)) {
            List<Object[]> ropeArgs = new ArrayList<>();
            ForwardPass pass = pass(config(arch, 2, 0), WeightType.BF16, WeightType.BF16);
            pass.run((kernel, gx, gy, threads, args) -> {
                if (kernel.startsWith("rope_kv_write")) {
                    ropeArgs.add(args);
                }
            }, 4, 4);
            int kvDim = arch == Architecture.GPT2 ? 8 * 32 : 2 * 32;
            assertThat(ropeArgs).hasSize(2);
            assertThat(ropeArgs.get(0)[1]).isEqualTo(8 * 32 + 2 * kvDim);                    // row stride: q | k | v
            assertThat(ropeArgs.get(0)[4]).isEqualTo(arch == Architecture.GPT2 ? 0 : 8 + 2); // heads rotated (none for GPT-2)
            assertThat(ropeArgs.get(0)[6]).isEqualTo(arch == Architecture.GPT2 ? 0 : 16);    // pairs per head
            assertThat(ropeArgs.get(0)[10]).isEqualTo(8 * 32);                                // k offset
            assertThat(ropeArgs.get(0)[11]).isEqualTo(8 * 32 + kvDim);                        // v offset
            assertThat(ropeArgs.get(0)[13]).isEqualTo(kvDim);
        }
    }
}
