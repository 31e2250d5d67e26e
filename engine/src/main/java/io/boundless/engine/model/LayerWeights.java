package io.boundless.engine.model;

import io.boundless.engine.tensor.Tensor;

/**
 * One decoder block's weights. Matrices are [out, in]. Llama-like models use the separate q/k/v and
 * gate/up; GPT-2 uses {@code qkv} [3 * hidden, hidden] and has biases and LayerNorm biases.
 *
 * @param attnNorm     [hidden]
 * @param q            [heads * headDim, hidden]    (null for GPT-2)
 * @param k            [kvHeads * headDim, hidden]  (null for GPT-2)
 * @param v            [kvHeads * headDim, hidden]  (null for GPT-2)
 * @param qkv          [3 * hidden, hidden]         (GPT-2 only)
 * @param o            [hidden, heads * headDim]
 * @param ffnNorm      [hidden]
 * @param gate         [intermediate, hidden]       (null for GPT-2)
 * @param up           [intermediate, hidden]
 * @param down         [hidden, intermediate]
 */
public record LayerWeights(float[] attnNorm, float[] attnNormBias, Tensor q, Tensor k, Tensor v, Tensor qkv,
        float[] qBias, float[] kBias, float[] vBias, float[] qkvBias, Tensor o, float[] oBias,
        float[] ffnNorm, float[] ffnNormBias, Tensor gate, Tensor up, float[] upBias, Tensor down, float[] downBias) {}
