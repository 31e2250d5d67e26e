// CPU stand-in for <cuda_fp16.h>: __half on _Float16 (IEEE binary16, round to nearest even).
#pragma once
#include "cuda_emu.h"
struct __half {
    _Float16 v;
    __half() = default;
    explicit __half(float f) : v((_Float16)f) {}
};
struct __half2 { __half x, y; };
inline __half __float2half(float f) { return __half(f); }
inline float __half2float(__half h) { return (float)h.v; }
inline float2 __half22float2(__half2 h) { return {(float)h.x.v, (float)h.y.v}; }
