package io.boundless.engine.model;

import io.boundless.engine.cpu.Attention;
import io.boundless.engine.cpu.MatMul;
import io.boundless.engine.cpu.Ops;
import io.boundless.engine.cpu.Parallel;
import io.boundless.engine.cpu.Rope;
import io.boundless.engine.kv.KvCache;
import io.boundless.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The forward pass over a batch of chunks (prefill pieces and decode tokens of many sequences), on
 * the CPU. Keys and values go into the paged {@link KvCache}; attention reads them back through each
 * sequence's block table, so one step can mix sequences of any length.
 */
public final class Transformer {

    /**
     * Tokens of one sequence for this step, at positions startPos, startPos + 1, ...
     *
     * @param blockTable the sequence's blocks, covering at least startPos + tokens.length positions
     * @param logitsFrom first row (index into tokens) whose logits are returned
     * @param logitsTo   one past the last such row; equal to logitsFrom for none
     * @param overlay    the low-rank delta this sequence is served with (an edited version), or null for the base
     */
    public record Chunk(int[] tokens, int startPos, int[] blockTable, int logitsFrom, int logitsTo, Overlay overlay) {
        public Chunk(int[] tokens, int startPos, int[] blockTable, int logitsFrom, int logitsTo) {
            this(tokens, startPos, blockTable, logitsFrom, logitsTo, null);
        }

        /** A chunk that wants the last token's logits (it ends the prompt, or decodes) or none. */
        public Chunk(int[] tokens, int startPos, int[] blockTable, boolean wantLogits) {
            this(tokens, startPos, blockTable, wantLogits ? tokens.length - 1 : tokens.length, tokens.length, null);
        }

        public boolean wantLogits() {
            return logitsTo > logitsFrom;
        }

        public int logitRows() {
            return Math.max(0, logitsTo - logitsFrom);
        }
    }

    private final ModelWeights w;
    private final ModelConfig c;
    private final Parallel parallel;
    private final MatMul matmul;
    private final float[] invFreq;
    private final Gelu gelu;

    /** How GPT-2's GELU is evaluated. */
    public enum Gelu {
        /** In float32, as transformers does: what the engine serves with. */
        FLOAT32,
        /** Through ggml's f16 table ({@link Ops#geluGgml}): a test mode for holding the engine to llama.cpp. */
        GGML_F16_TABLE
    }

    public Transformer(ModelWeights weights, Parallel parallel) {
        this(weights, parallel, Gelu.FLOAT32);
    }

    public Transformer(ModelWeights weights, Parallel parallel, Gelu gelu) {
        this.gelu = gelu;
        this.w = weights;
        this.c = weights.config();
        this.parallel = parallel;
        this.matmul = new MatMul(parallel);
        this.invFreq = c.arch().isLlamaLike() ? weights.inverseFrequencies() : null;
    }

    public ModelConfig config() {
        return c;
    }

    /** Runs the chunks; returns logits [rows wanted × vocab], in chunk order, then row order. */
    public float[] forward(List<Chunk> chunks, KvCache cache) {
        int total = 0;
        int wanted = 0;
        for (Chunk ch : chunks) {
            total += ch.tokens().length;
            wanted += ch.logitRows();
        }
        int h = c.hidden();
        int[] tokSeq = new int[total]; // chunk index of each row
        int[] tokPos = new int[total]; // position of each row
        float[] x = new float[total * h]; // x: [T, hidden], the residual stream
        int t = 0;
        for (int ci = 0; ci < chunks.size(); ci++) {
            Chunk ch = chunks.get(ci);
            for (int j = 0; j < ch.tokens().length; j++, t++) {
                int id = ch.tokens()[j];
                if (id < 0 || id >= c.vocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + c.vocabSize());
                }
                tokSeq[t] = ci;
                tokPos[t] = ch.startPos() + j;
                embed(w.embeddings(), id, x, t * h);
                if (w.positions() != null) {
                    if (tokPos[t] >= c.maxPositions()) {
                        throw new IllegalArgumentException("position " + tokPos[t] + " is past GPT-2's " + c.maxPositions() + " learned positions");
                    }
                    long base = (long) tokPos[t] * h;
                    for (int i = 0; i < h; i++) {
                        x[t * h + i] += w.positions().getFloat(base + i);
                    }
                }
            }
        }
        float[] xn = new float[total * h];
        int qDim = c.qDim();
        int kvDim = c.kvDim();
        float[] q = new float[total * qDim];
        float[] k = new float[total * kvDim];
        float[] v = new float[total * kvDim];
        float[] att = new float[total * qDim];
        float[] proj = new float[total * h];
        float[] gate = new float[total * c.intermediate()];
        float[] up = new float[total * c.intermediate()];
        float[] qkv = c.arch().isLlamaLike() ? null : new float[total * 3 * h];

        for (int l = 0; l < c.layers(); l++) {
            LayerWeights lw = w.layers().get(l);
            norm(x, lw.attnNorm(), lw.attnNormBias(), xn, total);
            if (qkv == null) {
                matmul.matmul(new Tensor[] {lw.q(), lw.k(), lw.v()}, xn, new float[][] {q, k, v}, total);
                addBias(q, lw.qBias(), total, qDim);
                addBias(k, lw.kBias(), total, kvDim);
                addBias(v, lw.vBias(), total, kvDim);
                for (int r = 0; r < total; r++) {
                    Rope.apply(q, r * qDim, c.heads(), c.headDim(), tokPos[r], invFreq, w.ropeLayout());
                    Rope.apply(k, r * kvDim, c.kvHeads(), c.headDim(), tokPos[r], invFreq, w.ropeLayout());
                }
            } else {
                matmul.matmul(lw.qkv(), xn, qkv, total);
                addBias(qkv, lw.qkvBias(), total, 3 * h);
                for (int r = 0; r < total; r++) {
                    System.arraycopy(qkv, r * 3 * h, q, r * qDim, h);
                    System.arraycopy(qkv, r * 3 * h + h, k, r * kvDim, h);
                    System.arraycopy(qkv, r * 3 * h + 2 * h, v, r * kvDim, h);
                }
            }
            for (int r = 0; r < total; r++) {
                cache.put(l, cache.slot(chunks.get(tokSeq[r]).blockTable(), tokPos[r]), k, r * kvDim, v, r * kvDim);
            }
            MemorySegment kc = cache.keys(l);
            MemorySegment vc = cache.values(l);
            attention(chunks, tokSeq, tokPos, q, att, cache, kc, vc, total);
            matmul.matmul(lw.o(), att, proj, total);
            addBias(proj, lw.oBias(), total, h);
            Ops.add(x, proj, total * h);

            norm(x, lw.ffnNorm(), lw.ffnNormBias(), xn, total);
            if (lw.gate() != null) {
                matmul.matmul(new Tensor[] {lw.gate(), lw.up()}, xn, new float[][] {gate, up}, total);
                addBias(up, lw.upBias(), total, c.intermediate());
                Ops.swiglu(gate, up, total * c.intermediate());
            } else {
                matmul.matmul(lw.up(), xn, up, total);
                addBias(up, lw.upBias(), total, c.intermediate());
                if (gelu == Gelu.GGML_F16_TABLE) {
                    Ops.geluGgml(up, total * c.intermediate());
                } else {
                    Ops.gelu(up, total * c.intermediate());
                }
                System.arraycopy(up, 0, gate, 0, total * c.intermediate());
            }
            matmul.matmul(lw.down(), gate, proj, total);
            addBias(proj, lw.downBias(), total, h);
            applyOverlays(chunks, l, gate, proj, total);
            Ops.add(x, proj, total * h);
        }

        // Final norm and the vocabulary projection, only for the rows whose logits are wanted.
        float[] last = new float[wanted * h];
        int row = 0;
        t = 0;
        for (Chunk ch : chunks) {
            for (int j = ch.logitsFrom(); j < ch.logitsTo(); j++) {
                normRow(x, (t + j) * h, w.finalNorm(), w.finalNormBias(), last, row * h);
                row++;
            }
            t += ch.tokens().length;
        }
        float[] logits = new float[wanted * c.vocabSize()];
        if (wanted > 0) {
            matmul.matmul(w.output(), last, logits, wanted);
        }
        return logits;
    }

    /**
     * Causal attention of each row's query over its sequence's cached keys (positions up to its own,
     * within the sliding window if any); grouped-query heads share key/value heads.
     */
    private void attention(List<Chunk> chunks, int[] tokSeq, int[] tokPos, float[] q, float[] out, KvCache cache,
            MemorySegment kc, MemorySegment vc, int total) {
        int heads = c.heads();
        int hd = c.headDim();
        int group = heads / c.kvHeads();
        int kvDim = c.kvDim();
        parallel.forRange(total * heads, 1, (from, to) -> {
            float[] scores = new float[0];
            for (int idx = from; idx < to; idx++) {
                int r = idx / heads;
                int head = idx % heads;
                int kvHead = head / group;
                int[] table = chunks.get(tokSeq[r]).blockTable();
                int pos = tokPos[r];
                int first = c.slidingWindow() > 0 ? Math.max(0, pos - c.slidingWindow() + 1) : 0;
                int n = pos - first + 1;
                if (scores.length < n) {
                    scores = new float[Math.max(n, scores.length * 2)];
                }
                Attention.head(q, r * c.qDim() + head * hd, kc, vc, cache, table, first, pos, kvHead, hd, kvDim, scores, out,
                        r * c.qDim() + head * hd);
            }
        });
    }

    /** proj += U (Vᵀ k) for the rows whose sequence is served with an overlay that edits layer l's down projection. */
    private void applyOverlays(List<Chunk> chunks, int l, float[] keys, float[] proj, int total) {
        int inter = c.intermediate();
        int h = c.hidden();
        int t = 0;
        for (Chunk ch : chunks) {
            Overlay.LowRank d = ch.overlay() == null ? null : ch.overlay().at(l);
            if (d != null) {
                for (int j = 0; j < ch.tokens().length; j++) {
                    d.apply(keys, (t + j) * inter, proj, (t + j) * h);
                }
            }
            t += ch.tokens().length;
        }
    }

    private void norm(float[] x, float[] weight, float[] bias, float[] out, int rows) {
        int h = c.hidden();
        for (int r = 0; r < rows; r++) {
            normRow(x, r * h, weight, bias, out, r * h);
        }
    }

    private void normRow(float[] x, int off, float[] weight, float[] bias, float[] out, int outOff) {
        if (c.arch().isLlamaLike()) {
            Ops.rmsNorm(x, off, weight, c.normEps(), out, outOff, c.hidden());
        } else {
            Ops.layerNorm(x, off, weight, bias, c.normEps(), out, outOff, c.hidden());
        }
    }

    private static void addBias(float[] y, float[] bias, int rows, int n) {
        if (bias == null) {
            return;
        }
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                y[r * n + i] += bias[i];
            }
        }
    }

    private static void embed(Tensor table, int row, float[] out, int off) {
        int h = Math.toIntExact(table.shape()[1]);
        long base = (long) row * h;
        for (int i = 0; i < h; i++) {
            out[off + i] = table.getFloat(base + i);
        }
    }
}
