// Every CUDA kernel of engine/src/main/cuda, compiled for the CPU through the emulation in emu/ and
// run on random inputs against plain float64 references (KernelEmulationTest builds and runs this).
// Prints one line per check; exits 1 if any fails. Sizes are chosen to hit the kernels' edges:
// output rows not a multiple of a block's, K not a multiple of a warp's 256-column stride, M and N
// not multiples of the 64x64 GEMM tile, sequences longer than attention's 256-key chunk, head
// dimensions of 32, 64, 80, 128 and 256, padding rows with slot -1, ties in logits.
#include "cuda_emu.h"

#include "../../main/cuda/attention.cu"
#include "../../main/cuda/elementwise.cu"
#include "../../main/cuda/gemm.cu"
#include "../../main/cuda/gemv.cu"
#include "../../main/cuda/sample.cu"

#include <algorithm>
#include <random>
#include <string>

static int failures = 0;
static std::mt19937_64 rng(20261127);

static double uniform() { return std::uniform_real_distribution<double>(-1, 1)(rng); }
static double gauss() { return std::normal_distribution<double>(0, 1)(rng); }

static void report(const std::string& name, double err, double bound) {
    bool ok = err <= bound;  // NaN fails
    std::printf("%s %-60s error %.3g (bound %.3g)\n", ok ? "PASS" : "FAIL", name.c_str(), err, bound);
    if (!ok) failures++;
}

// max |a - b| / max(|b|, floor) over paired values
struct Err {
    double worst = 0;
    void add(double got, double want, double floor = 1.0) {
        double e = std::fabs(got - want) / std::max(std::fabs(want), floor);
        if (!(e <= worst)) worst = e;  // keeps NaN
    }
};

// ||got - want|| / ||want|| over all values (where single values can cancel, as in gate * up)
struct NormErr {
    double num = 0, den = 0;
    void add(double got, double want) {
        num += (got - want) * (got - want);
        den += want * want;
    }
    double value() const { return std::sqrt(num) / std::sqrt(den); }
};

static float bf16_round(float f) { return __bfloat162float(__float2bfloat16(f)); }
static float f16_round(float f) { return __half2float(__float2half(f)); }

// A weight matrix in one of the device types, with the float values the kernels should see.
struct Weights {
    int type, rows, cols;
    std::vector<float> f32;
    std::vector<__nv_bfloat16> bf16;
    std::vector<__half> f16;
    std::vector<int8_t> q8;
    std::vector<float> scales;
    std::vector<double> value;  // what element (r, c) means
    const void* data() const {
        switch (type) {
            case WT_F32: return f32.data();
            case WT_BF16: return bf16.data();
            case WT_F16: return f16.data();
            default: return q8.data();
        }
    }
    const float* scale() const { return type == WT_Q8 ? scales.data() : nullptr; }
};

static Weights weights(int type, int rows, int cols) {
    Weights w{type, rows, cols};
    w.value.resize((size_t)rows * cols);
    if (type == WT_Q8) {
        w.q8.resize((size_t)rows * cols);
        w.scales.resize((size_t)rows * cols / 32);
        for (auto& s : w.scales) s = (float)(0.001 + 0.02 * std::fabs(gauss()));
        for (size_t i = 0; i < w.q8.size(); i++) {
            w.q8[i] = (int8_t)std::uniform_int_distribution<int>(-127, 127)(rng);
            w.value[i] = (double)(w.scales[i / 32] * (float)w.q8[i]);
        }
        return w;
    }
    for (size_t i = 0; i < w.value.size(); i++) {
        float v = (float)(0.5 * gauss());
        if (type == WT_F32) { w.f32.push_back(v); w.value[i] = v; }
        if (type == WT_BF16) { w.bf16.push_back(__float2bfloat16(v)); w.value[i] = __bfloat162float(w.bf16.back()); }
        if (type == WT_F16) { w.f16.push_back(__float2half(v)); w.value[i] = __half2float(w.f16.back()); }
    }
    return w;
}

static std::vector<float> randoms(size_t n, double scale = 1.0) {
    std::vector<float> v(n);
    for (auto& x : v) x = (float)(scale * gauss());
    return v;
}

static const char* type_name(int t) { return t == WT_F32 ? "f32" : t == WT_BF16 ? "bf16" : t == WT_F16 ? "f16" : "q8"; }

using Gemv = void (*)(float*, const float*, const float*, float, const void*, const float*, const float*, int, int, int, int);
static Gemv gemv_kernel(int type, int m) {
    static const Gemv table[4][4] = {{gemv_f32_1, gemv_f32_2, gemv_f32_4, gemv_f32_8}, {gemv_bf16_1, gemv_bf16_2, gemv_bf16_4, gemv_bf16_8},
            {gemv_f16_1, gemv_f16_2, gemv_f16_4, gemv_f16_8}, {gemv_q8_1, gemv_q8_2, gemv_q8_4, gemv_q8_8}};
    return table[type][m == 1 ? 0 : m == 2 ? 1 : m == 4 ? 2 : 3];
}

static void test_gemv() {
    const int N = 37, K = 288;  // 37 rows: the last block has one warp with work; 288 = 256 + 32: a tail step
    for (int type = 0; type < 4; type++) {
        Weights w = weights(type, N, K);
        for (int m : {1, 2, 4, 8}) {
            for (int rows : {m, std::max(1, m - 1)}) {
                for (int variant = 0; variant < 3; variant++) {  // plain; bias + accumulate; RMSNorm folded in
                    bool norm = variant == 2, acc = variant == 1;
                    std::vector<float> x = randoms((size_t)rows * K), g = randoms(K), bias = randoms(N);
                    std::vector<float> y = randoms((size_t)rows * N), y0 = y;
                    float eps = 1e-5f;
                    emu::launch("gemv", gemv_kernel(type, m), dim3((N + 3) / 4), dim3(128), y.data(), x.data(), norm ? g.data() : nullptr, eps,
                            w.data(), w.scale(), acc ? bias.data() : nullptr, rows, N, K, acc ? 1 : 0);
                    Err e;
                    for (int r = 0; r < rows; r++) {
                        double ss = 0;
                        for (int k = 0; k < K; k++) ss += (double)x[r * K + k] * x[r * K + k];
                        double scale = norm ? 1.0 / std::sqrt(ss / K + eps) : 1.0;
                        for (int n = 0; n < N; n++) {
                            double s = 0;
                            for (int k = 0; k < K; k++) s += w.value[(size_t)n * K + k] * x[r * K + k] * (norm ? g[k] : 1.0);
                            s *= scale;
                            if (acc) s += bias[n] + y0[r * N + n];
                            e.add(y[r * N + n], s);
                        }
                    }
                    report(std::string("gemv_") + type_name(type) + "_" + std::to_string(m) + " rows " + std::to_string(rows) +
                                   (norm ? " rmsnorm" : acc ? " bias+accumulate" : ""),
                            e.worst, 2e-5);
                }
            }
        }
    }
}

using Swiglu = void (*)(float*, const float*, const float*, float, const void*, const float*, int, int, int);
static Swiglu swiglu_kernel(int type, int m) {
    static const Swiglu table[4][4] = {{gemv_swiglu_f32_1, gemv_swiglu_f32_2, gemv_swiglu_f32_4, gemv_swiglu_f32_8},
            {gemv_swiglu_bf16_1, gemv_swiglu_bf16_2, gemv_swiglu_bf16_4, gemv_swiglu_bf16_8},
            {gemv_swiglu_f16_1, gemv_swiglu_f16_2, gemv_swiglu_f16_4, gemv_swiglu_f16_8},
            {gemv_swiglu_q8_1, gemv_swiglu_q8_2, gemv_swiglu_q8_4, gemv_swiglu_q8_8}};
    return table[type][m == 1 ? 0 : m == 2 ? 1 : m == 4 ? 2 : 3];
}

static void test_swiglu() {
    const int N = 37, K = 288;  // 37 outputs from 74 stacked rows (gate 0..36, up 37..73)
    for (int type = 0; type < 4; type++) {
        Weights w = weights(type, 2 * N, K);
        for (int m : {1, 2, 4, 8}) {
            for (int rows : {m, std::max(1, m - 1)}) {
                for (bool norm : {false, true}) {
                    std::vector<float> x = randoms((size_t)rows * K), g = randoms(K), out((size_t)rows * N, NAN);
                    emu::launch("gemv_swiglu", swiglu_kernel(type, m), dim3((N + 3) / 4), dim3(128), out.data(), x.data(), norm ? g.data() : nullptr,
                            1e-5f, w.data(), w.scale(), rows, N, K);
                    NormErr e;
                    for (int r = 0; r < rows; r++) {
                        double ss = 0;
                        for (int k = 0; k < K; k++) ss += (double)x[r * K + k] * x[r * K + k];
                        double scale = norm ? 1.0 / std::sqrt(ss / K + 1e-5) : 1.0;
                        for (int n = 0; n < N; n++) {
                            double gate = 0, up = 0;
                            for (int k = 0; k < K; k++) {
                                double xv = x[r * K + k] * (norm ? g[k] : 1.0);
                                gate += w.value[(size_t)n * K + k] * xv;
                                up += w.value[(size_t)(n + N) * K + k] * xv;
                            }
                            gate *= scale;
                            up *= scale;
                            e.add(out[r * N + n], gate / (1 + std::exp(-gate)) * up);
                        }
                    }
                    report(std::string("gemv_swiglu_") + type_name(type) + "_" + std::to_string(m) + " rows " + std::to_string(rows) +
                                   (norm ? " rmsnorm" : "") + " (norm-wise)",
                            e.value(), 1e-6);
                }
            }
        }
    }
}

static void test_gemm() {
    const int M = 70, N = 100, K = 96;  // not multiples of the 64x64 tile; 3 K steps of 32
    using Gemm = void (*)(float*, const float*, const void*, const float*, const float*, int, int, int, int);
    Gemm kernels[4] = {gemm_f32, gemm_bf16, gemm_f16, gemm_q8};
    for (int type = 0; type < 4; type++) {
        Weights w = weights(type, N, K);
        for (int acc = 0; acc < 2; acc++) {
            std::vector<float> x = randoms((size_t)M * K), bias = randoms(N), y = randoms((size_t)M * N), y0 = y;
            emu::launch("gemm", kernels[type], dim3((N + 63) / 64, (M + 63) / 64), dim3(type == WT_F32 ? 256 : 128), y.data(), x.data(), w.data(),
                    w.scale(), acc ? bias.data() : nullptr, M, N, K, acc);
            Err e;
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    double s = 0;
                    for (int k = 0; k < K; k++) {
                        // activations are rounded to the weights' 16-bit type as they are staged (f16 for q8)
                        float a = x[m * K + k];
                        double av = type == WT_F32 ? a : type == WT_BF16 ? bf16_round(a) : f16_round(a);
                        double wv = type == WT_Q8 ? f16_round((float)w.value[(size_t)n * K + k]) : w.value[(size_t)n * K + k];
                        s += av * wv;
                    }
                    if (acc) s += bias[n] + y0[m * N + n];
                    e.add(y[m * N + n], s);
                }
            report(std::string("gemm_") + type_name(type) + (acc ? " bias+accumulate" : ""), e.worst, 2e-5);
        }
    }
}

// A step's worth of sequences over a paged cache: block tables, positions, slots.
struct Paged {
    int blockSize = 16, numBlocks = 0;
    std::vector<int> tables, rowTable, rowPos, slots;
    int rows = 0;
};

static Paged paged(const std::vector<int>& lengths, const std::vector<int>& queried) {
    // sequence s has lengths[s] cached positions and its last queried[s] positions are this step's rows
    Paged p;
    int total = 0;
    for (int len : lengths) total += (len + p.blockSize - 1) / p.blockSize;
    p.numBlocks = total + 3;
    std::vector<int> free(p.numBlocks);
    for (int i = 0; i < p.numBlocks; i++) free[i] = i;
    std::shuffle(free.begin(), free.end(), rng);
    int at = 0;
    for (size_t s = 0; s < lengths.size(); s++) {
        int offset = (int)p.tables.size();
        int blocks = (lengths[s] + p.blockSize - 1) / p.blockSize;
        for (int b = 0; b < blocks; b++) p.tables.push_back(free[at++]);
        for (int q = lengths[s] - queried[s]; q < lengths[s]; q++) {
            p.rowTable.push_back(offset);
            p.rowPos.push_back(q);
            p.slots.push_back(p.tables[offset + q / p.blockSize] * p.blockSize + q % p.blockSize);
            p.rows++;
        }
    }
    return p;
}

template <typename KV>
static void test_attention(const char* name, void (*kernel)(float*, const float*, int, const KV*, const KV*, const int*, const int*, const int*, int, int,
        int, int, int, float), bool bf16) {
    for (int hd : {32, 64, 80, 128, 256}) {
        for (int window : {0, 100}) {
            const int heads = 4, kvHeads = 2, kvDim = kvHeads * hd, qStride = heads * hd + 2 * kvDim;
            Paged p = paged({300, 1, 40, 17}, {1, 1, 5, 17});  // decode rows, a 300-token context (two chunks), a prefill
            size_t slots = (size_t)p.numBlocks * p.blockSize;
            std::vector<KV> kc(slots * kvDim), vc(slots * kvDim);
            std::vector<double> kd(slots * kvDim), vd(slots * kvDim);
            for (size_t i = 0; i < kc.size(); i++) {
                float a = (float)gauss(), b = (float)gauss();
                if constexpr (sizeof(KV) == 4) { kc[i] = a; vc[i] = b; kd[i] = a; vd[i] = b; }
                else { kc[i] = __float2bfloat16(a); vc[i] = __float2bfloat16(b); kd[i] = __bfloat162float(kc[i]); vd[i] = __bfloat162float(vc[i]); }
            }
            std::vector<float> q = randoms((size_t)p.rows * qStride), out((size_t)p.rows * heads * hd, NAN);
            float scale = (float)(1.0 / std::sqrt((double)hd));
            emu::launch(name, kernel, dim3(heads, p.rows), dim3(128), out.data(), q.data(), qStride, kc.data(), vc.data(), p.tables.data(),
                    p.rowTable.data(), p.rowPos.data(), heads, kvHeads, hd, p.blockSize, window, scale);
            Err e;
            for (int r = 0; r < p.rows; r++)
                for (int h = 0; h < heads; h++) {
                    int kvh = h / (heads / kvHeads), pos = p.rowPos[r];
                    int first = window > 0 ? std::max(0, pos - window + 1) : 0;
                    std::vector<double> sc;
                    double mx = -1e300;
                    for (int t = first; t <= pos; t++) {
                        long slot = (long)p.tables[p.rowTable[r] + t / p.blockSize] * p.blockSize + t % p.blockSize;
                        double s = 0;
                        for (int d = 0; d < hd; d++) s += (double)q[(size_t)r * qStride + h * hd + d] * kd[slot * kvDim + kvh * hd + d];
                        sc.push_back(s * scale);
                        mx = std::max(mx, sc.back());
                    }
                    double sum = 0;
                    for (double& s : sc) sum += (s = std::exp(s - mx));
                    for (int d = 0; d < hd; d++) {
                        double o = 0;
                        for (int t = first; t <= pos; t++) {
                            long slot = (long)p.tables[p.rowTable[r] + t / p.blockSize] * p.blockSize + t % p.blockSize;
                            o += sc[t - first] / sum * vd[slot * kvDim + kvh * hd + d];
                        }
                        e.add(out[(size_t)r * heads * hd + h * hd + d], o, 0.1);
                    }
                }
            report(std::string(name) + " hd " + std::to_string(hd) + (window ? " window 100" : ""), e.worst, 1e-5);
            (void)bf16;
        }
    }
}

template <typename KV>
static void test_rope_kv(const char* name, void (*kernel)(float*, int, const int*, const float*, int, int, int, int, KV*, KV*, int, int, const int*, int)) {
    for (int adjacent = 0; adjacent < 2; adjacent++) {
        for (bool rope : {true, false}) {
            const int heads = 4, kvHeads = 2, hd = 64, half = rope ? 24 : 0;  // partial rotary: 48 of 64 dimensions
            const int qDim = heads * hd, kvDim = kvHeads * hd, stride = qDim + 2 * kvDim, rows = 5, slotsN = 64;
            std::vector<float> qkv = randoms((size_t)rows * stride), before = qkv, inv(std::max(half, 1));
            for (int i = 0; i < half; i++) inv[i] = (float)std::pow(10000.0, -2.0 * i / hd);
            std::vector<int> pos = {0, 7, 1000, 31, 5}, slots = {3, 9, -1, 60, 0};
            std::vector<KV> kc((size_t)slotsN * kvDim), vc((size_t)slotsN * kvDim);
            emu::launch(name, kernel, dim3(rows), dim3(128), qkv.data(), stride, pos.data(), rope ? inv.data() : nullptr, rope ? heads + kvHeads : 0, hd,
                    half, adjacent, kc.data(), vc.data(), qDim, qDim + kvDim, slots.data(), kvDim);
            Err e;
            std::vector<double> want(before.begin(), before.end());
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < heads + kvHeads && rope; h++)
                    for (int i = 0; i < half; i++) {
                        double a = pos[r] * (double)inv[i];
                        int x0 = r * stride + h * hd + (adjacent ? 2 * i : i), x1 = r * stride + h * hd + (adjacent ? 2 * i + 1 : i + half);
                        // the kernel rounds cos and sin to float, as the CPU backend does
                        double c = (float)std::cos(a), s = (float)std::sin(a);
                        want[x0] = before[x0] * c - before[x1] * s;
                        want[x1] = before[x0] * s + before[x1] * c;
                    }
            for (size_t i = 0; i < qkv.size(); i++) e.add(qkv[i], want[i]);
            for (int r = 0; r < rows; r++) {
                if (slots[r] < 0) continue;
                for (int i = 0; i < kvDim; i++) {
                    double k = want[r * stride + qDim + i], v = want[r * stride + qDim + kvDim + i];
                    float kg, vg;
                    if constexpr (sizeof(KV) == 4) { kg = kc[(size_t)slots[r] * kvDim + i]; vg = vc[(size_t)slots[r] * kvDim + i]; }
                    else {
                        kg = __bfloat162float(kc[(size_t)slots[r] * kvDim + i]); vg = __bfloat162float(vc[(size_t)slots[r] * kvDim + i]);
                        k = bf16_round((float)k); v = bf16_round((float)v);
                    }
                    e.add(kg, k);
                    e.add(vg, v);
                }
            }
            // the padding row (slot -1) wrote nothing: every slot no row names stays zero
            int stray = 0;
            for (int sl = 0; sl < slotsN; sl++) {
                if (std::find(slots.begin(), slots.end(), sl) != slots.end()) continue;
                for (int i = 0; i < kvDim; i++) {
                    float kg, vg;
                    if constexpr (sizeof(KV) == 4) { kg = kc[(size_t)sl * kvDim + i]; vg = vc[(size_t)sl * kvDim + i]; }
                    else { kg = __bfloat162float(kc[(size_t)sl * kvDim + i]); vg = __bfloat162float(vc[(size_t)sl * kvDim + i]); }
                    stray += kg != 0.0f || vg != 0.0f;
                }
            }
            report(std::string(name) + (rope ? (adjacent ? " adjacent pairs" : " rotate-half") : " no rope (GPT-2)") + ": values written only to the rows' slots",
                    stray, 0);
            report(std::string(name) + (rope ? (adjacent ? " adjacent pairs" : " rotate-half") : " no rope (GPT-2)"), e.worst, 1e-6);
        }
    }
}

static void test_elementwise() {
    {  // RMSNorm with a row gather
        const int n = 300, rows = 4;
        std::vector<float> x = randoms(7 * n), w = randoms(n), out(rows * n);
        std::vector<int> pick = {6, 0, 3, 3};
        emu::launch("rms_norm", rms_norm, dim3(rows), dim3(256), out.data(), x.data(), pick.data(), w.data(), 1e-5f, n);
        Err e;
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double)x[pick[r] * n + i] * x[pick[r] * n + i];
            for (int i = 0; i < n; i++) e.add(out[r * n + i], x[pick[r] * n + i] / std::sqrt(ss / n + 1e-5) * w[i]);
        }
        report("rms_norm (rows gathered)", e.worst, 2e-6);
    }
    {  // LayerNorm
        const int n = 768, rows = 3;
        std::vector<float> x = randoms(rows * n, 3), w = randoms(n), b = randoms(n), out(rows * n);
        for (auto& v : x) v += 2.5f;  // a mean far from zero
        emu::launch("layer_norm", layer_norm, dim3(rows), dim3(256), out.data(), x.data(), (const int*)nullptr, w.data(), b.data(), 1e-5f, n);
        Err e;
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) mean += x[r * n + i];
            mean /= n;
            for (int i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
            var /= n;
            for (int i = 0; i < n; i++) e.add(out[r * n + i], (x[r * n + i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i]);
        }
        report("layer_norm", e.worst, 2e-6);
    }
    {  // SiLU(gate) * up, gate | up side by side
        const int n = 333, rows = 3;
        std::vector<float> gu = randoms(rows * 2 * n, 3), out(rows * n);
        emu::launch("silu_mul", silu_mul, dim3(2), dim3(256), out.data(), gu.data(), rows, n);
        Err e;
        for (int t = 0; t < rows; t++)
            for (int i = 0; i < n; i++) {
                double g = gu[t * 2 * n + i], u = gu[t * 2 * n + n + i];
                e.add(out[t * n + i], g / (1 + std::exp(-g)) * u);
            }
        report("silu_mul (grid-stride)", e.worst, 2e-6);
    }
    {  // GELU (tanh)
        std::vector<float> x = randoms(1000, 3), before = x;
        emu::launch("gelu", gelu, dim3(3), dim3(128), x.data(), (long)x.size());
        Err e;
        for (size_t i = 0; i < x.size(); i++) {
            double v = before[i];
            e.add(x[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
        }
        report("gelu", e.worst, 2e-6);
    }
    {  // embeddings of every type, with GPT-2 positions
        using Embed = void (*)(float*, const void*, const float*, const float*, const int*, const int*, int);
        Embed kernels[4] = {embed_f32, embed_bf16, embed_f16, embed_q8};
        for (int type = 0; type < 4; type++) {
            const int vocab = 50, h = 96, rows = 4;
            Weights w = weights(type, vocab, h);
            std::vector<float> positions = randoms(20 * h), x(rows * h);
            std::vector<int> ids = {3, 49, 0, 3}, pos = {0, 19, 5, 6};
            for (bool gpt2 : {false, true}) {
                emu::launch("embed", kernels[type], dim3(rows), dim3(128), x.data(), w.data(), w.scale(), gpt2 ? positions.data() : nullptr, ids.data(),
                        pos.data(), h);
                Err e;
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < h; i++) e.add(x[r * h + i], w.value[(size_t)ids[r] * h + i] + (gpt2 ? positions[pos[r] * h + i] : 0.0));
                report(std::string("embed_") + type_name(type) + (gpt2 ? " + positions" : ""), e.worst, 1e-6);
            }
        }
    }
}

static void test_sample() {
    const int vocab = 3000, rows = 6, maxK = 64;  // three entries per thread: ties within a thread too
    std::vector<float> logits(rows * vocab);
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < vocab; i++) logits[r * vocab + i] = r % 2 ? std::round(gauss() * 4) / 2 : (float)(3 * gauss());  // odd rows: many ties
    for (int i = 0; i < vocab; i++) logits[5 * vocab + i] = 0.25f;  // a flat row: every id ties
    logits[1 * vocab + 7] = logits[1 * vocab + 7 + 1024] = logits[1 * vocab + 7 + 2048] = 100;  // the maximum three times in one thread
    std::vector<int> rowK = {0, 1, 5, 64, 20, 0};
    std::vector<float> rowT = {0, 0, 0.7f, 1.3f, 0, 0.5f};
    std::vector<int> rowMode(rows, 0);
    std::vector<float> rowMinP(rows, 0);
    std::vector<double> rowU(rows, 0);
    std::vector<int> ids(rows), candIds(rows * maxK, -1), drawn(rows, -1);
    std::vector<float> lp(rows), candLogits(rows * maxK), stats(rows * 2), drawnLogits(rows);
    std::vector<double> sumT(rows, -1);
    emu::launch("sample_rows", sample_rows, dim3(rows), dim3(1024), ids.data(), lp.data(), candIds.data(), candLogits.data(), stats.data(), sumT.data(),
            drawn.data(), drawnLogits.data(), logits.data(), vocab, rowK.data(), rowT.data(), rowMode.data(), rowMinP.data(), rowU.data(), maxK);
    int wrong = 0;
    Err e;
    for (int r = 0; r < rows; r++) {
        const float* row = &logits[r * vocab];
        std::vector<int> order(vocab);
        for (int i = 0; i < vocab; i++) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });  // ties keep the lower id first
        float mx = row[order[0]];
        double s = 0;
        for (int i = 0; i < vocab; i++) s += std::exp((double)(row[i] - mx));
        float lse = (float)(mx + std::log(s));
        wrong += ids[r] != order[0];
        e.add(lp[r], mx - lse, 1e-3);
        e.add(stats[2 * r], mx);
        e.add(stats[2 * r + 1], lse);
        for (int j = 0; j < rowK[r]; j++) {
            wrong += candIds[r * maxK + j] != order[j];
            wrong += candLogits[r * maxK + j] != row[order[j]];
        }
        if (rowK[r] > 0 && rowT[r] > 0) {
            double st = 0;
            for (int i = 0; i < vocab; i++) st += std::exp((double)((row[i] - mx) / rowT[r]));
            e.add(sumT[r], st);
        }
    }
    report("sample_rows: argmax, candidates and ids (mismatches)", wrong, 0);
    report("sample_rows: log-probabilities, log-sum-exp, sums at temperature", e.worst, 1e-6);

    // draws with temperature and min-p from a uniform number, against the sequential walk Sampler does
    int draws = 0, mismatched = 0;
    for (int trial = 0; trial < 40; trial++) {
        const int rowsD = 4;
        int v = 50 + (int)(std::uniform_int_distribution<int>(0, 4000)(rng));
        std::vector<float> lg(rowsD * v);
        for (auto& x : lg) x = (float)(2.5 * gauss());
        std::vector<int> mode(rowsD, 1), k(rowsD, trial % 3), d(rowsD, -1), ig(rowsD), ci(rowsD * maxK);
        std::vector<float> t(rowsD), mp(rowsD), dl(rowsD), lpp(rowsD), cl(rowsD * maxK), st(rowsD * 2);
        std::vector<double> u(rowsD), sT(rowsD);
        for (int r = 0; r < rowsD; r++) {
            t[r] = (float)(0.2 + 1.5 * std::fabs(uniform()));
            mp[r] = r % 2 ? (float)(0.1 * std::fabs(uniform())) : 0.f;
            u[r] = std::fabs(uniform());
            if (trial == 0 && r == 3) u[r] = 0.9999999999;  // the walk's very end
        }
        emu::launch("sample_rows", sample_rows, dim3(rowsD), dim3(1024), ig.data(), lpp.data(), ci.data(), cl.data(), st.data(), sT.data(), d.data(),
                dl.data(), lg.data(), v, k.data(), t.data(), mode.data(), mp.data(), u.data(), maxK);
        for (int r = 0; r < rowsD; r++) {
            const float* row = &lg[r * v];
            float mx = *std::max_element(row, row + v);
            std::vector<double> prob(v);
            double total = 0;
            for (int i = 0; i < v; i++) {
                prob[i] = std::exp((double)((row[i] - mx) / t[r]));
                if (!(mp[r] > 0 && prob[i] < mp[r])) total += prob[i];
            }
            double target = u[r] * total, acc = 0;
            int want = -1, last = -1;
            for (int i = 0; i < v && want < 0; i++) {
                if (!(mp[r] > 0 && prob[i] < mp[r]) && prob[i] > 0) {
                    acc += prob[i];
                    last = i;
                    if (target < acc) want = i;
                }
            }
            if (want < 0) want = last;
            draws++;
            mismatched += d[r] != want || dl[r] != row[want];
        }
    }
    report("sample_rows: tokens drawn on the device (" + std::to_string(draws) + " draws, mismatches)", mismatched, 0);
}

#include <chrono>
template <typename F> static void timed(const char* what, F f) {
    auto t0 = std::chrono::steady_clock::now();
    long s0 = emu::switches;
    f();
    std::printf("     %s: %.1f s, %ld fiber switches\n", what, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
            emu::switches - s0);
}

int main() {
    timed("gemv", test_gemv);
    timed("gemv_swiglu", test_swiglu);
    timed("gemm", test_gemm);
    timed("attention", [] {
        test_attention<float>("paged_attention_f32", paged_attention_f32, false);
        test_attention<__nv_bfloat16>("paged_attention_bf16", paged_attention_bf16, true);
    });
    timed("rope + kv", [] {
        test_rope_kv<float>("rope_kv_write_f32", rope_kv_write_f32);
        test_rope_kv<__nv_bfloat16>("rope_kv_write_bf16", rope_kv_write_bf16);
    });
    timed("elementwise", test_elementwise);
    timed("sample", test_sample);
    std::printf("%d launches, %ld fiber switches; %d failed\n", (int)emu::launches, emu::switches, failures);
    return failures == 0 ? 0 : 1;
}
