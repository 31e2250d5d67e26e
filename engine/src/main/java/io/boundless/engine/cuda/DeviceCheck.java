package io.boundless.engine.cuda;

import io.boundless.engine.backend.Backend;
import io.boundless.engine.backend.BackendKind;
import io.boundless.engine.backend.CpuBackend;
import io.boundless.engine.backend.RowNeed;
import io.boundless.engine.backend.StepOutput;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.model.Transformer.Chunk;
import io.boundless.engine.sample.Sampler;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.sched.Engine;
import io.boundless.engine.sched.EngineConfig;
import io.boundless.engine.sched.Sequence;
import io.boundless.engine.sched.SequenceListener;
import io.boundless.engine.tensor.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/**
 * Checks a GPU node: the CUDA backend against the CPU backend and a reference's logits, and its
 * speed. One line per result on standard output, tab-separated: {@code RESULT name value unit
 * verdict detail}; bin/device-check runs it on the device machine and tabulates the lines.
 *
 * <pre>
 * DeviceCheck probe
 * DeviceCheck tiny DIR                       write a tiny random Llama-style model (for compute-sanitizer)
 * DeviceCheck smoke DIR                      a few prefill and decode steps, each kernel waited for
 * DeviceCheck parity NAME DIR PROMPT [REF]   logits and greedy tokens: CUDA f32 and native vs CPU (and REF)
 * DeviceCheck perf NAME DIR                  copy bandwidth; decode tok/s at 1, 32, 128 streams; prefill tok/s
 * </pre>
 * PROMPT is a file of comma-separated token ids; REF the reference's float32 little-endian logits
 * for every prompt position ([tokens × vocab]).
 */
public final class DeviceCheck {

    /**
     * Thresholds the logit verdicts use: the relative L2 error of the worst prompt position (each row against the
     * other's row), and in every position whose top two logits are further apart than that error can move them the
     * same argmax.
     */
    record Bounds(double f32VsCpu, double f32VsRef, double nativeVsRef) {}

    /** On a GPU: float32 sums in another order than the CPU's (no TF32), BF16 weights and activations in native. */
    static final Bounds DEVICE = new Bounds(1e-4, 1e-4, 3e-2);
    static final double NATIVE_VS_REF = DEVICE.nativeVsRef();
    static final int GREEDY_STEPS = 32;

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: DeviceCheck probe | tiny DIR | smoke DIR | parity NAME DIR PROMPT [REF] | perf NAME DIR");
            System.exit(2);
        }
        int failures = switch (args[0]) {
            case "probe" -> probe();
            case "tiny" -> {
                tiny(Path.of(args[1]));
                yield 0;
            }
            case "smoke" -> smoke(Path.of(args[1]));
            case "parity" -> {
                try (LoadedModel m = LoadedModel.open(Path.of(args[2]))) {
                    int[] prompt = readIds(Path.of(args[3]));
                    float[] ref = args.length > 4 ? readFloats(Path.of(args[4])) : null;
                    yield parity(args[1], m, m, prompt, ref, DeviceCheck::cudaF32, DeviceCheck::cudaNative, DEVICE);
                }
            }
            case "perf" -> {
                try (LoadedModel m = LoadedModel.open(Path.of(args[2]))) {
                    yield perf(args[1], m);
                }
            }
            default -> throw new IllegalArgumentException("unknown check " + args[0]);
        };
        System.exit(failures == 0 ? 0 : 1);
    }

    static void result(String name, double value, String unit, String verdict, String detail) {
        String v = value == Math.rint(value) && Math.abs(value) < 1e15 ? Long.toString((long) value) : String.format(Locale.ROOT, "%.4g", value);
        System.out.printf(Locale.ROOT, "RESULT\t%s\t%s\t%s\t%s\t%s%n", name, v, unit, verdict, detail);
        System.out.flush();
    }

    /** The driver, the device, and NVML's reading of the same device (found by its PCI bus id). */
    static int probe() {
        Cuda.Probe p = Cuda.probe(0);
        result("probe", p.usable() ? 1 : 0, "", p.usable() ? "PASS" : "FAIL", p.describe());
        if (!p.usable()) {
            return 1;
        }
        jcuda.driver.CUdevice dev = new jcuda.driver.CUdevice();
        Cuda.check(JCudaDriver.cuDeviceGet(dev, 0), "cuDeviceGet");
        String[] bus = new String[1];
        Cuda.check(JCudaDriver.cuDeviceGetPCIBusId(bus, 32, dev), "cuDeviceGetPCIBusId");
        Nvml.Opened o = Nvml.open(bus[0].trim());
        if (o.nvml() == null) {
            result("nvml", 0, "", "FAIL", o.reason());
            return 1;
        }
        try (Nvml n = o.nvml()) {
            Nvml.Reading r = n.read();
            boolean ok = r.memoryTotal() > 0 && r.memoryUsed() <= r.memoryTotal() && r.utilization() >= 0 && r.utilization() <= 1;
            result("nvml", r.memoryTotal() / 1e9, "GB", ok ? "PASS" : "FAIL", "bus " + n.busId() + ", utilization " + r.utilization() + ", used "
                    + r.memoryUsed() / (1 << 20) + " MiB");
            return ok ? 0 : 1;
        }
    }

    /** A backend under test, made for a model. */
    interface Factory {
        Backend make(LoadedModel m, int maxRows, int maxRunning, boolean graphs);
    }

    static Backend cudaF32(LoadedModel m, int maxRows, int maxRunning, boolean graphs) {
        return cuda(m, Precision.F32, maxRows, maxRunning, graphs, false, 0.3);
    }

    static Backend cudaNative(LoadedModel m, int maxRows, int maxRunning, boolean graphs) {
        return cuda(m, Precision.NATIVE, maxRows, maxRunning, graphs, false, 0.3);
    }

    static CudaBackend cuda(LoadedModel m, Precision p, int maxRows, int maxRunning, boolean graphs, boolean sync, double fraction) {
        return new CudaBackend(m.weights(), Cuda.probe(0), new CudaOptions(0, fraction, p, graphs, sync), 16, maxRows, maxRunning);
    }

    static Backend cpu(LoadedModel m) {
        return new CpuBackend(m.weights(), Runtime.getRuntime().availableProcessors(), 16, 2L << 30);
    }

    static void tiny(Path dir) throws IOException {
        ModelConfig c = new ModelConfig(io.boundless.engine.model.Architecture.LLAMA, 512, 128, 256, 2, 4, 2, 32, 1e-5f, 10000, null, 512,
                true, false, 0, 1, List.of(2));
        Files.createDirectories(dir);
        ModelWriter.writeHuggingFace(dir, c, ModelWriter.randomWeights(c, 3), DType.BF16);
    }

    /** Prefill (GEMM path) and decode (GEMV path, graphs) with every kernel waited for: what compute-sanitizer watches. */
    static int smoke(Path dir) {
        try (LoadedModel m = LoadedModel.open(dir)) {
            int failures = 0;
            for (Precision p : Precision.values()) {
                try (CudaBackend b = cuda(m, p, 64, 4, true, true, 0.05)) {
                    Engine e = new Engine(m.config(), new EngineConfig(16, 1, 64, 4, 4, 1, BackendKind.CUDA, CudaOptions.defaults()), b);
                    int[][] prompts = {randomIds(40, m.config().vocabSize(), 1), randomIds(3, m.config().vocabSize(), 2), randomIds(17, m.config().vocabSize(), 3)};
                    List<List<Integer>> out = generate(e, prompts, new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 6, 0, true));
                    boolean ok = out.stream().allMatch(t -> t.size() == 6);
                    result("smoke-" + p.name().toLowerCase(Locale.ROOT), out.stream().mapToInt(List::size).sum(), "tokens", ok ? "PASS" : "FAIL",
                            "3 prompts (40, 3, 17 tokens), 6 greedy steps each");
                    failures += ok ? 0 : 1;
                }
            }
            return failures;
        }
    }

    /**
     * Logits of every prompt position from the CPU backend, CUDA f32 and CUDA native, compared with
     * each other and with the reference; then greedy generation (alone and batched with a shared
     * prefix) on CUDA f32 against the CPU, and CUDA native with graphs against without.
     */
    static int parity(String name, LoadedModel m, int[] prompt, float[] ref, Factory f32, Factory nat, Bounds bounds) {
        return parity(name, m, m, prompt, ref, f32, nat, bounds);
    }

    /**
     * As above, with the CPU backend on {@code cpuModel}: the same weights in another form, where the
     * CPU's arithmetic for the device's form differs (Q8_0: the CPU quantizes activations as
     * llama.cpp does, the GPU multiplies float activations by the dequantized weights).
     */
    static int parity(String name, LoadedModel m, LoadedModel cpuModel, int[] prompt, float[] ref, Factory f32, Factory nat, Bounds bounds) {
        int vocab = m.config().vocabSize();
        int failures = 0;
        float[] cpuLogits;
        try (Backend cpu = cpu(cpuModel)) {
            cpuLogits = logitsOfPrompt(cpu, prompt, vocab);
        }
        float[] f32Logits;
        try (Backend b = f32.make(m, Math.max(64, prompt.length), 8, false)) {
            f32Logits = logitsOfPrompt(b, prompt, vocab);
        }
        float[] natLogits;
        try (Backend b = nat.make(m, Math.max(64, prompt.length), 8, false)) {
            natLogits = logitsOfPrompt(b, prompt, vocab);
        }
        failures += logits(name + ": cuda-f32 vs cpu logits", f32Logits, cpuLogits, vocab, bounds.f32VsCpu());
        if (ref != null) {
            if (ref.length != cpuLogits.length) {
                throw new IllegalArgumentException("the reference has " + ref.length + " logits, the prompt needs " + cpuLogits.length);
            }
            failures += logits(name + ": cpu vs reference logits", cpuLogits, ref, vocab, bounds.f32VsRef());
            failures += logits(name + ": cuda-f32 vs reference logits", f32Logits, ref, vocab, bounds.f32VsRef());
            failures += logits(name + ": cuda-native vs reference logits", natLogits, ref, vocab, bounds.nativeVsRef());
        } else {
            failures += logits(name + ": cuda-native vs cpu logits", natLogits, cpuLogits, vocab, bounds.nativeVsRef());
        }

        // a delta version (an edit's low-rank overlay on layer 0's down projection, rank 2): its logits on the device as on the CPU
        io.boundless.engine.model.Overlay overlay = randomOverlay(m.config());
        float[] cpuEdited;
        try (Backend cpu = cpu(cpuModel)) {
            cpuEdited = logitsOfPrompt(cpu, prompt, vocab, overlay);
        }
        try (Backend b = f32.make(m, Math.max(64, prompt.length), 8, false)) {
            failures += logits(name + ": delta version cuda-f32 vs cpu logits", logitsOfPrompt(b, prompt, vocab, overlay), cpuEdited, vocab, bounds.f32VsCpu());
        }

        // greedy: one sequence, then six sharing a prefix (prefix cache, several sequences per step, GEMM prefill)
        SamplingParams greedy = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), GREEDY_STEPS, 0, true);
        SamplingParams shorter = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 16, 0, true);
        int[][] alone = {prompt};
        int[][] batch = new int[6][];
        for (int i = 0; i < batch.length; i++) {
            int[] tail = randomIds(3 + 7 * i, vocab, 100 + i);
            batch[i] = concat(prompt, tail);
        }
        List<List<Integer>> cpuAlone = generate(engine(m, cpu(cpuModel)), alone, greedy);
        List<List<Integer>> cpuBatch = generate(engine(m, cpu(cpuModel)), batch, shorter);
        List<List<Integer>> f32Alone = generate(engine(m, f32.make(m, 256, 8, true)), alone, greedy);
        List<List<Integer>> f32Batch = generate(engine(m, f32.make(m, 256, 8, true)), batch, shorter);
        failures += tokens(name + ": greedy tokens cuda-f32 = cpu", f32Alone, cpuAlone);
        failures += tokens(name + ": batched greedy tokens cuda-f32 = cpu", f32Batch, cpuBatch);
        List<List<Integer>> graphs = generate(engine(m, nat.make(m, 256, 8, true)), batch, shorter);
        List<List<Integer>> eager = generate(engine(m, nat.make(m, 256, 8, false)), batch, shorter);
        failures += tokens(name + ": native tokens with graphs = without", graphs, eager);
        return failures;
    }

    static Engine engine(LoadedModel m, Backend b) {
        return new Engine(m.config(), new EngineConfig(16, 1, 256, 8, 64, 1), b);
    }

    /** A rank-2 delta on layer 0's down projection with factors of size 0.05, seeded: a random edit. */
    static io.boundless.engine.model.Overlay randomOverlay(io.boundless.engine.model.ModelConfig c) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(17);
        float[] u = new float[c.hidden() * 2];
        float[] v = new float[c.intermediate() * 2];
        for (int i = 0; i < u.length; i++) {
            u[i] = (float) (0.05 * r.nextGaussian());
        }
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (0.05 * r.nextGaussian());
        }
        return new io.boundless.engine.model.Overlay("device-check", List.of(new io.boundless.engine.model.Overlay.LowRank(0, c.hidden(),
                c.intermediate(), 2, u, v)), "00000000000000010000000000000000000000000000000000000000000000000");
    }

    static float[] logitsOfPrompt(Backend b, int[] prompt, int vocab) {
        return logitsOfPrompt(b, prompt, vocab, null);
    }

    static float[] logitsOfPrompt(Backend b, int[] prompt, int vocab, io.boundless.engine.model.Overlay overlay) {
        int[] table = new int[(prompt.length + b.blockSize() - 1) / b.blockSize()];
        for (int i = 0; i < table.length; i++) {
            table[i] = i;
        }
        RowNeed[] whole = new RowNeed[prompt.length];
        Arrays.fill(whole, RowNeed.WHOLE);
        StepOutput out = b.forward(List.of(new Chunk(prompt, 0, table, 0, prompt.length, overlay)), whole);
        float[] logits = new float[prompt.length * vocab];
        for (int r = 0; r < prompt.length; r++) {
            System.arraycopy(out.logits(), out.offset(r), logits, r * vocab, vocab);
        }
        return logits;
    }

    /** Generates from each prompt on the engine (then closes it); each list of tokens, in prompt order. */
    static List<List<Integer>> generate(Engine e, int[][] prompts, SamplingParams p) {
        try (e) {
            CountDownLatch done = new CountDownLatch(prompts.length);
            ConcurrentHashMap<Long, List<Integer>> tokens = new ConcurrentHashMap<>();
            long[] ids = new long[prompts.length];
            for (int i = 0; i < prompts.length; i++) {
                ids[i] = e.submit(prompts[i], p, 1, 0, new SequenceListener() {
                    @Override
                    public void onToken(Sequence seq, Sampler.Sample sample) {
                        tokens.computeIfAbsent(seq.id, k -> new ArrayList<>()).add(sample.token());
                    }

                    @Override
                    public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                        done.countDown();
                    }
                })[0];
            }
            // started after every prompt is queued, so that the batches (and with them which rows take the
            // GEMV and which the GEMM, whose roundings differ) are the same in every run
            e.start();
            if (!done.await(600, TimeUnit.SECONDS)) {
                throw new IllegalStateException("generation did not finish in 10 minutes");
            }
            if (e.lastError() != null) {
                throw new IllegalStateException("an engine step failed: " + e.lastError(), e.lastError());
            }
            List<List<Integer>> out = new ArrayList<>();
            for (long id : ids) {
                out.add(tokens.getOrDefault(id, List.of()));
            }
            return out;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(ex);
        }
    }

    static int tokens(String name, List<List<Integer>> got, List<List<Integer>> want) {
        int equal = 0;
        int total = 0;
        for (int i = 0; i < want.size(); i++) {
            List<Integer> g = got.get(i);
            List<Integer> w = want.get(i);
            int k = 0;
            while (k < Math.min(g.size(), w.size()) && g.get(k).equals(w.get(k))) {
                k++;
            }
            equal += k;
            total += w.size();
        }
        boolean ok = equal == total && total > 0;
        result(name, equal, "tokens", ok ? "PASS" : "FAIL", "equal leading tokens of " + total + " in " + want.size() + " sequences");
        return ok ? 0 : 1;
    }

    /** ‖a − b‖ / ‖b‖ in double; NaN anywhere gives NaN (which fails every bound). */
    static double relError(float[] a, float[] b) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num) / Math.sqrt(den);
    }

    /** The worst row's relative L2 error ({@code a} and {@code b} hold rows of {@code vocab} logits). */
    static double worstRowError(float[] a, float[] b, int vocab) {
        if (a.length != b.length || a.length % vocab != 0) {
            throw new IllegalArgumentException(a.length + " and " + b.length + " logits are not rows of " + vocab);
        }
        double worst = 0;
        for (int r = 0; r < a.length / vocab; r++) {
            double e = relError(Arrays.copyOfRange(a, r * vocab, (r + 1) * vocab), Arrays.copyOfRange(b, r * vocab, (r + 1) * vocab));
            worst = Double.isNaN(e) ? Double.NaN : Math.max(worst, e);
            if (Double.isNaN(worst)) {
                break;
            }
        }
        return worst;
    }

    /**
     * Each row within {@code bound} (relative L2 against {@code b}'s row), and the same argmax in every row whose top
     * two logits in {@code b} are more than twice the bound's reach (bound × the row's L2 norm) apart: there the
     * allowed error cannot change the choice, so a different one is a failure, not a near tie.
     */
    static int logits(String name, float[] a, float[] b, int vocab, double bound) {
        double err = worstRowError(a, b, vocab);
        int rows = a.length / vocab;
        int same = 0;
        int decisive = 0;
        List<Integer> wrong = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            float[] ra = Arrays.copyOfRange(a, r * vocab, (r + 1) * vocab);
            float[] rb = Arrays.copyOfRange(b, r * vocab, (r + 1) * vocab);
            int ia = Sampler.argmax(ra);
            int ib = Sampler.argmax(rb);
            same += ia == ib ? 1 : 0;
            double norm = 0;
            double second = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < vocab; i++) {
                norm += (double) rb[i] * rb[i];
                if (i != ib) {
                    second = Math.max(second, rb[i]);
                }
            }
            if (rb[ib] - second > 2 * bound * Math.sqrt(norm)) {
                decisive++;
                if (ia != ib) {
                    wrong.add(r);
                }
            }
        }
        boolean ok = err <= bound && wrong.isEmpty();
        result(name, err, "rel-L2", ok ? "PASS" : "FAIL", "bound " + bound + " per position; argmax equal in " + same + " of " + rows
                + " positions" + (wrong.isEmpty() ? ", in all " + decisive + " decisive ones" : ", different in decisive positions " + wrong));
        return ok ? 0 : 1;
    }

    // ---------------------------------------------------------------- performance

    static int perf(String name, LoadedModel m) {
        double copy = copyBandwidth();
        result(name + ": device-to-device copy", copy / 1e9, "GB/s", "INFO", "2 GiB buffers, bytes read + written, median of 10, CUDA events");
        int vocab = m.config().vocabSize();
        int failures = 0;
        try (CudaBackend probe = cuda(m, Precision.NATIVE, 64, 1, false, false, 0.05)) {
            double weights = probe.memory().weights();
            double limit = copy / weights;
            result(name + ": weights on the device", weights / 1e9, "GB", "INFO", probe.device());
            result(name + ": batch-1 decode bound", limit, "tok/s", "INFO", "copy bandwidth / weight bytes");
            double one = decodeRate(m, 1, true, vocab);
            result(name + ": decode, 1 stream, graphs", one, "tok/s", one >= 0.8 * limit ? "PASS" : "FAIL",
                    String.format(Locale.ROOT, "%.0f GB/s of weights, %.0f%% of the bound (goal 80%%)", one * weights / 1e9, 100 * one / limit));
            failures += one >= 0.8 * limit ? 0 : 1;
            double eager = decodeRate(m, 1, false, vocab);
            result(name + ": decode, 1 stream, no graphs", eager, "tok/s", "INFO", "");
        }
        for (int streams : new int[] {32, 128}) {
            double agg = decodeRate(m, streams, true, vocab);
            result(name + ": decode, " + streams + " streams", agg, "tok/s", "INFO", "aggregate; 16-token prompts, 128 new tokens each");
        }
        double prefill = prefillRate(m, 2048, vocab);
        result(name + ": prefill, 2048-token prompt", prefill, "tok/s", "INFO", "max batch tokens 2048, median of 3 distinct prompts");
        return failures;
    }

    static double copyBandwidth() {
        long bytes = 2L << 30;
        CUdeviceptr a = new CUdeviceptr();
        CUdeviceptr b = new CUdeviceptr();
        Cuda.probe(0);
        jcuda.driver.CUdevice dev = new jcuda.driver.CUdevice();
        jcuda.driver.CUcontext ctx = new jcuda.driver.CUcontext();
        Cuda.check(JCudaDriver.cuDeviceGet(dev, 0), "cuDeviceGet");
        Cuda.check(JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain");
        Cuda.check(JCudaDriver.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        Cuda.check(JCudaDriver.cuMemAlloc(a, bytes), "cuMemAlloc");
        Cuda.check(JCudaDriver.cuMemAlloc(b, bytes), "cuMemAlloc");
        try {
            Cuda.check(JCudaDriver.cuMemsetD32(a, 0x3f800001, bytes / 4), "cuMemsetD32");
            CUevent start = new CUevent();
            CUevent stop = new CUevent();
            Cuda.check(JCudaDriver.cuEventCreate(start, 0), "cuEventCreate");
            Cuda.check(JCudaDriver.cuEventCreate(stop, 0), "cuEventCreate");
            double[] times = new double[10];
            for (int i = -3; i < times.length; i++) {
                Cuda.check(JCudaDriver.cuEventRecord(start, null), "cuEventRecord");
                Cuda.check(JCudaDriver.cuMemcpyDtoDAsync(i % 2 == 0 ? b : a, i % 2 == 0 ? a : b, bytes, null), "cuMemcpyDtoDAsync");
                Cuda.check(JCudaDriver.cuEventRecord(stop, null), "cuEventRecord");
                Cuda.check(JCudaDriver.cuEventSynchronize(stop), "cuEventSynchronize");
                float[] ms = new float[1];
                Cuda.check(JCudaDriver.cuEventElapsedTime(ms, start, stop), "cuEventElapsedTime");
                if (i >= 0) {
                    times[i] = ms[0] / 1e3;
                }
            }
            Arrays.sort(times);
            return 2.0 * bytes / times[times.length / 2];
        } finally {
            JCudaDriver.cuMemFree(a);
            JCudaDriver.cuMemFree(b);
        }
    }

    /** Aggregate decode tokens per second of n streams (after a warm-up that captures the graphs), from the first token to the last. */
    static double decodeRate(LoadedModel m, int streams, boolean graphs, int vocab) {
        Supplier<Engine> make = () -> new Engine(m.config(), new EngineConfig(16, 1, 2048, Math.max(streams, 1), 256, 1),
                cuda(m, Precision.NATIVE, 2048, Math.max(streams, 1), graphs, false, 0.9));
        try (Engine e = make.get()) {
            e.start();
            SamplingParams p = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 128, 0, true);
            timed(e, prompts(streams, 16, vocab, 7), p);
            long[] span = timed(e, prompts(streams, 16, vocab, 8), p);
            return (double) span[2] / ((span[1] - span[0]) / 1e9);
        }
    }

    /** Prefill tokens per second: time to the first token of a long prompt, median of three distinct prompts. */
    static double prefillRate(LoadedModel m, int length, int vocab) {
        try (Engine e = new Engine(m.config(), new EngineConfig(16, 1, length, 4, 16, 1), cuda(m, Precision.NATIVE, length, 4, true, false, 0.9))) {
            e.start();
            SamplingParams one = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null, 0, List.of(), 1, 0, true);
            timed(e, prompts(1, length, vocab, 20), one);
            double[] rates = new double[3];
            for (int i = 0; i < rates.length; i++) {
                long t0 = System.nanoTime();
                long[] span = timed(e, prompts(1, length, vocab, 21 + i), one);
                rates[i] = length / ((span[0] - t0) / 1e9);
            }
            Arrays.sort(rates);
            return rates[1];
        }
    }

    /** Runs the prompts to the end; returns {first token time, last token time, decode tokens after each stream's first}. */
    static long[] timed(Engine e, int[][] prompts, SamplingParams p) {
        CountDownLatch done = new CountDownLatch(prompts.length);
        long[] first = {Long.MAX_VALUE};
        long[] last = {0};
        long[] count = {0};
        Object lock = new Object();
        for (int[] prompt : prompts) {
            e.submit(prompt, p, 1, 0, new SequenceListener() {
                boolean seen;

                @Override
                public void onToken(Sequence seq, Sampler.Sample sample) {
                    long now = System.nanoTime();
                    synchronized (lock) {
                        first[0] = Math.min(first[0], now);
                        last[0] = Math.max(last[0], now);
                        if (seen) {
                            count[0]++;
                        }
                        seen = true;
                    }
                }

                @Override
                public void onFinish(Sequence seq, Sequence.FinishReason reason) {
                    done.countDown();
                }
            });
        }
        try {
            if (!done.await(600, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the benchmark did not finish in 10 minutes");
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(ex);
        }
        if (e.lastError() != null) {
            throw new IllegalStateException("an engine step failed: " + e.lastError(), e.lastError());
        }
        return new long[] {first[0], last[0], count[0]};
    }

    static int[][] prompts(int n, int length, int vocab, long seed) {
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) {
            out[i] = randomIds(length, vocab, seed * 1000 + i);
        }
        return out;
    }

    static int[] randomIds(int n, int vocab, long seed) {
        return new SplittableRandom(seed).ints(n, 0, vocab).toArray();
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static int[] readIds(Path p) throws IOException {
        return Arrays.stream(Files.readString(p).trim().split("[,\\s]+")).mapToInt(Integer::parseInt).toArray();
    }

    static float[] readFloats(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    private DeviceCheck() {}
}
