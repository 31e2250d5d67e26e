// On-device reduction of logits rows, so that a greedy row sends two numbers to the host instead of
// a vocabulary of floats: the argmax (lowest id among equal maxima, as the CPU sampler picks) and
// its log-probability, log_softmax(row)[argmax] = -log(sum(exp(row - max))). One block per row.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(1024) argmax_logprob(int* ids, float* logprobs, const float* logits, int vocab) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ float red[32];
    const float* row = logits + (long)blockIdx.x * vocab;
    float best = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (v > best) { best = v; bi = i; }  // i increases: the first maximum of this thread wins
    }
    // warp: larger value, then lower index
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) { sv[warp] = best; si[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        best = lane < warps ? sv[lane] : -INFINITY;
        bi = lane < warps ? si[lane] : 0x7fffffff;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, best, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
        }
        if (lane == 0) { sv[0] = best; si[0] = bi; }
    }
    __syncthreads();
    float mx = sv[0];
    int arg = si[0];
    float s = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += expf(row[i] - mx);
    s = block_sum(s, red);
    if (threadIdx.x == 0) {
        ids[blockIdx.x] = arg;
        logprobs[blockIdx.x] = -logf(s);
    }
}
