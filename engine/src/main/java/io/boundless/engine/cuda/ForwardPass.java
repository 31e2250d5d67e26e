package io.boundless.engine.cuda;

import io.boundless.engine.model.ModelConfig;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * The kernel launches of one step, in order, over device buffers placed by {@link CudaBackend}:
 * per layer norm and fused q|k|v product, RoPE with the KV write, paged attention, output product
 * accumulated into the residual, norm and fused gate|up product, SiLU·mul (GELU for GPT-2), down
 * product accumulated into the residual; then the final norm of the wanted rows, the vocabulary
 * product and each row's sample reduction (argmax, top candidates). Products of up to 8 rows take the GEMV kernels, with Llama's
 * RMSNorm folded into them and, for Llama's MLP, SiLU·mul too (6 launches per layer at decode),
 * larger ones the GEMM. Kept
 * apart from the device so that a test can check every launch against the compiled kernels'
 * signatures without a GPU.
 */
final class ForwardPass {

    /** Launches a kernel; arguments are CUdeviceptr (null for a null pointer), Integer, Long or Float. */
    interface Launcher {
        void launch(String kernel, int gridX, int gridY, int threads, Object... args);
    }

    /** What runs after a layer's down projection has been added to the residual x (delta versions' overlays). */
    interface AfterDown {
        void apply(Launcher k, int layer, CUdeviceptr x, CUdeviceptr act);
    }

    /** A matrix on the device: values [rows × cols] of type, and Q8's scales (else null). */
    record Matrix(CUdeviceptr values, CUdeviceptr scales, WeightType type, int rows, int cols) {}

    record Layer(CUdeviceptr attnNorm, CUdeviceptr attnNormBias, Matrix qkv, CUdeviceptr qkvBias, Matrix o, CUdeviceptr oBias,
            CUdeviceptr ffnNorm, CUdeviceptr ffnNormBias, Matrix gateUp, CUdeviceptr upBias, Matrix down, CUdeviceptr downBias) {}

    /** Model-wide weights: embeddings, GPT-2's positions (else null), final norm, output, RoPE's inverse frequencies (else null). */
    record Globals(Matrix embed, CUdeviceptr positions, CUdeviceptr finalNorm, CUdeviceptr finalNormBias, Matrix output, CUdeviceptr invFreq,
            int ropeHalf, boolean ropeAdjacent) {}

    /** Activation buffers, each sized for the most rows a step has; {@code inputs} holds the {@link StepPlan}. */
    record Buffers(CUdeviceptr x, CUdeviceptr xn, CUdeviceptr qkv, CUdeviceptr att, CUdeviceptr gu, CUdeviceptr act, CUdeviceptr last,
            CUdeviceptr logits, Samples samples, CUdeviceptr inputs, int capacity) {}

    /**
     * What the sampling kernel writes per logits row: argmax ids and log-probabilities, candidate
     * ids and logits [rows × maxK], (max, log-sum-exp) pairs, sums at temperature (double), drawn
     * ids and their logits.
     */
    record Samples(CUdeviceptr ids, CUdeviceptr logprobs, CUdeviceptr candIds, CUdeviceptr candLogits, CUdeviceptr stats, CUdeviceptr sumT,
            CUdeviceptr drawn, CUdeviceptr drawnLogits, int maxK) {}

    /** The KV cache: per layer keys then values, each {@code layerBytes}. */
    record Cache(CUdeviceptr base, long layerBytes, WeightType type, int blockSize) {}

    private final ModelConfig c;
    private final Globals g;
    private final List<Layer> layers;
    private final Buffers b;
    private final Cache kv;
    private final boolean llama;
    private final int qkvDim;

    ForwardPass(ModelConfig c, Globals g, List<Layer> layers, Buffers b, Cache kv) {
        this.c = c;
        this.g = g;
        this.layers = List.copyOf(layers);
        this.b = b;
        this.kv = kv;
        this.llama = c.arch().isLlamaLike();
        this.qkvDim = c.qDim() + 2 * c.kvDim();
    }

    /** One step over n rows (the inputs are on the device), r of them wanting logits. */
    void run(Launcher k, int n, int r) {
        run(k, n, r, null);
    }

    /** One step, with afterDown (or null) after each layer's down projection. */
    void run(Launcher k, int n, int r, AfterDown afterDown) {
        int h = c.hidden();
        int inter = c.intermediate();
        k.launch("embed_" + g.embed().type().suffix, n, 1, 128, b.x(), g.embed().values(), g.embed().scales(), g.positions(), in(StepPlan.IDS),
                in(StepPlan.POSITIONS), h);
        float scale = (float) (1.0 / Math.sqrt(c.headDim()));
        String kvSuffix = kv.type().suffix;
        for (int l = 0; l < layers.size(); l++) {
            Layer lw = layers.get(l);
            normedMatmul(k, b.qkv(), lw.attnNorm(), lw.attnNormBias(), lw.qkv(), lw.qkvBias(), n);
            CUdeviceptr keys = kv.base().withByteOffset(2L * l * kv.layerBytes());
            CUdeviceptr values = kv.base().withByteOffset((2L * l + 1) * kv.layerBytes());
            k.launch("rope_kv_write_" + kvSuffix, n, 1, 128, b.qkv(), qkvDim, in(StepPlan.POSITIONS), g.invFreq(), llama ? c.heads() + c.kvHeads() : 0,
                    c.headDim(), g.ropeHalf(), g.ropeAdjacent() ? 1 : 0, keys, values, c.qDim(), c.qDim() + c.kvDim(), in(StepPlan.SLOTS), c.kvDim());
            k.launch("paged_attention_" + kvSuffix, c.heads(), n, 128, b.att(), b.qkv(), qkvDim, keys, values, in(StepPlan.TABLES),
                    in(StepPlan.ROW_TABLE), in(StepPlan.POSITIONS), c.heads(), c.kvHeads(), c.headDim(), kv.blockSize(), c.slidingWindow(), scale);
            matmul(k, b.x(), b.att(), null, 0f, lw.o(), lw.oBias(), n, true);
            long elements = (long) n * inter;
            int blocks = (int) Math.min(4096, (elements + 255) / 256);
            if (llama && n <= 8) {
                // RMSNorm, gate|up and SiLU·mul in one pass
                Matrix gu = lw.gateUp();
                k.launch("gemv_swiglu_" + gu.type().suffix + "_" + gemvRows(n), (inter + 3) / 4, 1, 128, b.act(), b.x(), lw.ffnNorm(), c.normEps(),
                        gu.values(), gu.scales(), n, inter, gu.cols());
            } else if (llama) {
                normedMatmul(k, b.gu(), lw.ffnNorm(), null, lw.gateUp(), null, n);
                k.launch("silu_mul", blocks, 1, 256, b.act(), b.gu(), n, inter);
            } else {
                normedMatmul(k, b.act(), lw.ffnNorm(), lw.ffnNormBias(), lw.gateUp(), lw.upBias(), n);
                k.launch("gelu", blocks, 1, 256, b.act(), elements);
            }
            matmul(k, b.x(), b.act(), null, 0f, lw.down(), lw.downBias(), n, true);
            if (afterDown != null) {
                afterDown.apply(k, l, b.x(), b.act());
            }
        }
        norm(k, b.last(), b.x(), in(StepPlan.LOGIT_ROWS), g.finalNorm(), g.finalNormBias(), r);
        matmul(k, b.logits(), b.last(), null, 0f, g.output(), null, r, false);
        Samples s = b.samples();
        k.launch("sample_rows", r, 1, 1024, s.ids(), s.logprobs(), s.candIds(), s.candLogits(), s.stats(), s.sumT(), s.drawn(), s.drawnLogits(),
                b.logits(), c.vocabSize(), in(StepPlan.ROW_K), in(StepPlan.ROW_T), in(StepPlan.ROW_MODE), in(StepPlan.ROW_MIN_P), in(StepPlan.ROW_U),
                s.maxK());
    }

    private void norm(Launcher k, CUdeviceptr out, CUdeviceptr in, CUdeviceptr rows, CUdeviceptr w, CUdeviceptr bias, int n) {
        if (llama) {
            k.launch("rms_norm", n, 1, 256, out, in, rows, w, c.normEps(), c.hidden());
        } else {
            k.launch("layer_norm", n, 1, 256, out, in, rows, w, bias, c.normEps(), c.hidden());
        }
    }

    /**
     * y = norm(x) · Wᵀ (+ bias) over n rows of the residual x: Llama's RMSNorm goes into the GEMV
     * when n &lt;= 8 (one launch), else a norm kernel writes xn for the GEMM; GPT-2's LayerNorm always
     * runs on its own.
     */
    private void normedMatmul(Launcher k, CUdeviceptr y, CUdeviceptr normWeight, CUdeviceptr normBias, Matrix w, CUdeviceptr bias, int n) {
        if (llama && n <= 8) {
            matmul(k, y, b.x(), normWeight, c.normEps(), w, bias, n, false);
        } else {
            norm(k, b.xn(), b.x(), null, normWeight, normBias, n);
            matmul(k, y, b.xn(), null, 0f, w, bias, n, false);
        }
    }

    /** y[rows × N] (+)= x[rows × K] · Wᵀ (+ bias); x RMS-normalized with {@code norm} on the way in (GEMV only). */
    static void matmul(Launcher k, CUdeviceptr y, CUdeviceptr in, CUdeviceptr norm, float eps, Matrix w, CUdeviceptr bias, int rows, boolean accumulate) {
        if (rows <= 0) {
            return;
        }
        int acc = accumulate ? 1 : 0;
        if (rows <= 8) {
            int m = gemvRows(rows);
            k.launch("gemv_" + w.type().suffix + "_" + m, (w.rows() + 3) / 4, 1, 128, y, in, norm, eps, w.values(), w.scales(), bias, rows, w.rows(),
                    w.cols(), acc);
        } else {
            if (norm != null) {
                throw new IllegalArgumentException("the GEMM takes normalized rows");
            }
            int threads = w.type() == WeightType.F32 ? 256 : 128;
            k.launch("gemm_" + w.type().suffix, (w.rows() + 63) / 64, (rows + 63) / 64, threads, y, in, w.values(), w.scales(), bias, rows, w.rows(),
                    w.cols(), acc);
        }
    }

    /** The GEMV kernel for this many rows: 1, 2, 4 or 8. */
    static int gemvRows(int rows) {
        return rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8;
    }

    private CUdeviceptr in(int part) {
        return b.inputs().withByteOffset((long) part * b.capacity() * 4);
    }
}
