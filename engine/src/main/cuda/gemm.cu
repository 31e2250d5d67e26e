// Prefill- and large-batch-sized matrix products on the tensor cores:
// y[m, n] (+)= sum_k x[m, k] * W[n, k] (+ bias[n]), x float32 [M x K], W [N x K].
// Tiles of 64 x 64 outputs per block of 4 warps, each warp 32 x 32 (2 x 2 WMMA 16x16x16 fragments),
// K in steps of 32 through shared memory. Activations are rounded to the weights' 16-bit type as
// they are staged (bf16 weights: bf16; f16 and q8 weights: f16, q8 dequantized while staged);
// accumulation is float32. K must be a multiple of 32. F32 weights take the SIMT kernel below.
#include "common.cuh"
#include <mma.h>
using namespace nvcuda;

#define BM 64
#define BN 64
#define BK 32
#define PAD 8

template <typename T> __device__ __forceinline__ T to16(float f);
template <> __device__ __forceinline__ __nv_bfloat16 to16<__nv_bfloat16>(float f) { return __float2bfloat16(f); }
template <> __device__ __forceinline__ __half to16<__half>(float f) { return __float2half(f); }

template <int WT, typename T>
__device__ void gemm_tc(float* y, const float* x, const void* w, const float* scales, const float* bias, int M, int N, int K, int accumulate) {
    __shared__ __align__(32) T As[BM][BK + PAD];
    __shared__ __align__(32) T Bs[BN][BK + PAD];
    __shared__ __align__(32) float Cs[BM][BN + 4];
    int tid = threadIdx.x;
    int warp = tid >> 5;
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

    for (int k0 = 0; k0 < K; k0 += BK) {
        // A: 64 x 32 floats, 16 per thread as 4 float4 (8 float4 per row).
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int idx = tid + i * 128;  // 0..511
            int r = idx >> 3, c = (idx & 7) * 4;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (m0 + r < M) v = *reinterpret_cast<const float4*>(x + (long)(m0 + r) * K + k0 + c);
            As[r][c] = to16<T>(v.x); As[r][c + 1] = to16<T>(v.y); As[r][c + 2] = to16<T>(v.z); As[r][c + 3] = to16<T>(v.w);
        }
        // B: 64 rows of W x 32 columns, 8 values per load, 2 loads per thread (4 per row).
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int idx = tid + i * 128;  // 0..255
            int r = idx >> 2, c = (idx & 3) * 8;
            if (n0 + r < N) {
                if (WT == WT_Q8) {
                    float v[8];
                    load8<WT_Q8>(w, scales, n0 + r, K, k0 + c, v);
#pragma unroll
                    for (int e = 0; e < 8; e++) Bs[r][c + e] = to16<T>(v[e]);
                } else {
                    *reinterpret_cast<uint4*>(&Bs[r][c]) = __ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(w) + (long)(n0 + r) * K + k0 + c));
                }
            } else {
                *reinterpret_cast<uint4*>(&Bs[r][c]) = make_uint4(0, 0, 0, 0);
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b[2];
#pragma unroll
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(a[i], &As[wm + i * 16][kk], BK + PAD);
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(b[j], &Bs[wn + j * 16][kk], BK + PAD);
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::store_matrix_sync(&Cs[wm + i * 16][wn + j * 16], acc[i][j], BN + 4, wmma::mem_row_major);
    __syncthreads();
    for (int idx = tid; idx < BM * BN; idx += 128) {
        int r = idx / BN, c = idx % BN;
        int m = m0 + r, n = n0 + c;
        if (m < M && n < N) {
            float s = Cs[r][c] + (bias ? bias[n] : 0.f);
            float* out = y + (long)m * N + n;
            *out = accumulate ? *out + s : s;
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) gemm_bf16(float* y, const float* x, const void* w, const float* scales, const float* bias, int M, int N, int K, int accumulate) {
    gemm_tc<WT_BF16, __nv_bfloat16>(y, x, w, scales, bias, M, N, K, accumulate);
}
extern "C" __global__ void __launch_bounds__(128) gemm_f16(float* y, const float* x, const void* w, const float* scales, const float* bias, int M, int N, int K, int accumulate) {
    gemm_tc<WT_F16, __half>(y, x, w, scales, bias, M, N, K, accumulate);
}
extern "C" __global__ void __launch_bounds__(128) gemm_q8(float* y, const float* x, const void* w, const float* scales, const float* bias, int M, int N, int K, int accumulate) {
    gemm_tc<WT_Q8, __half>(y, x, w, scales, bias, M, N, K, accumulate);
}

// F32 weights (the exact mode): plain FMA, 64 x 64 tile per block of 256 threads, 4 x 4 outputs each.
extern "C" __global__ void __launch_bounds__(256) gemm_f32(float* y, const float* x, const void* wv, const float* scales, const float* bias, int M, int N, int K, int accumulate) {
    const float* w = static_cast<const float*>(wv);
    __shared__ float As[BK][BM + 1];
    __shared__ float Bs[BK][BN + 1];
    int tid = threadIdx.x;
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    int tr = (tid / 16) * 4, tc = (tid % 16) * 4;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int idx = tid; idx < BM * BK; idx += 256) {
            int r = idx / BK, c = idx % BK;
            As[c][r] = m0 + r < M ? x[(long)(m0 + r) * K + k0 + c] : 0.f;
            Bs[c][r] = n0 + r < N ? w[(long)(n0 + r) * K + k0 + c] : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < BK; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) { a[i] = As[k][tr + i]; b[i] = Bs[k][tc + i]; }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int m = m0 + tr + i, n = n0 + tc + j;
            if (m < M && n < N) {
                float s = acc[i][j] + (bias ? bias[n] : 0.f);
                float* out = y + (long)m * N + n;
                *out = accumulate ? *out + s : s;
            }
        }
    (void)scales;
}
