// On-device reduction of logits rows, so that only what the sampler needs crosses to the host:
// for every row its argmax (lowest id among equal maxima, as the CPU sampler picks) and that
// token's log-probability, with log-sum-exp accumulated in double as the CPU does; for a row with
// k > 0 also its k best tokens (by logit, then lowest id) with their logits, and the sum over the
// whole vocabulary of exp((logit - max) / T) in double, from which the host draws a top-k / top-p /
// min-p sample exactly as Sampler does on a whole row; and for a row in draw mode the sampled token
// itself (temperature and min-p, no top-k/top-p), drawn with the host's uniform number u as Sampler
// draws: the kept tokens' probabilities walked in id order until their sum passes u times the total.
// One block of 1024 threads per row.
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

// ids, logprobs: [rows]; candIds, candLogits: [rows x maxK]; stats: [rows x 2] (max, log-sum-exp);
// sumT: [rows]; drawn, drawnLogits: [rows]. Per row: rowK candidates (0: none), rowT temperature
// (0: no sumT), rowMode 1 to draw with rowU (a uniform number in [0, 1)) and rowMinP.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(int* ids, float* logprobs, int* candIds, float* candLogits, float* stats,
        double* sumT, int* drawn, float* drawnLogits, const float* logits, int vocab, const int* rowK, const float* rowT, const int* rowMode,
        const float* rowMinP, const double* rowU, int maxK) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ double sd[32];
    __shared__ double part[SAMPLE_THREADS];
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
    float temperature = rowT[r];
    if (rowMode[r] == 1) {
        // each thread a contiguous range of ids, so that walking the threads in order walks the ids in order
        float minP = rowMinP[r];
        int chunk = (vocab + blockDim.x - 1) / blockDim.x;
        int lo = min(vocab, (int)threadIdx.x * chunk), hi = min(vocab, lo + chunk);
        double mine = 0;
        int last = -1;
        for (int i = lo; i < hi; i++) {
            double p = row[i] == -INFINITY ? 0 : exp((double)((row[i] - mx) / temperature));
            if (!(minP > 0 && p < minP) && p > 0) {
                mine += p;
                last = i;
            }
        }
        __syncthreads();
        part[threadIdx.x] = mine;
        __syncthreads();
        if (threadIdx.x == 0) {  // exclusive prefix sums in thread order
            double acc = 0;
            for (int t = 0; t < (int)blockDim.x; t++) {
                double v = part[t];
                part[t] = acc;
                acc += v;
            }
            sd[0] = acc;
        }
        __syncthreads();
        double target = rowU[r] * sd[0];
        double acc = part[threadIdx.x];
        int found = 0x7fffffff;
        for (int i = lo; i < hi; i++) {
            double p = row[i] == -INFINITY ? 0 : exp((double)((row[i] - mx) / temperature));
            if (!(minP > 0 && p < minP) && p > 0) {
                acc += p;
                if (target < acc) {
                    found = i;
                    break;
                }
            }
        }
        // the lowest id where the running sum passes the target; none (rounding at the very end): the last kept id
        float v = found != 0x7fffffff ? 0.f : -INFINITY;
        int fi = found;
        block_best(v, fi, sv, si);
        if (v == -INFINITY) {
            float lv = last >= 0 ? (float)last : -INFINITY;
            int li = last;
            block_best(lv, li, sv, si);
            fi = lv == -INFINITY ? bi : li;
        }
        if (threadIdx.x == 0) {
            drawn[r] = fi;
            drawnLogits[r] = row[fi];
        }
    }
    int k = min(rowK[r], maxK);
    if (k <= 0) return;
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
