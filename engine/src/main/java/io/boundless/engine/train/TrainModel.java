package io.boundless.engine.train;

import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.cpu.Rope;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A transformer (Llama family or GPT-2) as a training graph: a forward pass over a batch that saves
 * what the backward needs, and a backward that accumulates every parameter's gradient. It computes
 * the same function as the serving engine's {@code Transformer} (a test holds the two to the same
 * loss), in float32, with matrices kept in [out, in] layout (GPT-2's Conv1D weights are transposed in
 * and out at the Hugging Face boundary).
 *
 * <p>With the weights frozen ({@code backward(false)}), the same passes give what knowledge editing
 * needs: the gradient at any layer's MLP output or residual stream ({@link #gradResidual},
 * {@link #gradAttention}), the MLP's inner activation ("key") at (layer, row) ({@link #mlpKey}), and
 * forwards with corrupted embeddings and restored states ({@link Intervention}).
 */
public final class TrainModel {

    /**
     * One parameter tensor, [rows, cols] (a vector has rows 1).
     *
     * @param decay whether weight decay applies (matrices and embeddings, not norms and biases)
     */
    public record Param(String name, int rows, int cols, float[] w, float[] g, boolean decay) {
        public int size() {
            return rows * cols;
        }
    }

    /**
     * A batch of rows of seq tokens. targets[t] is the token to predict at t, or -1 for none;
     * docStart[t] the index within t's row where its document begins (null: one document per row).
     * Positions restart at each document, as a served prompt starts at 0.
     */
    public record Batch(int rows, int seq, int[] tokens, int[] targets, int[] docStart) {
        public Batch {
            if (tokens.length != rows * seq || targets.length != rows * seq || (docStart != null && docStart.length != rows * seq)) {
                throw new IllegalArgumentException("a batch of " + rows + " × " + seq + " needs " + rows * seq + " tokens and targets");
            }
        }

        public int size() {
            return rows * seq;
        }

        int position(int t) {
            return t % seq - (docStart == null ? 0 : docStart[t]);
        }
    }

    private record Layer(Param n1w, Param n1b, Param wq, Param bq, Param wk, Param bk, Param wv, Param bv, Param wo, Param bo,
            Param n2w, Param n2b, Param wg, Param wu, Param bu, Param wd, Param bd) {}

    /** What the forward saved for the backward, per layer. Shapes in the comments; T = batch tokens. */
    private static final class Saved {
        float[] xIn;      // [T, h] residual stream into the layer
        float[] n1;       // [T, h] normed for attention
        float[] n1Mean, n1Rstd; // [T]
        float[] q;        // [T, qDim] after RoPE
        float[] k, v;     // [T, kvDim] (k after RoPE)
        float[] p;        // [batch, heads, seq, seq] attention probabilities
        float[] att;      // [T, qDim] attention output, before o_proj
        float[] attnOut;  // [T, h] after o_proj (+ bias)
        float[] xMid;     // [T, h] xIn + attnOut
        float[] n2;       // [T, h]
        float[] n2Mean, n2Rstd;
        float[] gate;     // [T, I] gate projection before SiLU (Llama)
        float[] up;       // [T, I] up projection (GPT-2: before GELU)
        float[] act;      // [T, I] input of down_proj: the MLP's "key"
        float[] mlpOut;   // [T, h]
        float[] dResidual; // [T, h] ∂L/∂(layer output), after a backward
        float[] dAttention; // [T, h] ∂L/∂(attention output) = ∂L/∂xMid
    }

    private final ModelConfig c;
    private final Gemm gemm;
    private final Parallel parallel;
    private final List<Param> params = new ArrayList<>();
    private final Param embed;   // [V, h]
    private final Param pos;     // [maxPositions, h] GPT-2 only
    private final Param head;    // [V, h] untied LM head, or null (tied to embed)
    private final Param nfw, nfb;
    private final List<Layer> layers = new ArrayList<>();
    private final float[] invFreq;
    private final boolean llama;

    // the last forward
    private Batch batch;
    private Saved[] saved;
    private float[] xOut, nf, nfMean, nfRstd, dlogits;
    private Intervention intervention;
    private float[] lastLogits;

    private TrainModel(ModelConfig c, Parallel parallel) {
        this.c = c;
        this.parallel = parallel;
        this.gemm = new Gemm(parallel);
        this.llama = c.arch().isLlamaLike();
        if (!llama && c.arch() != Architecture.GPT2) {
            throw new IllegalArgumentException("training supports the Llama family and GPT-2, not " + c.arch());
        }
        if (c.slidingWindow() > 0) {
            throw new IllegalArgumentException("training does not support sliding-window attention");
        }
        int h = c.hidden();
        int inter = c.intermediate();
        embed = param(llama ? "model.embed_tokens.weight" : "wte.weight", c.vocabSize(), h, true);
        pos = llama ? null : param("wpe.weight", c.maxPositions(), h, true);
        for (int l = 0; l < c.layers(); l++) {
            String p = llama ? "model.layers." + l + "." : "h." + l + ".";
            boolean bias = c.qkvBias();
            layers.add(new Layer(
                    param(p + (llama ? "input_layernorm.weight" : "ln_1.weight"), 1, h, false),
                    llama ? null : param(p + "ln_1.bias", 1, h, false),
                    param(p + "q", c.qDim(), h, true), bias ? param(p + "q.bias", 1, c.qDim(), false) : null,
                    param(p + "k", c.kvDim(), h, true), bias ? param(p + "k.bias", 1, c.kvDim(), false) : null,
                    param(p + "v", c.kvDim(), h, true), bias ? param(p + "v.bias", 1, c.kvDim(), false) : null,
                    param(p + "o", h, c.qDim(), true), llama ? null : param(p + "o.bias", 1, h, false),
                    param(p + (llama ? "post_attention_layernorm.weight" : "ln_2.weight"), 1, h, false),
                    llama ? null : param(p + "ln_2.bias", 1, h, false),
                    llama ? param(p + "gate", inter, h, true) : null,
                    param(p + "up", inter, h, true), llama ? null : param(p + "up.bias", 1, inter, false),
                    param(p + "down", h, inter, true), llama ? null : param(p + "down.bias", 1, h, false)));
        }
        nfw = param(llama ? "model.norm.weight" : "ln_f.weight", 1, h, false);
        nfb = llama ? null : param("ln_f.bias", 1, h, false);
        head = c.tiedEmbeddings() || !llama ? null : param("lm_head.weight", c.vocabSize(), h, true);
        invFreq = llama ? Rope.inverseFrequencies(c.headDim(), c.ropeTheta(), c.ropeScaling()) : null;
    }

    private Param param(String name, int rows, int cols, boolean decay) {
        Param p = new Param(name, rows, cols, new float[rows * cols], new float[rows * cols], decay);
        params.add(p);
        return p;
    }

    /**
     * A model with fresh weights for training from scratch: matrices and embeddings normal(0, 0.02),
     * the projections that write into the residual stream (o, down) scaled by 1/sqrt(2 · layers) as in
     * GPT-2, norms 1, biases 0.
     */
    public static TrainModel init(ModelConfig c, long seed, Parallel parallel) {
        TrainModel m = new TrainModel(c, parallel);
        SplittableRandom rnd = new SplittableRandom(seed);
        double residual = 0.02 / Math.sqrt(2.0 * c.layers());
        for (Param p : m.params) {
            boolean norm = p.name().contains("norm") || p.name().contains("ln_");
            boolean bias = p.name().endsWith(".bias");
            if (norm && !bias) {
                Arrays.fill(p.w(), 1f);
            } else if (!bias) {
                double std = p.name().endsWith(".o") || p.name().endsWith(".down") ? residual : 0.02;
                for (int i = 0; i < p.w().length; i++) {
                    p.w()[i] = (float) (rnd.nextGaussian() * std);
                }
            }
        }
        return m;
    }

    /** A model with the given weights, in Hugging Face names and layout (a checkpoint's tensors). */
    public static TrainModel of(ModelConfig c, Map<String, Tensor> hf, Parallel parallel) {
        TrainModel m = new TrainModel(c, parallel);
        m.load(hf);
        return m;
    }

    /** A Hugging Face checkpoint directory (config.json + safetensors), its weights copied into float32. */
    public static TrainModel open(java.nio.file.Path dir, Parallel parallel) {
        ModelConfig config = io.boundless.engine.model.LoadedModel.inspect(dir);
        try (io.boundless.engine.format.SafeTensors.Sharded files = io.boundless.engine.format.SafeTensors.openDirectory(dir)) {
            return of(config, files.tensors(), parallel);
        }
    }

    public ModelConfig config() {
        return c;
    }

    public List<Param> params() {
        return params;
    }

    public long parameterCount() {
        long n = 0;
        for (Param p : params) {
            n += p.size();
        }
        return n;
    }

    public void zeroGrad() {
        for (Param p : params) {
            Arrays.fill(p.g(), 0f);
        }
    }

    // ---- Hugging Face boundary

    private void load(Map<String, Tensor> hf) {
        int h = c.hidden();
        for (Param p : params) {
            String n = p.name();
            if (llama) {
                String hfName = hfName(n);
                copy(require(hf, hfName), p.w(), false, p.rows(), p.cols());
            } else if (QKV.matcher(n).matches()) {
                java.util.regex.Matcher m = QKV.matcher(n);
                m.matches();
                String layer = "h." + m.group(1) + ".";
                int part = "qkv".indexOf(m.group(2));
                if (m.group(3) != null) {
                    float[] b = require(hf, layer + "attn.c_attn.bias").toFloatArray();
                    System.arraycopy(b, part * h, p.w(), 0, h);
                } else {
                    float[] all = require(hf, layer + "attn.c_attn.weight").toFloatArray(); // [h, 3h]
                    for (int i = 0; i < h; i++) {
                        for (int o = 0; o < h; o++) {
                            p.w()[o * h + i] = all[i * 3 * h + part * h + o];
                        }
                    }
                }
            } else {
                String hfName = hfName(n);
                boolean conv = n.endsWith(".o") || n.endsWith(".up") || n.endsWith(".down");
                copy(require(hf, hfName), p.w(), conv, p.rows(), p.cols());
            }
        }
    }

    private static final java.util.regex.Pattern QKV = java.util.regex.Pattern.compile("h\\.(\\d+)\\.([qkv])(\\.bias)?");

    private static Tensor require(Map<String, Tensor> hf, String name) {
        Tensor t = hf.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the checkpoint has no tensor " + name);
        }
        return t;
    }

    private static void copy(Tensor t, float[] into, boolean transpose, int rows, int cols) {
        if (t.numel() != into.length) {
            throw new IllegalArgumentException(t.name() + " has " + t.numel() + " values, the model needs " + into.length);
        }
        float[] v = t.toFloatArray();
        if (!transpose) {
            System.arraycopy(v, 0, into, 0, v.length);
            return;
        }
        for (int i = 0; i < cols; i++) {  // stored [in = cols, out = rows]
            for (int o = 0; o < rows; o++) {
                into[o * cols + i] = v[i * rows + o];
            }
        }
    }

    /** The Hugging Face name of an internal parameter (GPT-2's q, k, v map to slices of c_attn). */
    private String hfName(String n) {
        if (llama) {
            int dot = n.lastIndexOf('.');
            String last = n.substring(dot + 1);
            String p = n.substring(0, dot + 1);
            return switch (last) {
                case "q", "k", "v", "o" -> p + "self_attn." + last + "_proj.weight";
                case "gate", "up", "down" -> p + "mlp." + last + "_proj.weight";
                case "bias" -> {
                    String base = n.substring(0, dot);
                    int d2 = base.lastIndexOf('.');
                    yield base.substring(0, d2 + 1) + "self_attn." + base.substring(d2 + 1) + "_proj.bias";
                }
                default -> n;
            };
        }
        return n.replaceFirst("\\.o$", ".attn.c_proj.weight").replaceFirst("\\.o\\.bias$", ".attn.c_proj.bias")
                .replaceFirst("\\.up$", ".mlp.c_fc.weight").replaceFirst("\\.up\\.bias$", ".mlp.c_fc.bias")
                .replaceFirst("\\.down$", ".mlp.c_proj.weight").replaceFirst("\\.down\\.bias$", ".mlp.c_proj.bias");
    }

    /** The weights in Hugging Face names and layout, for {@link ModelWriter#writeHuggingFace}. */
    public List<ModelWriter.Weight> toHuggingFace() {
        return huggingFace(false);
    }

    /** The accumulated gradients, in the names and layout of {@link #toHuggingFace} (to compare with another trainer's). */
    public List<ModelWriter.Weight> gradientsHuggingFace() {
        return huggingFace(true);
    }

    private List<ModelWriter.Weight> huggingFace(boolean grads) {
        List<ModelWriter.Weight> out = new ArrayList<>();
        int h = c.hidden();
        Map<String, float[]> cAttn = new LinkedHashMap<>();
        for (Param p : params) {
            String n = p.name();
            java.util.regex.Matcher m = QKV.matcher(n);
            if (!llama && m.matches()) {
                boolean bias = m.group(3) != null;
                String layer = "h." + m.group(1) + ".";
                int part = "qkv".indexOf(m.group(2));
                String key = layer + (bias ? "attn.c_attn.bias" : "attn.c_attn.weight");
                float[] all = cAttn.computeIfAbsent(key, x -> new float[bias ? 3 * h : 3 * h * h]);
                float[] src = grads ? p.g() : p.w();
                if (bias) {
                    System.arraycopy(src, 0, all, part * h, h);
                } else {
                    for (int o = 0; o < h; o++) {
                        for (int i = 0; i < h; i++) {
                            all[i * 3 * h + part * h + o] = src[o * h + i];
                        }
                    }
                }
                if (part == 2) {
                    out.add(new ModelWriter.Weight(key, bias ? new long[] {3L * h} : new long[] {h, 3L * h}, all));
                }
                continue;
            }
            boolean vector = p.rows() == 1 && (n.endsWith("bias") || n.contains("norm") || n.contains("ln_"));
            boolean conv = !llama && (n.endsWith(".o") || n.endsWith(".up") || n.endsWith(".down"));
            long[] shape = vector ? new long[] {p.cols()} : conv ? new long[] {p.cols(), p.rows()} : new long[] {p.rows(), p.cols()};
            float[] src = grads ? p.g() : p.w();
            float[] v = src;
            if (conv) {
                v = new float[p.size()];
                for (int o = 0; o < p.rows(); o++) {
                    for (int i = 0; i < p.cols(); i++) {
                        v[i * p.rows() + o] = src[o * p.cols() + i];
                    }
                }
            }
            out.add(new ModelWriter.Weight(hfName(n), shape, v.clone()));
        }
        return out;
    }

    // ---- forward

    /** The forward over batch; returns the mean cross-entropy over the rows with targets. */
    public double forward(Batch b) {
        return forward(b, null);
    }

    /** The forward with an intervention (null: none). */
    public double forward(Batch b, Intervention iv) {
        int t = b.size();
        int h = c.hidden();
        int inter = c.intermediate();
        this.batch = b;
        this.intervention = iv;
        if (saved == null || saved.length != c.layers() || saved[0].xIn.length != t * h || saved[0].p.length != b.rows() * c.heads() * b.seq() * b.seq()) {
            saved = new Saved[c.layers()];
            for (int l = 0; l < c.layers(); l++) {
                Saved s = new Saved();
                s.xIn = new float[t * h];
                s.n1 = new float[t * h];
                s.n1Mean = new float[t];
                s.n1Rstd = new float[t];
                s.q = new float[t * c.qDim()];
                s.k = new float[t * c.kvDim()];
                s.v = new float[t * c.kvDim()];
                s.p = new float[b.rows() * c.heads() * b.seq() * b.seq()];
                s.att = new float[t * c.qDim()];
                s.attnOut = new float[t * h];
                s.xMid = new float[t * h];
                s.n2 = new float[t * h];
                s.n2Mean = new float[t];
                s.n2Rstd = new float[t];
                s.gate = llama ? new float[t * inter] : null;
                s.up = new float[t * inter];
                s.act = new float[t * inter];
                s.mlpOut = new float[t * h];
                saved[l] = s;
            }
            xOut = new float[t * h];
            nf = new float[t * h];
            nfMean = new float[t];
            nfRstd = new float[t];
            dlogits = new float[t * c.vocabSize()];
            lastLogits = new float[t * c.vocabSize()];
        }
        int[] positions = new int[t];
        for (int i = 0; i < t; i++) {
            positions[i] = b.position(i);
            if (b.tokens()[i] < 0 || b.tokens()[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + b.tokens()[i] + " is outside the vocabulary of " + c.vocabSize());
            }
            if (pos != null && positions[i] >= c.maxPositions()) {
                throw new IllegalArgumentException("position " + positions[i] + " is past the " + c.maxPositions() + " learned positions");
            }
        }
        float[] x = saved[0].xIn;
        for (int i = 0; i < t; i++) {
            System.arraycopy(embed.w(), b.tokens()[i] * h, x, i * h, h);
            if (pos != null) {
                for (int j = 0; j < h; j++) {
                    x[i * h + j] += pos.w()[positions[i] * h + j];
                }
            }
        }
        if (iv != null) {
            iv.embeddingNoise.forEach((row, noise) -> {
                for (int j = 0; j < h; j++) {
                    x[row * h + j] += noise[j];
                }
            });
        }
        TrainOps.AttnShape shape = new TrainOps.AttnShape(b.rows(), b.seq(), c.heads(), c.kvHeads(), c.headDim(), b.docStart());
        for (int l = 0; l < c.layers(); l++) {
            Layer w = layers.get(l);
            Saved s = saved[l];
            norm(s.xIn, w.n1w(), w.n1b(), s.n1, s.n1Mean, s.n1Rstd, t);
            linear(s.n1, w.wq(), w.bq(), s.q, t);
            linear(s.n1, w.wk(), w.bk(), s.k, t);
            linear(s.n1, w.wv(), w.bv(), s.v, t);
            if (llama) {
                TrainOps.rope(s.q, t, c.heads(), c.headDim(), positions, invFreq);
                TrainOps.rope(s.k, t, c.kvHeads(), c.headDim(), positions, invFreq);
            }
            TrainOps.attention(parallel, s.q, s.k, s.v, s.att, s.p, shape);
            linear(s.att, w.wo(), w.bo(), s.attnOut, t);
            if (iv != null) {
                iv.apply(Intervention.Site.ATTENTION, l, s.attnOut, h);
            }
            for (int i = 0; i < t * h; i++) {
                s.xMid[i] = s.xIn[i] + s.attnOut[i];
            }
            norm(s.xMid, w.n2w(), w.n2b(), s.n2, s.n2Mean, s.n2Rstd, t);
            if (llama) {
                linear(s.n2, w.wg(), null, s.gate, t);
                linear(s.n2, w.wu(), null, s.up, t);
                TrainOps.swiglu(s.gate, s.up, s.act, t * inter);
            } else {
                linear(s.n2, w.wu(), w.bu(), s.up, t);
                TrainOps.gelu(s.up, s.act, t * inter);
            }
            linear(s.act, w.wd(), w.bd(), s.mlpOut, t);
            if (iv != null) {
                iv.apply(Intervention.Site.MLP, l, s.mlpOut, h);
            }
            float[] next = l + 1 < c.layers() ? saved[l + 1].xIn : xOut;
            for (int i = 0; i < t * h; i++) {
                next[i] = s.xMid[i] + s.mlpOut[i];
            }
            if (iv != null) {
                iv.apply(Intervention.Site.RESIDUAL, l, next, h);
            }
        }
        norm(xOut, nfw, nfb, nf, nfMean, nfRstd, t);
        gemm.nt(nf, (head == null ? embed : head).w(), lastLogits, t, c.vocabSize(), h, false);
        return TrainOps.crossEntropy(parallel, lastLogits, b.targets(), t, c.vocabSize(), dlogits);
    }

    private void norm(float[] x, Param w, Param b, float[] y, float[] mean, float[] rstd, int rows) {
        if (llama) {
            TrainOps.rmsNorm(x, w.w(), c.normEps(), y, rstd, rows, c.hidden());
        } else {
            TrainOps.layerNorm(x, w.w(), b.w(), c.normEps(), y, mean, rstd, rows, c.hidden());
        }
    }

    /** y[rows, out] = x[rows, in] · Wᵀ + b. */
    private void linear(float[] x, Param w, Param b, float[] y, int rows) {
        gemm.nt(x, w.w(), y, rows, w.rows(), w.cols(), false);
        if (b != null) {
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < w.rows(); i++) {
                    y[r * w.rows() + i] += b.w()[i];
                }
            }
        }
    }

    /** The last forward's logits, [batch tokens, vocab]. */
    public float[] logits() {
        return lastLogits;
    }

    // ---- backward

    /**
     * The backward of the last forward: accumulates every parameter's gradient (weightGrads), or with
     * the weights frozen only the gradients along the residual stream ({@link #gradResidual}).
     */
    public void backward(boolean weightGrads) {
        backwardChecks();
        backwardFromLogits(weightGrads);
    }

    /**
     * The backward of the last forward from a loss of the caller's own: dLogits is ∂L/∂logits, [batch tokens,
     * vocab] (a KL term, a weighted NLL: ROME's and MEMIT's objectives). The forward's own cross-entropy is ignored.
     */
    public void backward(float[] dLogits, boolean weightGrads) {
        backwardChecks();
        if (dLogits.length != dlogits.length) {
            throw new IllegalArgumentException("∂L/∂logits has " + dLogits.length + " values; the last forward has " + dlogits.length);
        }
        System.arraycopy(dLogits, 0, dlogits, 0, dlogits.length);
        backwardFromLogits(weightGrads);
    }

    private void backwardChecks() {
        if (batch == null) {
            throw new IllegalStateException("backward needs a forward first");
        }
        if (intervention != null && intervention.replaces()) {
            throw new IllegalStateException("a forward that restored a state has no gradient through it: backward after it is refused");
        }
    }

    private void backwardFromLogits(boolean weightGrads) {
        int t = batch.size();
        int h = c.hidden();
        int inter = c.intermediate();
        int[] positions = new int[t];
        for (int i = 0; i < t; i++) {
            positions[i] = batch.position(i);
        }
        TrainOps.AttnShape shape = new TrainOps.AttnShape(batch.rows(), batch.seq(), c.heads(), c.kvHeads(), c.headDim(), batch.docStart());
        Param out = head == null ? embed : head;
        // LM head
        float[] dnf = new float[t * h];
        gemm.nn(dlogits, out.w(), dnf, t, h, c.vocabSize(), false);
        if (weightGrads) {
            addWeightGrad(dlogits, nf, out, t);
        }
        float[] dx = new float[t * h];
        normBackward(dnf, xOut, nfw, nfb, nfMean, nfRstd, dx, t, weightGrads);

        float[] dn = new float[t * h];
        float[] dtmp = new float[t * h];
        float[] dact = new float[t * inter];
        float[] dup = new float[t * inter];
        float[] dgate = llama ? new float[t * inter] : null;
        float[] datt = new float[t * c.qDim()];
        float[] dq = new float[t * c.qDim()];
        float[] dk = new float[t * c.kvDim()];
        float[] dv = new float[t * c.kvDim()];
        for (int l = c.layers() - 1; l >= 0; l--) {
            Layer w = layers.get(l);
            Saved s = saved[l];
            s.dResidual = dx.clone();
            // MLP: out = down(act); xOut = xMid + out
            linearBackward(dx, s.act, w.wd(), w.bd(), dact, t, weightGrads);
            if (llama) {
                TrainOps.swigluBackward(dact, s.gate, s.up, dgate, dup, t * inter);
                linearBackward(dgate, s.n2, w.wg(), null, dn, t, weightGrads);
                linearBackward(dup, s.n2, w.wu(), null, dtmp, t, weightGrads);
                Ops2.add(dn, dtmp);
            } else {
                TrainOps.geluBackward(dact, s.up, dup, t * inter);
                linearBackward(dup, s.n2, w.wu(), w.bu(), dn, t, weightGrads);
            }
            normBackward(dn, s.xMid, w.n2w(), w.n2b(), s.n2Mean, s.n2Rstd, dtmp, t, weightGrads);
            Ops2.add(dx, dtmp);  // dx is now ∂L/∂xMid
            s.dAttention = dx.clone();
            // attention: attnOut = o(att); xMid = xIn + attnOut
            linearBackward(dx, s.att, w.wo(), w.bo(), datt, t, weightGrads);
            TrainOps.attentionBackward(parallel, datt, s.q, s.k, s.v, s.p, dq, dk, dv, shape);
            if (llama) {
                TrainOps.ropeBackward(dq, t, c.heads(), c.headDim(), positions, invFreq);
                TrainOps.ropeBackward(dk, t, c.kvHeads(), c.headDim(), positions, invFreq);
            }
            linearBackward(dq, s.n1, w.wq(), w.bq(), dn, t, weightGrads);
            linearBackward(dk, s.n1, w.wk(), w.bk(), dtmp, t, weightGrads);
            Ops2.add(dn, dtmp);
            linearBackward(dv, s.n1, w.wv(), w.bv(), dtmp, t, weightGrads);
            Ops2.add(dn, dtmp);
            normBackward(dn, s.xIn, w.n1w(), w.n1b(), s.n1Mean, s.n1Rstd, dtmp, t, weightGrads);
            Ops2.add(dx, dtmp);  // ∂L/∂xIn
        }
        embeddingGrad = dx;
        if (weightGrads) {
            for (int i = 0; i < t; i++) {
                Gemm.axpy(1f, dx, i * h, embed.g(), batch.tokens()[i] * h, h);
                if (pos != null) {
                    Gemm.axpy(1f, dx, i * h, pos.g(), positions[i] * h, h);
                }
            }
        }
    }

    private float[] embeddingGrad;

    private float[] dyT;

    /** W.g += dyᵀ · x, with dy [rows, out] and x [rows, in]. */
    private void addWeightGrad(float[] dy, float[] x, Param w, int rows) {
        if (dyT == null || dyT.length < rows * w.rows()) {
            dyT = new float[rows * Math.max(w.rows(), c.vocabSize())];
        }
        gemm.transpose(dy, rows, w.rows(), dyT);
        gemm.nn(dyT, x, w.g(), w.rows(), w.cols(), rows, true);
    }

    /** dx = dy · W; W.g += dyᵀ x; b.g += Σ dy. */
    private void linearBackward(float[] dy, float[] x, Param w, Param b, float[] dx, int rows, boolean weightGrads) {
        gemm.nn(dy, w.w(), dx, rows, w.cols(), w.rows(), false);
        if (weightGrads) {
            addWeightGrad(dy, x, w, rows);
            if (b != null) {
                for (int r = 0; r < rows; r++) {
                    Gemm.axpy(1f, dy, r * w.rows(), b.g(), 0, w.rows());
                }
            }
        }
    }

    private void normBackward(float[] dy, float[] x, Param w, Param b, float[] mean, float[] rstd, float[] dx, int rows, boolean weightGrads) {
        if (llama) {
            TrainOps.rmsNormBackward(dy, x, w.w(), rstd, dx, weightGrads ? w.g() : null, rows, c.hidden());
        } else {
            TrainOps.layerNormBackward(dy, x, w.w(), mean, rstd, dx, weightGrads ? w.g() : null, weightGrads ? b.g() : null, rows, c.hidden());
        }
    }

    // ---- what knowledge editing reads

    /**
     * Layer's MLP down projection (GPT-2's mlp.c_proj), [hidden, intermediate] as y = W k: the matrix that ROME,
     * MEMIT and AlphaEdit rewrite. Its array is the live weight: writing it changes the model.
     */
    public Param down(int layer) {
        if (layer < 0 || layer >= c.layers()) {
            throw new IllegalArgumentException("layer " + layer + " is outside the model's 0.." + (c.layers() - 1));
        }
        return layers.get(layer).wd();
    }

    /** The Hugging Face name of layer's down projection (model.layers.5.mlp.down_proj.weight, h.17.mlp.c_proj.weight). */
    public String downName(int layer) {
        return hfName(down(layer).name());
    }

    /** The residual stream after layer's block at row (layer -1: the embeddings), from the last forward. */
    public float[] residual(int layer, int row) {
        float[] src = layer < 0 ? saved[0].xIn : layer + 1 < c.layers() ? saved[layer + 1].xIn : xOut;
        return slice(src, row, c.hidden());
    }

    /** The MLP's output at (layer, row), before it is added to the residual stream. */
    public float[] mlpOutput(int layer, int row) {
        return slice(saved[layer].mlpOut, row, c.hidden());
    }

    /** The attention block's output at (layer, row). */
    public float[] attentionOutput(int layer, int row) {
        return slice(saved[layer].attnOut, row, c.hidden());
    }

    /** The MLP's inner activation at (layer, row): the input of its down projection, the "key" k. */
    public float[] mlpKey(int layer, int row) {
        return slice(saved[layer].act, row, c.intermediate());
    }

    /**
     * Every row's MLP inner activation at layer from the last forward, [batch tokens, intermediate]: the live array
     * (read it before the next forward; do not write it). For covariance statistics over many tokens.
     */
    public float[] mlpKeys(int layer) {
        if (saved == null) {
            throw new IllegalStateException("not computed: run a forward first");
        }
        return saved[layer].act;
    }

    /**
     * ∂L/∂(layer's output) at row after a backward: the gradient with respect to a vector added to
     * the residual stream there, or to the layer's MLP output (the two enter the loss the same way).
     */
    public float[] gradResidual(int layer, int row) {
        return slice(saved[layer].dResidual, row, c.hidden());
    }

    /** ∂L/∂(layer's attention output) at row after a backward. */
    public float[] gradAttention(int layer, int row) {
        return slice(saved[layer].dAttention, row, c.hidden());
    }

    /** ∂L/∂(input embedding) at row after a backward. */
    public float[] gradEmbedding(int row) {
        return slice(embeddingGrad, row, c.hidden());
    }

    private static float[] slice(float[] a, int row, int n) {
        if (a == null) {
            throw new IllegalStateException("not computed: run a forward (and a backward for gradients) first");
        }
        return Arrays.copyOfRange(a, row * n, row * n + n);
    }

    private static final class Ops2 {
        static void add(float[] a, float[] b) {
            Gemm.axpy(1f, b, 0, a, 0, a.length);
        }
    }
}
