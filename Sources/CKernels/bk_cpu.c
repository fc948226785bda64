// The CPU's instruction-set level, detected once, and the cap tests and benchmarks put on it (bk_cpu.h).
#include "bk_cpu.h"
#include <stdatomic.h>

static _Atomic int simd_limit = BK_SIMD_AVX512_VNNI;

static int cpu_level(void) {
    static _Atomic int cached = -1;
    int level = atomic_load_explicit(&cached, memory_order_relaxed);
    if (level < 0) {
        level = BK_SIMD_NONE;
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
            level = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")
                        ? BK_SIMD_AVX512_VNNI
                        : BK_SIMD_AVX2;
        }
#endif
        atomic_store_explicit(&cached, level, memory_order_relaxed);
    }
    return level;
}

int bk_simd_level(void) {
    int cpu = cpu_level(), limit = atomic_load_explicit(&simd_limit, memory_order_relaxed);
    return cpu < limit ? cpu : limit;
}

void bk_set_simd_limit(int level) { atomic_store_explicit(&simd_limit, level, memory_order_relaxed); }
