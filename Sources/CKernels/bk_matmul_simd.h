// Private helpers shared by the bk_matmul*.c files: the 8-lane reduction and the AVX2 loads.
#ifndef BLOOMKIT_MATMUL_SIMD_H
#define BLOOMKIT_MATMUL_SIMD_H
#include "bk_convert.h"
#include "bk_matmul.h"
#include "bk_quant.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define BK_X86 1
#define BK_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define BK_X86 0
#endif
#define BK_INLINE static inline __attribute__((always_inline))

_Static_assert(sizeof(bk_block_q8x) == 44, "activation block is 44 bytes");

/// The reduction every 8-lane sum uses: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
BK_INLINE float bk_hsum8_ref(const float l[8]) {
    float t0 = l[0] + l[4], t1 = l[1] + l[5], t2 = l[2] + l[6], t3 = l[3] + l[7];
    float u0 = t0 + t2, u1 = t1 + t3;
    return u0 + u1;
}

BK_INLINE int bk_is_block_type(int32_t type) {  // Q8_0, Q4_0, Q4_1
    return type == BK_TYPE_Q8_0 || type == BK_TYPE_Q4_0 || type == BK_TYPE_Q4_1;
}

/// Element i of a float-type row as f32.
BK_INLINE float bk_float_at(int32_t type, const void *row, int64_t i) {
    switch (type) {
    case BK_TYPE_F16: return bk_f16_to_f32_scalar(((const uint16_t *)row)[i]);
    case BK_TYPE_BF16: return bk_bf16_to_f32_scalar(((const uint16_t *)row)[i]);
    default: return ((const float *)row)[i];
    }
}

#if BK_X86
BK_AVX2 BK_INLINE float bk_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // t0..t3
    __m128 u = _mm_add_ps(s, _mm_movehl_ps(s, s));                                 // u0, u1
    return _mm_cvtss_f32(_mm_add_ss(u, _mm_movehdup_ps(u)));
}

/// 8 elements of a float-type row from element i, as f32.
BK_AVX2 BK_INLINE __m256 bk_load8(int32_t type, const void *row, int64_t i) {
    switch (type) {
    case BK_TYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    case BK_TYPE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i))), 16));
    default: return _mm256_loadu_ps((const float *)row + i);
    }
}

/// The 8-lane f32 dot product (bk_dot_f32_ref's shape).
BK_AVX2 BK_INLINE float bk_dot8_avx2(const float *a, const float *b, int64_t k) {
    __m256 acc = _mm256_setzero_ps();
    int64_t k8 = k & ~(int64_t)7;
    for (int64_t i = 0; i < k8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float s = bk_hsum256(acc);
    for (int64_t i = k8; i < k; i++) s = __builtin_fmaf(a[i], b[i], s);
    return s;
}

BK_AVX2 BK_INLINE float bk_half(uint16_t h) { return _cvtsh_ss(h); }
#endif

#endif
