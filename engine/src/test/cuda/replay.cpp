// Runs kernel launches sent by the emulated device (EmulatedDevice.java) on the CPU, over device
// memory shared with the JVM through a memory-mapped file. Commands on stdin, one per line:
//   launch NAME GX GY THREADS ARGS...   each arg p:OFFSET (p:-1 for null), i:INT, l:LONG, f:FLOATBITS(hex)
//   sync                                answered by "ok" once every launch before it has run
//   quit
// A launch whose arguments do not match the kernel's parameters is an error (exit 2).
#include "cuda_emu.h"

#include "../../main/cuda/attention.cu"
#include "../../main/cuda/elementwise.cu"
#include "../../main/cuda/gemm.cu"
#include "../../main/cuda/gemv.cu"
#include "../../main/cuda/sample.cu"

#include <chrono>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>
#include <utility>

static char* base = nullptr;
static size_t size = 0;

struct Arg {
    char type;
    long long value;
};

[[noreturn]] static void fail(const std::string& what) {
    std::printf("error %s\n", what.c_str());
    std::fflush(stdout);
    std::exit(2);
}

template <typename T>
static T convert(const Arg& a, const char* kernel, size_t i) {
    std::string where = std::string(kernel) + " argument " + std::to_string(i);
    if constexpr (std::is_pointer_v<T>) {
        if (a.type != 'p') fail(where + ": a pointer was expected, got type " + a.type);
        if (a.value < 0) return nullptr;
        if ((size_t)a.value >= size) fail(where + ": offset " + std::to_string(a.value) + " is outside the device memory");
        return reinterpret_cast<T>(base + a.value);
    } else if constexpr (std::is_same_v<T, float>) {
        if (a.type != 'f') fail(where + ": a float was expected, got type " + a.type);
        uint32_t bits = (uint32_t)a.value;
        float f;
        std::memcpy(&f, &bits, 4);
        return f;
    } else if constexpr (std::is_same_v<T, long>) {
        if (a.type != 'l') fail(where + ": a long was expected, got type " + a.type);
        return (long)a.value;
    } else {
        static_assert(std::is_same_v<T, int>, "kernel parameter type");
        if (a.type != 'i') fail(where + ": an int was expected, got type " + a.type);
        return (int)a.value;
    }
}

using Invoker = std::function<void(dim3, dim3, const std::vector<Arg>&)>;

template <typename... P, size_t... I>
static void call(const char* name, void (*k)(P...), dim3 g, dim3 b, const std::vector<Arg>& a, std::index_sequence<I...>) {
    emu::launch(name, k, g, b, convert<P>(a[I], name, I)...);
}

template <typename... P>
static Invoker invoker(const char* name, void (*k)(P...)) {
    return [name, k](dim3 g, dim3 b, const std::vector<Arg>& a) {
        if (a.size() != sizeof...(P)) fail(std::string(name) + ": " + std::to_string(a.size()) + " arguments for " + std::to_string(sizeof...(P)) + " parameters");
        call(name, k, g, b, a, std::index_sequence_for<P...>{});
    };
}

#define K(name) {#name, invoker(#name, name)}

int main(int argc, char** argv) {
    if (argc != 2) fail("usage: replay MEMORY_FILE");
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) fail(std::string("cannot open ") + argv[1]);
    struct stat st;
    fstat(fd, &st);
    size = (size_t)st.st_size;
    base = (char*)mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) fail("mmap failed");
    std::map<std::string, Invoker> kernels = {
            K(embed_f32), K(embed_bf16), K(embed_f16), K(embed_q8), K(rms_norm), K(layer_norm), K(rope_kv_write_f32), K(rope_kv_write_bf16),
            K(silu_mul), K(gelu), K(gemv_f32_1), K(gemv_f32_2), K(gemv_f32_4), K(gemv_f32_8), K(gemv_bf16_1), K(gemv_bf16_2), K(gemv_bf16_4),
            K(gemv_bf16_8), K(gemv_f16_1), K(gemv_f16_2), K(gemv_f16_4), K(gemv_f16_8), K(gemv_q8_1), K(gemv_q8_2), K(gemv_q8_4), K(gemv_q8_8),
            K(gemv_swiglu_f32_1), K(gemv_swiglu_f32_2), K(gemv_swiglu_f32_4), K(gemv_swiglu_f32_8), K(gemv_swiglu_bf16_1), K(gemv_swiglu_bf16_2),
            K(gemv_swiglu_bf16_4), K(gemv_swiglu_bf16_8), K(gemv_swiglu_f16_1), K(gemv_swiglu_f16_2), K(gemv_swiglu_f16_4), K(gemv_swiglu_f16_8),
            K(gemv_swiglu_q8_1), K(gemv_swiglu_q8_2), K(gemv_swiglu_q8_4), K(gemv_swiglu_q8_8),
            K(gemm_f32), K(gemm_bf16), K(gemm_f16), K(gemm_q8), K(paged_attention_f32), K(paged_attention_bf16), K(sample_rows), K(lowrank_add)};
    std::map<std::string, double> seconds;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        if (cmd == "quit") break;
        if (cmd == "sync") {
            std::printf("ok\n");
            std::fflush(stdout);
            continue;
        }
        if (cmd != "launch") fail("unknown command " + cmd);
        std::string name;
        unsigned gx, gy, threads;
        in >> name >> gx >> gy >> threads;
        auto k = kernels.find(name);
        if (k == kernels.end()) fail("no kernel " + name);
        std::vector<Arg> args;
        std::string tok;
        while (in >> tok) {
            if (tok.size() < 3 || tok[1] != ':') fail("bad argument " + tok);
            Arg a{tok[0], 0};
            a.value = a.type == 'f' ? (long long)std::stoul(tok.substr(2), nullptr, 16) : std::stoll(tok.substr(2));
            args.push_back(a);
        }
        auto t0 = std::chrono::steady_clock::now();
        k->second(dim3(gx, gy), dim3(threads), args);
        seconds[name] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    if (std::getenv("REPLAY_STATS")) {
        for (auto& [name, t] : seconds) std::fprintf(stderr, "replay %-24s %.2f s\n", name.c_str(), t);
    }
    munmap(base, size);
    return 0;
}
