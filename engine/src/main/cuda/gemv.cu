// Decode-sized matrix products: y[m, n] (+)= sum_k x[m, k] * W[n, k] (+ bias[n]) for up to 8 rows
// (kernels for 1, 2, 4, 8; `rows` may be fewer). With `norm` set, x is RMS-normalized on the way in
// (x * norm * rsqrt(mean(x^2) + eps), Llama's RMSNorm fused into the product that follows it):
// each warp sums x^2 while it reads x anyway, and scales its dot product at the end.
// Memory-bound: one warp per output row n streams W's row once with 16-byte loads (8 weights per
// lane per step, 256 per warp), four steps unrolled so that several loads are in flight, and uses
// each weight for all M activation rows.
#include "common.cuh"

// Eight consecutive floats (16-byte aligned), and the two sums both GEMVs take over them.
__device__ __forceinline__ void floats8(const float* p, float v[8]) {
    const float4* q = reinterpret_cast<const float4*>(p);
    float4 a = q[0], b = q[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ float dot8(const float w[8], const float x[8]) {
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) s += w[i] * x[i];
    return s;
}

template <int WT, int M>
__device__ void gemv(float* y, const float* x, const float* norm, float eps, const void* w, const float* scales, const float* bias, int rows, int N,
        int K, int accumulate) {
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= N) return;
    float acc[M], ss[M];
#pragma unroll
    for (int m = 0; m < M; m++) acc[m] = ss[m] = 0.f;
#pragma unroll 4
    for (int c = lane * 8; c < K; c += 256) {
        float wv[8];
        load8<WT>(w, scales, warp, K, c, wv);
        if (norm) {
            float nv[8];
            floats8(norm + c, nv);
#pragma unroll
            for (int i = 0; i < 8; i++) wv[i] *= nv[i];
        }
#pragma unroll
        for (int m = 0; m < M; m++) {
            if (m < rows) {
                float xv[8];
                floats8(x + (long)m * K + c, xv);
                acc[m] += dot8(wv, xv);
                if (norm) ss[m] += dot8(xv, xv);
            }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        if (m >= rows) continue;
        float s = warp_sum(acc[m]);
        if (norm) s *= rsqrtf(warp_sum(ss[m]) / K + eps);
        if (lane == 0) {
            if (bias) s += bias[warp];
            float* out = y + (long)m * N + warp;
            *out = accumulate ? *out + s : s;
        }
    }
}

// Llama's MLP in one pass at decode: out[m, j] = silu(gate_j . x_m) * (up_j . x_m), gate rows 0..N-1 and
// up rows N..2N-1 of one stacked matrix, x RMS-normalized on the way in as above. A warp reads its
// gate and up rows side by side (twice the loads in flight) and writes the product, so the gate|up
// output and the SiLU kernel are skipped.
template <int WT, int M>
__device__ void gemv_swiglu(float* out, const float* x, const float* norm, float eps, const void* w, const float* scales, int rows, int N, int K) {
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= N) return;
    float ag[M], au[M], ss[M];
#pragma unroll
    for (int m = 0; m < M; m++) ag[m] = au[m] = ss[m] = 0.f;
#pragma unroll 2
    for (int c = lane * 8; c < K; c += 256) {
        float g8[8], u8[8];
        load8<WT>(w, scales, warp, K, c, g8);
        load8<WT>(w, scales, warp + N, K, c, u8);
        if (norm) {
            float nv[8];
            floats8(norm + c, nv);
#pragma unroll
            for (int i = 0; i < 8; i++) { g8[i] *= nv[i]; u8[i] *= nv[i]; }
        }
#pragma unroll
        for (int m = 0; m < M; m++) {
            if (m < rows) {
                float xv[8];
                floats8(x + (long)m * K + c, xv);
                ag[m] += dot8(g8, xv);
                au[m] += dot8(u8, xv);
                if (norm) ss[m] += dot8(xv, xv);
            }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        if (m >= rows) continue;
        float scale = norm ? rsqrtf(warp_sum(ss[m]) / K + eps) : 1.f;
        float g = warp_sum(ag[m]) * scale, u = warp_sum(au[m]) * scale;
        if (lane == 0) out[(long)m * N + warp] = g / (1.f + expf(-g)) * u;
    }
}

#define SWIGLU(NAME, WT, M) \
    extern "C" __global__ void __launch_bounds__(128) NAME(float* out, const float* x, const float* norm, float eps, const void* w, \
            const float* scales, int rows, int N, int K) { \
        gemv_swiglu<WT, M>(out, x, norm, eps, w, scales, rows, N, K); }
#define SWIGLU_ALL(WTNAME, WT) \
    SWIGLU(gemv_swiglu_##WTNAME##_1, WT, 1) SWIGLU(gemv_swiglu_##WTNAME##_2, WT, 2) SWIGLU(gemv_swiglu_##WTNAME##_4, WT, 4) \
    SWIGLU(gemv_swiglu_##WTNAME##_8, WT, 8)
SWIGLU_ALL(f32, WT_F32)
SWIGLU_ALL(bf16, WT_BF16)
SWIGLU_ALL(f16, WT_F16)
SWIGLU_ALL(q8, WT_Q8)

#define GEMV(NAME, WT, M) \
    extern "C" __global__ void __launch_bounds__(128) NAME(float* y, const float* x, const float* norm, float eps, const void* w, const float* scales, \
            const float* bias, int rows, int N, int K, int accumulate) { \
        gemv<WT, M>(y, x, norm, eps, w, scales, bias, rows, N, K, accumulate); }
#define GEMV_ALL(WTNAME, WT) \
    GEMV(gemv_##WTNAME##_1, WT, 1) GEMV(gemv_##WTNAME##_2, WT, 2) GEMV(gemv_##WTNAME##_4, WT, 4) GEMV(gemv_##WTNAME##_8, WT, 8)
GEMV_ALL(f32, WT_F32)
GEMV_ALL(bf16, WT_BF16)
GEMV_ALL(f16, WT_F16)
GEMV_ALL(q8, WT_Q8)
