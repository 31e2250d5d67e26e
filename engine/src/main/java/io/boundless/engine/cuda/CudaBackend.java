package io.boundless.engine.cuda;

import io.boundless.engine.backend.Backend;
import io.boundless.engine.backend.BackendUnavailableException;
import io.boundless.engine.backend.RowNeed;
import io.boundless.engine.backend.StepOutput;
import io.boundless.engine.cpu.Rope;
import io.boundless.engine.model.LayerWeights;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWeights;
import io.boundless.engine.cuda.ForwardPass.Layer;
import io.boundless.engine.cuda.ForwardPass.Matrix;
import io.boundless.engine.model.Overlay;
import io.boundless.engine.model.Transformer.Chunk;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUdeviceptr;

/**
 * The forward pass on an NVIDIA GPU through JCuda's driver API. Weights are uploaded once (see
 * {@link Precision}); the KV cache is one device allocation of fixed-size blocks, sized from the
 * memory left free times {@link CudaOptions#memoryFraction}; the block manager above hands the
 * blocks out exactly as on the CPU, so prefix caching, preemption and n &gt; 1 sharing are the same.
 *
 * <p>A step: the host packs token ids, positions, cache slots, block tables, wanted rows and what
 * the sampler needs of each ({@link StepPlan}) and copies them over in one copy; {@link ForwardPass}
 * launches the kernels; only argmaxes, top-k candidates and the rows the sampler needs whole come
 * back. Decode steps replay a CUDA graph captured per batch-size bucket (1, 2, 4, ...), padded with
 * rows that write nothing.
 *
 * <p>Unlike the CPU backend, logits are not batch-invariant: a row computed in a step of up to 8
 * rows takes the GEMV (float32 activations), in a larger step the tensor-core GEMM (activations
 * rounded to BF16/F16), so a seeded request reproduces only with the same batches.
 *
 * <p>Called from one thread at a time (the engine thread); the context is made current on it. All
 * driver calls go through a {@link Device}: JCuda's on a GPU, an emulation of the kernels in tests.
 */
public final class CudaBackend implements Backend {
    private static final long UPLOAD_CHUNK = 32L << 20;

    /** Device memory in bytes, as the backend placed it. */
    public record Memory(long weights, long workspaces, long kvCache, long freeAfter, long total) {}

    private final ModelConfig c;
    private final CudaOptions options;
    private final Cuda.Probe probe;
    private final Device dev;
    private final Map<Integer, Object> graphs = new HashMap<>();
    private final boolean llama;
    private final int blockSize;
    private final int capacity;
    private final int graphMax;
    private final int[] hostInputs;
    private final WeightType kvType;
    private long allocated;
    private final long weightBytes;
    private final long workspaceBytes;
    private boolean closed;

    private final ForwardPass pass;
    private final ForwardPass.Launcher launcher;
    private final boolean hasPositions;
    private final CUdeviceptr logits;
    private final ForwardPass.Samples samples;
    private final CUdeviceptr inputs;
    // KV cache: per layer, keys [numBlocks * blockSize * kvDim] then values
    private final CUdeviceptr kv;
    private final long kvLayerBytes;
    private final int numBlocks;
    private final long kvBytes;
    private final long freeAfter;
    private final long totalMemory;

    /**
     * Uploads the model and sizes the cache. {@code maxRows} is the most tokens a step computes
     * (the engine's max batch tokens), {@code maxRunning} the most sequences decoding at once (the
     * largest graph). Throws {@link BackendUnavailableException} when the device cannot run this
     * model (its dimensions, or no memory left for a KV block).
     */
    public CudaBackend(ModelWeights weights, Cuda.Probe probe, CudaOptions options, int blockSize, int maxRows, int maxRunning) {
        this(weights, probe, options, blockSize, maxRows, maxRunning, () -> new JCudaDevice(probe, options));
    }

    /** On a given device (tests pass an emulated one); the shape checks come before the device opens. */
    CudaBackend(ModelWeights weights, Cuda.Probe probe, CudaOptions options, int blockSize, int maxRows, int maxRunning,
            java.util.function.Supplier<Device> opener) {
        if (!probe.usable()) {
            throw new BackendUnavailableException(probe.reason());
        }
        this.c = weights.config();
        this.options = options;
        this.probe = probe;
        this.blockSize = blockSize;
        this.llama = c.arch().isLlamaLike();
        checkShapes(c);
        this.dev = opener.get();
        try {
            this.kvType = options.precision() == Precision.F32 ? WeightType.F32 : WeightType.BF16;

            // weights
            Precision p = options.precision();
            Matrix embed = upload(HostWeights.target(p, weights.embeddings()), weights.embeddings());
            Matrix output = weights.output() == weights.embeddings() ? embed : upload(HostWeights.target(p, weights.output()), weights.output());
            this.hasPositions = weights.positions() != null;
            CUdeviceptr positions = hasPositions ? floats(weights.positions().toFloatArray()) : null;
            float[] inv = llama ? weights.inverseFrequencies() : null;
            ForwardPass.Globals globals = new ForwardPass.Globals(embed, positions, floats(weights.finalNorm()), floats(weights.finalNormBias()), output,
                    floats(inv), inv == null ? 0 : inv.length, weights.ropeLayout() == Rope.Layout.ADJACENT);
            List<Layer> layers = new ArrayList<>();
            for (LayerWeights lw : weights.layers()) {
                layers.add(uploadLayer(lw, p));
            }
            int qkvDim = c.qDim() + 2 * c.kvDim();

            // workspaces
            this.graphMax = options.graphs() ? Math.min(256, Math.max(1, StepPlan.bucket(maxRunning, Integer.MAX_VALUE))) : 0;
            this.capacity = Math.max(maxRows, Math.max(maxRunning, graphMax));
            if (capacity > 65535) {
                throw new BackendUnavailableException("a step of " + capacity + " tokens is more than the kernels' grid allows (65535)");
            }
            int blocksPerSeq = (c.maxPositions() + blockSize - 1) / blockSize + 1;
            long tableInts = (long) Math.min(capacity, Math.max(maxRunning, 1)) * blocksPerSeq;
            if (StepPlan.size(capacity, 0) + tableInts > Integer.MAX_VALUE - 8) {
                throw new BackendUnavailableException("block tables of " + tableInts + " entries do not fit one buffer");
            }
            this.hostInputs = new int[StepPlan.size(capacity, (int) tableInts)];
            this.weightBytes = allocated;
            int h = c.hidden();
            CUdeviceptr x = alloc((long) capacity * h * 4);
            CUdeviceptr xn = alloc((long) capacity * h * 4);
            CUdeviceptr qkv = alloc((long) capacity * qkvDim * 4);
            CUdeviceptr att = alloc((long) capacity * c.qDim() * 4);
            CUdeviceptr gu = alloc((long) capacity * 2 * c.intermediate() * 4);
            CUdeviceptr act = alloc((long) capacity * c.intermediate() * 4);
            CUdeviceptr last = alloc((long) capacity * h * 4);
            this.logits = alloc((long) capacity * c.vocabSize() * 4);
            int maxK = RowNeed.MAX_TOP_K;
            this.samples = new ForwardPass.Samples(alloc((long) capacity * 4), alloc((long) capacity * 4), alloc((long) capacity * maxK * 4),
                    alloc((long) capacity * maxK * 4), alloc((long) capacity * 2 * 4), alloc((long) capacity * 8), alloc((long) capacity * 4),
                    alloc((long) capacity * 4), maxK);
            this.inputs = alloc((long) hostInputs.length * 4);
            this.workspaceBytes = allocated - weightBytes;

            // KV cache from what is left
            long[] info = dev.memoryInfo();
            long perBlock = bytesPerBlock(c, blockSize, kvType);
            long budget = (long) (info[0] * options.memoryFraction());
            long blocks = Math.min(budget / perBlock, Integer.MAX_VALUE / blockSize - 1);
            if (blocks < 1) {
                throw new BackendUnavailableException("after the weights (" + mib(weightBytes) + ") and workspaces (" + mib(workspaceBytes)
                         + ") the device has " + mib(info[0]) + " free; " + options.memoryFraction() + " of it holds no KV block of " + mib(perBlock));
            }
            this.numBlocks = (int) blocks;
            this.kvLayerBytes = (long) numBlocks * blockSize * c.kvDim() * kvType.bytes;
            this.kvBytes = 2L * c.layers() * kvLayerBytes;
            this.kv = alloc(kvBytes);
            dev.fill32(kv, 0, kvBytes / 4);
            dev.synchronize();
            info = dev.memoryInfo();
            this.pass = new ForwardPass(c, globals, layers, new ForwardPass.Buffers(x, xn, qkv, att, gu, act, last, logits, samples, inputs,
                    capacity), new ForwardPass.Cache(kv, kvLayerBytes, kvType, blockSize));
            this.launcher = dev::launch;
            this.freeAfter = info[0];
            this.totalMemory = info[1];
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The kernels' limits on model shapes; a model outside them is a clear error, not a fault. */
    static void checkShapes(ModelConfig c) {
        List<String> problems = new ArrayList<>();
        if (c.hidden() % 32 != 0) {
            problems.add("hidden size " + c.hidden() + " is not a multiple of 32");
        }
        if (c.intermediate() % 32 != 0) {
            problems.add("intermediate size " + c.intermediate() + " is not a multiple of 32");
        }
        if (c.qDim() % 32 != 0) {
            problems.add("attention width " + c.qDim() + " is not a multiple of 32");
        }
        if (c.kvDim() % 8 != 0) {
            problems.add("key/value width " + c.kvDim() + " is not a multiple of 8");
        }
        if (c.headDim() > 256) {
            problems.add("head dimension " + c.headDim() + " is above 256");
        }
        if (!problems.isEmpty()) {
            throw new BackendUnavailableException("the CUDA kernels cannot run this model: " + String.join("; ", problems));
        }
    }

    /** KV bytes per block across all layers. */
    public static long bytesPerBlock(ModelConfig c, int blockSize, WeightType kvType) {
        return 2L * c.layers() * blockSize * c.kvDim() * kvType.bytes;
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String device() {
        return probe.name() + " (compute capability " + probe.major() + "." + probe.minor() + ", " + dev.kernelForm() + ", " + options.precision()
                + " weights, " + kvType + " KV cache, CUDA graphs " + (graphMax > 0 ? "up to batch " + graphMax : "off") + ")";
    }

    @Override
    public java.util.Optional<String> pciBusId() {
        return dev.pciBusId();
    }

    public Memory memory() {
        return new Memory(weightBytes, workspaceBytes, kvBytes, freeAfter, totalMemory);
    }

    @Override
    public int numBlocks() {
        return numBlocks;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public StepOutput forward(List<Chunk> chunks, RowNeed[] needs) {
        dev.bind();
        for (Chunk ch : chunks) {
            for (int j = 0; j < ch.tokens().length; j++) {
                int id = ch.tokens()[j];
                if (id < 0 || id >= c.vocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + c.vocabSize());
                }
                if (hasPositions && ch.startPos() + j >= c.maxPositions()) {
                    throw new IllegalArgumentException("position " + (ch.startPos() + j) + " is past GPT-2's " + c.maxPositions() + " learned positions");
                }
            }
        }
        int tokens = chunks.stream().mapToInt(ch -> ch.tokens().length).sum();
        boolean overlays = chunks.stream().anyMatch(ch -> ch.overlay() != null);
        // a step with delta versions runs its launches directly: the graphs are captured for the base only
        int bucket = !overlays && graphMax > 0 && StepPlan.isDecode(chunks) ? StepPlan.bucket(tokens, graphMax) : 0;
        StepPlan plan = StepPlan.build(chunks, needs, blockSize, capacity, hostInputs, bucket);
        dev.upload(inputs, hostInputs, plan.used);
        if (bucket > 0) {
            dev.launchGraph(graph(bucket));
        } else {
            pass.run(launcher, plan.rows, plan.logitRows, overlays ? afterDown(chunks) : null);
        }
        dev.synchronize();
        return collect(needs);
    }

    @Override
    public boolean servesOverlays() {
        return true;
    }

    /** The factors of a delta's layer on the device: U [hidden, rank] then V [inter, rank], in the overlay arena. */
    private record Factors(CUdeviceptr u, CUdeviceptr v, int rank) {}

    private final Map<Overlay, Map<Integer, Factors>> overlaysOnDevice = new java.util.IdentityHashMap<>();
    private CUdeviceptr overlayArena;
    private long overlayArenaBytes;
    private long overlayArenaUsed;

    /**
     * The steps' rows of each chunk that has an overlay get y += U(Vᵀk) after each edited layer's down projection
     * ({@code lowrank_add}, one block per row). Chunks' rows are consecutive in step order (StepPlan). A delta's
     * factors are uploaded on first use into one arena (an eighth of the free memory, at most 512 MiB); when it is
     * full it is emptied and the overlays of this step uploaded again.
     */
    private ForwardPass.AfterDown afterDown(List<Chunk> chunks) {
        int[] first = new int[chunks.size()];
        int row = 0;
        for (int i = 0; i < chunks.size(); i++) {
            first[i] = row;
            row += chunks.get(i).tokens().length;
        }
        for (Chunk ch : chunks) {
            if (ch.overlay() != null) {
                upload(ch.overlay(), chunks);
            }
        }
        return (k, layer, x, act) -> {
            for (int i = 0; i < chunks.size(); i++) {
                Overlay o = chunks.get(i).overlay();
                Factors f = o == null ? null : overlaysOnDevice.get(o).get(layer);
                if (f != null) {
                    k.launch("lowrank_add", chunks.get(i).tokens().length, 1, 128, x, act, f.u(), f.v(), first[i], c.hidden(), c.intermediate(), f.rank());
                }
            }
        };
    }

    private void upload(Overlay o, List<Chunk> step) {
        if (overlaysOnDevice.containsKey(o)) {
            return;
        }
        long need = 0;
        for (Overlay.LowRank d : o.layers().values()) {
            if (d.rank() > 2048) {
                throw new IllegalArgumentException("delta version " + o.name() + " has rank " + d.rank() + " at layer " + d.layer()
                        + "; the CUDA backend applies at most 2048");
            }
            need += align(4L * d.u().length) + align(4L * d.v().length);
        }
        if (overlayArena == null) {
            overlayArenaBytes = Math.min(512L << 20, dev.memoryInfo()[0] / 8);
            overlayArena = dev.alloc(overlayArenaBytes);
            if (overlayArena == null) {
                throw new CudaException("no device memory for delta versions (" + overlayArenaBytes + " bytes)");
            }
        }
        if (need > overlayArenaBytes) {
            throw new IllegalArgumentException("delta version " + o.name() + " needs " + need + " bytes on the device; the overlay arena has "
                    + overlayArenaBytes);
        }
        if (overlayArenaUsed + need > overlayArenaBytes) {  // full: start over with this step's overlays
            overlaysOnDevice.clear();
            overlayArenaUsed = 0;
            for (Chunk ch : step) {
                if (ch.overlay() != null && ch.overlay() != o && !overlaysOnDevice.containsKey(ch.overlay())) {
                    upload(ch.overlay(), List.of());
                }
            }
        }
        Map<Integer, Factors> byLayer = new java.util.HashMap<>();
        for (Overlay.LowRank d : o.layers().values()) {
            CUdeviceptr u = overlayArena.withByteOffset(overlayArenaUsed);
            dev.upload(u, d.u(), d.u().length);
            overlayArenaUsed += align(4L * d.u().length);
            CUdeviceptr v = overlayArena.withByteOffset(overlayArenaUsed);
            dev.upload(v, d.v(), d.v().length);
            overlayArenaUsed += align(4L * d.v().length);
            byLayer.put(d.layer(), new Factors(u, v, d.rank()));
        }
        overlaysOnDevice.put(o, byLayer);
    }

    private static long align(long bytes) {
        return (bytes + 255) & ~255L;
    }

    /** Copies back what the needs ask for: reductions of every row, candidates of TOP_K rows, whole rows. */
    private StepOutput collect(RowNeed[] needs) {
        int rows = needs.length;
        int vocab = c.vocabSize();
        int[] ids = new int[rows];
        float[] lp = new float[rows];
        float[] stats = new float[2 * rows];
        if (rows > 0) {
            dev.download(ids, samples.ids(), rows);
            dev.download(lp, samples.logprobs(), rows);
            dev.download(stats, samples.stats(), 2 * rows);
        }
        StepOutput.Candidates[] candidates = null;
        int[] drawn = null;
        float[] drawnLogprob = null;
        int whole = 0;
        for (RowNeed n : needs) {
            whole += n.kind() == RowNeed.Kind.WHOLE ? 1 : 0;
            if ((n.kind() == RowNeed.Kind.TOP_K || n.kind() == RowNeed.Kind.DRAW && n.k() > 0) && candidates == null) {
                candidates = new StepOutput.Candidates[rows];
            }
            if (n.kind() == RowNeed.Kind.DRAW && drawn == null) {
                drawn = new int[rows];
                drawnLogprob = new float[rows];
                dev.download(drawn, samples.drawn(), rows);
                float[] logitsDrawn = new float[rows];
                dev.download(logitsDrawn, samples.drawnLogits(), rows);
                for (int i = 0; i < rows; i++) {
                    drawnLogprob[i] = logitsDrawn[i] - stats[2 * i + 1];
                }
            }
        }
        int[] candIds = null;
        float[] candLogits = null;
        double[] sumT = null;
        if (candidates != null) {
            int maxK = samples.maxK();
            candIds = new int[rows * maxK];
            candLogits = new float[rows * maxK];
            sumT = new double[rows];
            dev.download(candIds, samples.candIds(), rows * maxK);
            dev.download(candLogits, samples.candLogits(), rows * maxK);
            dev.download(sumT, samples.sumT(), rows);
        }
        float[] host = new float[Math.multiplyExact(whole, vocab)];
        int[] offsets = new int[rows];
        float[] row = null;
        int k = 0;
        for (int i = 0; i < rows; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new CudaException("logits row " + i + " has no maximum (NaN logits): the step's computation went wrong");
            }
            offsets[i] = -1;
            RowNeed n = needs[i];
            if (n.kind() == RowNeed.Kind.WHOLE) {
                if (row == null) {
                    row = new float[vocab];
                }
                dev.download(row, logits.withByteOffset((long) i * vocab * 4), vocab);
                System.arraycopy(row, 0, host, k * vocab, vocab);
                offsets[i] = k++ * vocab;
            } else if (n.kind() == RowNeed.Kind.TOP_K || n.kind() == RowNeed.Kind.DRAW && n.k() > 0) {
                int count = Math.min(n.k(), vocab);
                int from = i * samples.maxK();
                candidates[i] = new StepOutput.Candidates(Arrays.copyOfRange(candIds, from, from + count), Arrays.copyOfRange(candLogits, from, from + count),
                        stats[2 * i], stats[2 * i + 1], n.kind() == RowNeed.Kind.TOP_K && n.temperature() > 0 ? sumT[i] : 0);
            }
            if (n.kind() == RowNeed.Kind.DRAW) {
                if (drawn[i] < 0 || drawn[i] >= vocab) {
                    throw new CudaException("logits row " + i + ": the device drew no token (" + drawn[i] + ")");
                }
            } else if (drawn != null) {
                drawn[i] = -1;
            }
        }
        return new StepOutput(host, offsets, ids, lp, candidates, drawn, drawnLogprob, i -> {
            float[] fetched = new float[vocab];
            dev.download(fetched, logits.withByteOffset((long) i * vocab * 4), vocab);
            return fetched;
        });
    }

    /** The graph for decode steps of {@code rows} (padded) rows, captured on first use. */
    private Object graph(int rows) {
        Object g = graphs.get(rows);
        if (g != null) {
            return g;
        }
        dev.beginCapture();
        try {
            pass.run(launcher, rows, rows);
        } finally {
            g = dev.endCapture();
        }
        graphs.put(rows, g);
        return g;
    }

    @Override
    public void copyBlock(int from, int to) {
        dev.bind();
        long bytes = (long) blockSize * c.kvDim() * kvType.bytes;
        for (int l = 0; l < 2 * c.layers(); l++) {
            CUdeviceptr base = kv.withByteOffset(l * kvLayerBytes);
            dev.copy(base.withByteOffset(to * bytes), base.withByteOffset(from * bytes), bytes);
        }
    }

    private Layer uploadLayer(LayerWeights lw, Precision p) {
        Matrix qkvM;
        CUdeviceptr qkvBias;
        Matrix gateUp;
        if (llama) {
            qkvM = upload(HostWeights.target(p, lw.q(), lw.k(), lw.v()), lw.q(), lw.k(), lw.v());
            qkvBias = floats(HostWeights.concat(new float[][] {lw.qBias(), lw.kBias(), lw.vBias()}, new int[] {c.qDim(), c.kvDim(), c.kvDim()}));
            gateUp = upload(HostWeights.target(p, lw.gate(), lw.up()), lw.gate(), lw.up());
        } else {
            qkvM = upload(HostWeights.target(p, lw.qkv()), lw.qkv());
            qkvBias = floats(lw.qkvBias());
            gateUp = upload(HostWeights.target(p, lw.up()), lw.up());
        }
        return new Layer(floats(lw.attnNorm()), floats(lw.attnNormBias()), qkvM, qkvBias, upload(HostWeights.target(p, lw.o()), lw.o()),
                floats(lw.oBias()), floats(lw.ffnNorm()), floats(lw.ffnNormBias()), gateUp, floats(lw.upBias()),
                upload(HostWeights.target(p, lw.down()), lw.down()), floats(lw.downBias()));
    }

    /** Uploads the parts stacked by rows, converted to {@code type} a slice at a time. */
    private Matrix upload(WeightType type, Tensor... parts) {
        int cols = Math.toIntExact(parts[0].shape()[1]);
        long rows = 0;
        for (Tensor t : parts) {
            rows += t.shape()[0];
        }
        CUdeviceptr values = alloc(rows * cols * type.bytes);
        CUdeviceptr scales = type == WeightType.Q8 ? alloc(rows * cols / 32 * 4) : null;
        long at = 0;
        long slice = Math.max(1, UPLOAD_CHUNK / ((long) cols * 4));
        for (Tensor t : parts) {
            long n = t.shape()[0];
            for (long from = 0; from < n; from += slice) {
                long to = Math.min(n, from + slice);
                try (Arena arena = Arena.ofConfined()) {
                    HostWeights.Prepared p = HostWeights.prepare(type, t, from, to, arena);
                    copyIn(values.withByteOffset((at + from) * cols * type.bytes), p.values(), (to - from) * cols * type.bytes);
                    if (scales != null) {
                        copyIn(scales.withByteOffset((at + from) * cols / 32 * 4), p.scales(), (to - from) * cols / 32 * 4);
                    }
                }
            }
            at += n;
        }
        return new Matrix(values, scales, type, Math.toIntExact(rows), cols);
    }

    private CUdeviceptr floats(float[] v) {
        if (v == null) {
            return null;
        }
        CUdeviceptr d = alloc((long) v.length * 4);
        dev.upload(d, v, v.length);
        return d;
    }

    private void copyIn(CUdeviceptr dst, MemorySegment src, long bytes) {
        dev.upload(dst, src, bytes);
    }

    private CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = dev.alloc(bytes);
        if (p == null) {
            throw new BackendUnavailableException("cannot allocate " + mib(bytes) + " on " + probe.name() + " (out of memory; " + mib(allocated)
                    + " allocated so far)");
        }
        allocated += bytes;
        return p;
    }

    private static String mib(long bytes) {
        return (bytes >> 20) + " MiB";
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (dev != null) {
            dev.close();
        }
    }
}
