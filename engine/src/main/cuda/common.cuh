// Shared by every Boundless kernel. Activations are float32; weights are one of the WT_* types below.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// Weight element types, as the Java side names them (CudaBackend.WeightType ordinal).
#define WT_F32 0
#define WT_BF16 1
#define WT_F16 2
#define WT_Q8 3  // int8 values [rows x cols] plus one float scale per 32 values [rows x cols/32]

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over a block of up to 1024 threads; every thread gets the result. shared: 32 floats.
__device__ __forceinline__ float block_sum(float v, float* shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // shared may still be read by a previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    float t = lane < warps ? shared[lane] : 0.f;
    return warp_sum(t);
}

__device__ __forceinline__ float block_max(float v, float* shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    float t = lane < warps ? shared[lane] : -INFINITY;
    return warp_max(t);
}

// Sum of doubles over a block, added in warp order, so the same in every thread and every run.
// shared: 32 doubles.
__device__ __forceinline__ double block_sum_double(double v, double* shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    double t = 0;
    for (int w = 0; w < warps; w++) t += shared[w];  // the same order in every thread and every run
    return t;
}

// Eight consecutive weights of row `row` starting at column `col` (col % 8 == 0), as floats.
// BF16/F16: one 16-byte load. F32: two. Q8: one 8-byte load and the block's scale.
template <int WT>
__device__ __forceinline__ void load8(const void* w, const float* scales, long row, long cols, long col, float out[8]) {
    if (WT == WT_F32) {
        const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(w) + row * cols + col);
        float4 a = __ldg(p), b = __ldg(p + 1);
        out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
        out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
    } else if (WT == WT_BF16) {
        uint4 v = __ldg(reinterpret_cast<const uint4*>(static_cast<const __nv_bfloat16*>(w) + row * cols + col));
        const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __bfloat1622float2(h[i]);
            out[2 * i] = f.x; out[2 * i + 1] = f.y;
        }
    } else if (WT == WT_F16) {
        uint4 v = __ldg(reinterpret_cast<const uint4*>(static_cast<const __half*>(w) + row * cols + col));
        const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(h[i]);
            out[2 * i] = f.x; out[2 * i + 1] = f.y;
        }
    } else {  // WT_Q8
        uint2 v = __ldg(reinterpret_cast<const uint2*>(static_cast<const int8_t*>(w) + row * cols + col));
        float s = __ldg(scales + (row * cols + col) / 32);
        const int8_t* q = reinterpret_cast<const int8_t*>(&v);
#pragma unroll
        for (int i = 0; i < 8; i++) out[i] = s * (float)q[i];
    }
}
