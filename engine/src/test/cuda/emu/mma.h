// CPU stand-in for <mma.h> (WMMA): every lane's fragment holds the whole 16x16 tile; load, mma and
// store compute the same full result in each lane (the same values, written by every lane).
#pragma once
#include "cuda_bf16.h"
#include "cuda_fp16.h"
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
inline float to_float(float v) { return v; }
inline float to_float(__half v) { return __half2float(v); }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment { float x[16][16]; };
template <typename Use, int M, int N, int K, typename T, typename Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
    for (auto& r : f.x) for (auto& e : r) e = v;
}
template <int M, int N, int K, typename T>
void load_matrix_sync(fragment<matrix_a, M, N, K, T, row_major>& f, const T* p, unsigned ldm) {
    for (int i = 0; i < 16; i++) for (int k = 0; k < 16; k++) f.x[i][k] = to_float(p[i * ldm + k]);
}
template <int M, int N, int K, typename T>
void load_matrix_sync(fragment<matrix_b, M, N, K, T, col_major>& f, const T* p, unsigned ldm) {
    for (int k = 0; k < 16; k++) for (int j = 0; j < 16; j++) f.x[k][j] = to_float(p[j * ldm + k]);
}
template <int M, int N, int K, typename T, typename A, typename B>
void mma_sync(fragment<accumulator, M, N, K, float, void>& d, const fragment<matrix_a, M, N, K, T, A>& a,
        const fragment<matrix_b, M, N, K, T, B>& b, const fragment<accumulator, M, N, K, float, void>& c) {
    float r[16][16];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float s = c.x[i][j];
            for (int k = 0; k < 16; k++) s += a.x[i][k] * b.x[k][j];
            r[i][j] = s;
        }
    std::memcpy(d.x, r, sizeof r);
}
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float, void>& f, unsigned ldm, layout_t layout) {
    for (int i = 0; i < 16; i++) for (int j = 0; j < 16; j++) p[layout == mem_row_major ? i * ldm + j : j * ldm + i] = f.x[i][j];
}
}  // namespace wmma
}  // namespace nvcuda
