// An 8×8 transpose of 32-bit lanes, shared by the K-quant searches (bk_quant_k_avx2.c) and the 8-bit panel repacking
// (bk_matmul_gemm8.c). x86-64 only; callers are AVX2 functions.
#ifndef BLOOMKIT_TRANSPOSE_H
#define BLOOMKIT_TRANSPOSE_H
#if defined(__x86_64__)
#include <immintrin.h>

/// In place: lane i of r[j] becomes lane j of r[i].
__attribute__((target("avx2"))) static inline void bk_transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        r[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
    }
}
#endif
#endif
