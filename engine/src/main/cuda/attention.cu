// Paged attention, decode and prefill alike: one block per (query row, query head). Each row
// attends causally over its own sequence's cached keys, positions first..pos (first > 0 only with
// a sliding window), read through the sequence's block table. Keys are taken in chunks of CH: a
// warp per key (lanes across the head's dimensions, coalesced), scores in shared memory, and an
// online softmax (running max and sum) so that any context length fits; values are accumulated
// by threads across dimensions (coalesced). Grouped-query heads share key/value heads.
#include "common.cuh"

#define CH 256
#define THREADS 128

template <typename KV> __device__ __forceinline__ float kvf(KV v);
template <> __device__ __forceinline__ float kvf<float>(float v) { return v; }
template <> __device__ __forceinline__ float kvf<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

// q: row t's query at q + t * qStride + head * hd. tables: all block tables, row t's at
// tables + rowTable[t]. out: [rows x heads * hd]. hd <= 256 and a multiple of 32.
template <typename KV>
__device__ void paged_attention(float* out, const float* q, int qStride, const KV* kc, const KV* vc, const int* tables,
        const int* rowTable, const int* rowPos, int heads, int kvHeads, int hd, int blockSize, int window, float scale) {
    __shared__ float qs[256];
    __shared__ float sc[CH];
    __shared__ float red[32];
    __shared__ float part[THREADS / 32][256];
    int t = blockIdx.y, head = blockIdx.x;
    int kvHead = head / (heads / kvHeads);
    int kvDim = kvHeads * hd;
    int pos = rowPos[t];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    const int* table = tables + rowTable[t];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    for (int d = tid; d < hd; d += THREADS) qs[d] = q[(long)t * qStride + head * hd + d];
    __syncthreads();
    // threads over dimensions: thread tid owns dims d = tid % hd (+ hd ...) of key group g = tid / hd
    int groups = hd >= THREADS ? 1 : THREADS / hd;
    int g = tid / hd < groups ? tid / hd : -1;
    float acc0 = 0.f, acc1 = 0.f;  // dims tid % hd and tid % hd + 128 (hd > 128)
    float m = -INFINITY, l = 0.f;
    for (int c = first; c <= pos; c += CH) {
        int n = min(CH, pos + 1 - c);
        float lmax = -INFINITY;
        for (int j = warp; j < n; j += THREADS / 32) {
            int p = c + j;
            long slot = (long)table[p / blockSize] * blockSize + p % blockSize;
            const KV* k = kc + slot * kvDim + kvHead * hd;
            float s = 0.f;
            for (int d = lane; d < hd; d += 32) s += qs[d] * kvf(k[d]);
            s = warp_sum(s) * scale;
            if (lane == 0) sc[j] = s;
            lmax = fmaxf(lmax, s);
        }
        float cmax = block_max(lmax, red);  // includes a barrier: sc[] is complete
        float newm = fmaxf(m, cmax);
        float local = 0.f;
        for (int j = tid; j < n; j += THREADS) {
            float e = expf(sc[j] - newm);
            sc[j] = e;
            local += e;
        }
        float sum = block_sum(local, red);  // barrier: sc[] holds the weights
        float factor = expf(m - newm);   // 0 on the first chunk (m = -inf)
        l = l * factor + sum;
        acc0 *= factor;
        acc1 *= factor;
        if (g >= 0) {
            int d = tid % hd;
            for (int j = g; j < n; j += groups) {
                int p = c + j;
                long slot = (long)table[p / blockSize] * blockSize + p % blockSize;
                const KV* v = vc + slot * kvDim + kvHead * hd;
                float a = sc[j];
                acc0 += a * kvf(v[d]);
                if (hd > THREADS) acc1 += a * kvf(v[d + THREADS]);
            }
        }
        m = newm;
        __syncthreads();  // sc[] is rewritten by the next chunk
    }
    if (g >= 0) {
        part[g][tid % hd] = acc0;
        if (hd > THREADS) part[0][tid + THREADS] = acc1;
    }
    __syncthreads();
    for (int d = tid; d < hd; d += THREADS) {
        float s = 0.f;
        for (int k = 0; k < groups; k++) s += part[k][d];
        out[(long)t * heads * hd + head * hd + d] = s / l;
    }
}

extern "C" __global__ void __launch_bounds__(THREADS) paged_attention_f32(float* out, const float* q, int qStride, const float* kc, const float* vc,
        const int* tables, const int* rowTable, const int* rowPos, int heads, int kvHeads, int hd, int blockSize, int window, float scale) {
    paged_attention<float>(out, q, qStride, kc, vc, tables, rowTable, rowPos, heads, kvHeads, hd, blockSize, window, scale);
}
extern "C" __global__ void __launch_bounds__(THREADS) paged_attention_bf16(float* out, const float* q, int qStride, const __nv_bfloat16* kc,
        const __nv_bfloat16* vc, const int* tables, const int* rowTable, const int* rowPos, int heads, int kvHeads, int hd, int blockSize, int window,
        float scale) {
    paged_attention<__nv_bfloat16>(out, q, qStride, kc, vc, tables, rowTable, rowPos, heads, kvHeads, hd, blockSize, window, scale);
}
