// Per-row and per-element kernels of the forward pass. Rows are tokens of the step; every buffer
// is float32 [rows x width] with an explicit row stride where a buffer holds several tensors
// side by side (q | k | v from the fused projection, gate | up).
#include "common.cuh"

// x[t] = embedding[ids[t]] (+ positions[pos[t]] for GPT-2). One block per token.
template <int WT>
__device__ void embed(float* x, const void* table, const float* scales, const float* positions, const int* ids, const int* pos, int hidden) {
    int t = blockIdx.x;
    long id = ids[t];
    for (int c = threadIdx.x * 8; c < hidden; c += blockDim.x * 8) {
        float v[8];
        load8<WT>(table, scales, id, hidden, c, v);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            float p = positions ? positions[(long)pos[t] * hidden + c + i] : 0.f;
            x[(long)t * hidden + c + i] = v[i] + p;
        }
    }
}
#define EMBED(NAME, WT) \
    extern "C" __global__ void NAME(float* x, const void* table, const float* scales, const float* positions, const int* ids, const int* pos, int hidden) { \
        embed<WT>(x, table, scales, positions, ids, pos, hidden); }
EMBED(embed_f32, WT_F32)
EMBED(embed_bf16, WT_BF16)
EMBED(embed_f16, WT_F16)
EMBED(embed_q8, WT_Q8)

// out[r] = x[rows ? rows[r] : r] * rsqrt(mean(x^2) + eps) * w. One block per output row.
extern "C" __global__ void rms_norm(float* out, const float* x, const int* rows, const float* w, float eps, int n) {
    __shared__ float red[32];
    int r = blockIdx.x;
    const float* in = x + (long)(rows ? rows[r] : r) * n;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += in[i] * in[i];
    ss = block_sum(ss, red);
    float scale = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long)r * n + i] = in[i] * scale * w[i];
}

// LayerNorm (GPT-2): mean and variance in double, as the CPU backend computes them.
extern "C" __global__ void layer_norm(float* out, const float* x, const int* rows, const float* w, const float* b, float eps, int n) {
    __shared__ double red2[32];
    int r = blockIdx.x;
    const float* in = x + (long)(rows ? rows[r] : r) * n;
    double s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += in[i];
    double mean = block_sum_double(s, red2) / n;
    double v = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) { double d = in[i] - mean; v += d * d; }
    double var = block_sum_double(v, red2) / n;
    float inv = (float)(1.0 / sqrt(var + eps));
    float m = (float)mean;
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long)r * n + i] = (in[i] - m) * inv * w[i] + b[i];
}

// Per token: rotary embeddings of q and k in place, then k and v into the token's cache slot.
// q, k, v sit side by side in each row of the fused projection (stride floats apart): `heads`
// heads of headDim from the row's start are rotated (q's and k's; 0 for GPT-2, which has no RoPE),
// pairs (i, i + half) for rotate-half, (2i, 2i+1) for adjacent, angles in double as on the CPU.
// A negative slot (a padding row) writes nothing. grid: rows.
template <typename KV>
__device__ void rope_kv_write(float* qkv, int stride, const int* pos, const float* invFreq, int heads, int headDim, int half, int adjacent,
        KV* kc, KV* vc, int kOffset, int vOffset, const int* slots, int kvDim) {
    int t = blockIdx.x;
    float* row = qkv + (long)t * stride;
    for (int j = threadIdx.x; j < heads * half; j += blockDim.x) {
        int h = j / half, i = j % half;
        double s, c;
        sincos(pos[t] * (double)invFreq[i], &s, &c);
        float cs = (float)c, sn = (float)s;
        int a = h * headDim + (adjacent ? 2 * i : i);
        int b = h * headDim + (adjacent ? 2 * i + 1 : i + half);
        float x0 = row[a], x1 = row[b];
        row[a] = x0 * cs - x1 * sn;
        row[b] = x0 * sn + x1 * cs;
    }
    __syncthreads();  // k is rotated before it is stored
    long slot = slots[t];
    if (slot < 0) return;
    for (int i = threadIdx.x; i < kvDim; i += blockDim.x) {
        float kk = row[kOffset + i], vv = row[vOffset + i];
        if constexpr (sizeof(KV) == 4) {
            kc[slot * kvDim + i] = kk;
            vc[slot * kvDim + i] = vv;
        } else {
            kc[slot * kvDim + i] = __float2bfloat16(kk);
            vc[slot * kvDim + i] = __float2bfloat16(vv);
        }
    }
}
extern "C" __global__ void rope_kv_write_f32(float* qkv, int stride, const int* pos, const float* invFreq, int heads, int headDim, int half,
        int adjacent, float* kc, float* vc, int kOffset, int vOffset, const int* slots, int kvDim) {
    rope_kv_write<float>(qkv, stride, pos, invFreq, heads, headDim, half, adjacent, kc, vc, kOffset, vOffset, slots, kvDim);
}
extern "C" __global__ void rope_kv_write_bf16(float* qkv, int stride, const int* pos, const float* invFreq, int heads, int headDim, int half,
        int adjacent, __nv_bfloat16* kc, __nv_bfloat16* vc, int kOffset, int vOffset, const int* slots, int kvDim) {
    rope_kv_write<__nv_bfloat16>(qkv, stride, pos, invFreq, heads, headDim, half, adjacent, kc, vc, kOffset, vOffset, slots, kvDim);
}

// out[t, i] = silu(gu[t, i]) * gu[t, n + i]: gate and up side by side in one row of 2n.
extern "C" __global__ void silu_mul(float* out, const float* gu, int rows, int n) {
    long total = (long)rows * n;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        long t = e / n, i = e % n;
        float g = gu[t * 2 * n + i];
        out[e] = g / (1.f + expf(-g)) * gu[t * 2 * n + n + i];
    }
}

// GELU, tanh approximation (GPT-2's gelu_new), in place.
extern "C" __global__ void gelu(float* x, long n) {
    const float c = 0.7978845608028654f;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        float v = x[e];
        x[e] = 0.5f * v * (1.f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

// A delta version's low-rank overlay on the down projection (an edit: W + U Vᵀ): for `count` consecutive rows from
// `first`, x[row] += U (Vᵀ act[row]), with U [hidden, rank] and V [inter, rank] row-major. One block per row: the
// rank values Vᵀk by block reductions into shared memory, then each thread one or more outputs of U t.
#define LOWRANK_MAX 2048
extern "C" __global__ void lowrank_add(float* x, const float* act, const float* u, const float* v, int first, int hidden, int inter,
                                       int rank) {
    __shared__ float t[LOWRANK_MAX];
    __shared__ float red[32];
    int row = first + blockIdx.x;
    const float* a = act + (long)row * inter;
    for (int r = 0; r < rank; r++) {
        float s = 0.f;
        for (int i = threadIdx.x; i < inter; i += blockDim.x) s += a[i] * v[(long)i * rank + r];
        s = block_sum(s, red);
        if (threadIdx.x == 0) t[r] = s;
    }
    __syncthreads();
    float* y = x + (long)row * hidden;
    for (int o = threadIdx.x; o < hidden; o += blockDim.x) {
        float s = 0.f;
        for (int r = 0; r < rank; r++) s += u[(long)o * rank + r] * t[r];
        y[o] += s;
    }
}
