// On-device reduction of logits rows, so that only what the sampler needs crosses to the host:
// for every row its argmax (lowest id among equal maxima, as the CPU sampler picks) and that
// token's log-probability, with log-sum-exp accumulated in double as the CPU does; for a row with
// k > 0 also its k best tokens (by logit, then lowest id) with their logits, and the sum over the
// whole vocabulary of exp((logit - max) / T) in double, from which the host draws a top-k / top-p /
// min-p sample exactly as Sampler does on a whole row. One block of 1024 threads per row.
#include "common.cuh"

#define SAMPLE_THREADS 1024

// (v, i) comes before (w, j): larger value first, then lower id
__device__ __forceinline__ bool before(float v, int i, float w, int j) { return v > w || (v == w && i < j); }

// The best (value, id) over the block; every thread gets it. sv/si: 32 entries of shared memory.
__device__ __forceinline__ void block_best(float& v, int& i, float* sv, int* si) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (before(ov, oi, v, i)) { v = ov; i = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) { sv[warp] = v; si[warp] = i; }
    __syncthreads();
    v = lane < warps ? sv[lane] : -INFINITY;
    i = lane < warps ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (before(ov, oi, v, i)) { v = ov; i = oi; }
    }
}

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

// ids, logprobs: [rows]; candIds, candLogits: [rows x maxK]; stats: [rows x 2] (max, log-sum-exp);
// sumT: [rows]. rowK, rowT: per row, k (0: argmax only) and temperature (0: no sumT).
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(int* ids, float* logprobs, int* candIds, float* candLogits, float* stats,
        double* sumT, const float* logits, int vocab, const int* rowK, const float* rowT, int maxK) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ double sd[32];
    int r = blockIdx.x;
    const float* row = logits + (long)r * vocab;
    float best = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (v > best) { best = v; bi = i; }  // i increases: this thread's first maximum wins
    }
    block_best(best, bi, sv, si);
    float mx = best;
    double s = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += exp((double)(row[i] - mx));
    s = block_sum_double(s, sd);
    float lse = (float)(mx + log(s));
    if (threadIdx.x == 0) {
        ids[r] = bi;
        logprobs[r] = mx - lse;
        stats[2 * r] = mx;
        stats[2 * r + 1] = lse;
    }
    int k = min(rowK[r], maxK);
    if (k <= 0) return;
    float temperature = rowT[r];
    if (temperature > 0) {
        double st = 0;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) st += exp((double)((row[i] - mx) / temperature));
        st = block_sum_double(st, sd);
        if (threadIdx.x == 0) sumT[r] = st;
    }
    // k passes, each taking the best entry after the previous one in (logit desc, id asc) order
    float pv = INFINITY;
    int pi = -1;
    for (int j = 0; j < k; j++) {
        float v = -INFINITY;
        int vi = 0x7fffffff;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            float x = row[i];
            if (before(pv, pi, x, i) && before(x, i, v, vi)) { v = x; vi = i; }
        }
        block_best(v, vi, sv, si);
        if (threadIdx.x == 0) {
            candIds[(long)r * maxK + j] = vi;
            candLogits[(long)r * maxK + j] = v;
        }
        pv = v;
        pi = vi;
    }
}
