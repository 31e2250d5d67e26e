// A CPU emulation of the small part of CUDA our kernels use, so that the kernels' own source runs
// on the CPU against float64 references (engine/src/test/cuda/kernels_test.cpp). Each thread of a
// block is a fiber (a stack switched by a few instructions on x86-64, ucontext elsewhere);
// __syncthreads and warp shuffles are barriers among them, scheduled
// deterministically; a barrier that not every live thread reaches is reported as a deadlock.
// Shared memory is a static local shared by the fibers of the block that runs (blocks run one at a
// time). WMMA fragments hold their whole tile in every lane. What this cannot show: the GPU's
// memory model, real fragment layouts, alignment faults, speed.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct uint3e { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
using std::max;
using std::min;
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
template <typename T> inline T __ldg(const T* p) { return *p; }

#if defined(__x86_64__)
// emu_switch(&save, next): saves the callee-saved registers on this stack and its pointer in save,
// then resumes the stack at next (System V x86-64 ABI).
extern "C" void emu_switch(void** save, void* next);
asm(R"(
.text
.globl emu_switch
.type emu_switch,@function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");
#endif

namespace emu {

enum Wait { RUNNING, BLOCK_BARRIER, WARP_BARRIER, DONE };

struct Fiber {
#if defined(__x86_64__)
    void* sp;
#else
    ucontext_t ctx;
#endif
    std::vector<char> stack;
    uint3e tid;
    int linear;
    Wait wait = RUNNING;
};

struct Block {
    std::vector<Fiber> fibers;
#if defined(__x86_64__)
    void* scheduler;
#else
    ucontext_t scheduler;
#endif
    std::function<void()> body;
    unsigned char slots[32][32][8];  // [warp][lane] shuffle exchange
};

inline Block* block = nullptr;
inline Fiber* current = nullptr;
inline uint3e block_idx, block_dim, grid_dim;
inline long launches = 0, switches = 0;

inline void to_scheduler() {
#if defined(__x86_64__)
    emu_switch(&current->sp, block->scheduler);
#else
    swapcontext(&current->ctx, &block->scheduler);
#endif
}

inline void yield(Wait w) {
    current->wait = w;
    switches++;
    to_scheduler();
}

inline void trampoline() {
    block->body();
    current->wait = DONE;
    to_scheduler();  // never resumed
}

inline void start(Fiber& f) {
#if defined(__x86_64__)
    // a stack that "returns" into trampoline with the alignment of a call: [top-8] a dummy return
    // address, [top-16] trampoline, then the six registers emu_switch pops
    uintptr_t top = ((uintptr_t)(f.stack.data() + f.stack.size())) & ~(uintptr_t)15;
    void** p = (void**)top;
    *--p = nullptr;
    *--p = (void*)&trampoline;
    for (int i = 0; i < 6; i++) *--p = nullptr;
    f.sp = p;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, trampoline, 0);
#endif
}

inline void resume(Block& b, Fiber& f) {
    current = &f;
#if defined(__x86_64__)
    emu_switch(&b.scheduler, f.sp);
#else
    swapcontext(&b.scheduler, &f.ctx);
#endif
}

// Runs one block to completion.
inline void run_block(Block& b, const char* name) {
    block = &b;
    int n = (int)b.fibers.size();
    for (auto& f : b.fibers) {
        f.wait = RUNNING;
        start(f);
    }
    // Warp by warp: a warp's lanes run until each waits; a completed warp barrier releases them at
    // once and the warp goes on, so a warp's shuffles cost no pass over the whole block. When every
    // live thread waits at __syncthreads, the block barrier releases.
    int warps = (n + 31) / 32;
    for (;;) {
        bool ran = false;
        for (int w = 0; w < warps; w++) {
            int lo = w * 32, hi = std::min(n, lo + 32);
            for (;;) {
                bool any = false;
                for (int l = lo; l < hi; l++) {
                    if (b.fibers[l].wait == RUNNING) {
                        resume(b, b.fibers[l]);
                        any = ran = true;
                    }
                }
                int live = 0, waiting = 0;
                for (int l = lo; l < hi; l++) {
                    live += b.fibers[l].wait != DONE;
                    waiting += b.fibers[l].wait == WARP_BARRIER;
                }
                if (waiting > 0 && waiting == live) {
                    for (int l = lo; l < hi; l++) b.fibers[l].wait = b.fibers[l].wait == WARP_BARRIER ? RUNNING : b.fibers[l].wait;
                    continue;
                }
                if (!any) break;
                if (waiting == 0) break;  // the rest wait at __syncthreads or are done
            }
        }
        int done = 0, atBlock = 0;
        for (auto& f : b.fibers) {
            done += f.wait == DONE;
            atBlock += f.wait == BLOCK_BARRIER;
        }
        if (done == n) return;
        if (atBlock > 0 && atBlock + done == n) {  // exited threads count as arrived
            for (auto& f : b.fibers) if (f.wait == BLOCK_BARRIER) f.wait = RUNNING;
            continue;
        }
        if (!ran) {
            std::fprintf(stderr, "DEADLOCK in %s block (%u,%u): %d done, %d at __syncthreads, the rest at a warp shuffle with lanes missing\n",
                    name, block_idx.x, block_idx.y, done, atBlock);
            std::exit(3);
        }
    }
}

// Launches kernel(args...) on grid x block, blocks one after another.
template <typename... P, typename... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 threads, A... args) {
    launches++;
    static Block b;
    int n = threads.x * threads.y * threads.z;
    if (n > 1024 || n <= 0) { std::fprintf(stderr, "%s: block of %d threads\n", name, n); std::exit(3); }
    if ((int)b.fibers.size() != n) {
        b.fibers.clear();
        b.fibers.resize(n);
        for (auto& f : b.fibers) f.stack.resize(32 * 1024);
    }
    for (int i = 0; i < n; i++) {
        b.fibers[i].linear = i;
        b.fibers[i].tid = {(unsigned)(i % threads.x), (unsigned)(i / threads.x % threads.y), (unsigned)(i / (threads.x * threads.y))};
    }
    block_dim = {threads.x, threads.y, threads.z};
    grid_dim = {grid.x, grid.y, grid.z};
    b.body = [=]() { kernel(static_cast<P>(args)...); };
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                block_idx = {x, y, z};
                run_block(b, name);
            }
}

template <typename T>
T shuffle_xor(T v, int offset) {
    static_assert(sizeof(T) <= 8, "shuffle of a value over 8 bytes");
    int lane = current->linear & 31, warp = current->linear >> 5;
    std::memcpy(block->slots[warp][lane], &v, sizeof(T));
    yield(WARP_BARRIER);  // every lane has written
    T r;
    std::memcpy(&r, block->slots[warp][lane ^ offset], sizeof(T));
    yield(WARP_BARRIER);  // every lane has read before the next write
    return r;
}

}  // namespace emu

#define threadIdx (emu::current->tid)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
inline void __syncthreads() { emu::yield(emu::BLOCK_BARRIER); }
template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int offset) {
    if (mask != 0xffffffffu) { std::fprintf(stderr, "partial shuffle masks are not emulated\n"); std::exit(3); }
    return emu::shuffle_xor(v, offset);
}
