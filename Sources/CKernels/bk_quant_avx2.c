// AVX2/FMA/F16C block quantizers: the same bytes as the *_ref loops in bk_quant.c (tests compare them on random
// and edge rows). Only called when bk_simd_level() >= BK_SIMD_AVX2.
#include "bk_quant_internal.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

#define BK_AVX2 __attribute__((target("avx2,fma,f16c")))

BK_AVX2 static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

BK_AVX2 static inline float hmin8(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}

// One bit per element of the 32-element block, set where the lane of m is set.
BK_AVX2 static inline uint32_t block_bits(__m256 m0, __m256 m1, __m256 m2, __m256 m3) {
    return (uint32_t)_mm256_movemask_ps(m0) | (uint32_t)_mm256_movemask_ps(m1) << 8 |
           (uint32_t)_mm256_movemask_ps(m2) << 16 | (uint32_t)_mm256_movemask_ps(m3) << 24;
}

BK_AVX2 static inline uint32_t block_nan_bits(const __m256 v[4]) {
    return block_bits(_mm256_cmp_ps(v[0], v[0], _CMP_UNORD_Q), _mm256_cmp_ps(v[1], v[1], _CMP_UNORD_Q),
                      _mm256_cmp_ps(v[2], v[2], _CMP_UNORD_Q), _mm256_cmp_ps(v[3], v[3], _CMP_UNORD_Q));
}

BK_AVX2 static inline uint32_t block_eq_bits(const __m256 v[4], float s) {
    const __m256 vs = _mm256_set1_ps(s);
    return block_bits(_mm256_cmp_ps(v[0], vs, _CMP_EQ_OQ), _mm256_cmp_ps(v[1], vs, _CMP_EQ_OQ),
                      _mm256_cmp_ps(v[2], vs, _CMP_EQ_OQ), _mm256_cmp_ps(v[3], vs, _CMP_EQ_OQ));
}

// C roundf: truncate, then step away from zero when the dropped fraction is >= 0.5 (p - trunc(p) is exact).
BK_AVX2 static inline __m256 round_half_away(__m256 p) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(p, t));
    const __m256 step = _mm256_or_ps(_mm256_and_ps(p, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

// Truncated, clamped to 0...15; cvttps2dq gives INT32_MIN for NaN/Inf/out of range, which the clamp makes 0.
BK_AVX2 static inline __m256i nibbles(__m256 v) {
    const __m256i q = _mm256_max_epi32(_mm256_cvttps_epi32(v), _mm256_setzero_si256());
    return _mm256_min_epi32(q, _mm256_set1_epi32(15));
}

// q[0..31] (each 0...15, 8 per vector in element order) -> 16 bytes, element j low nibble, j+16 high nibble.
BK_AVX2 static inline void store_nibbles(uint8_t *dst, __m256i q0, __m256i q1, __m256i q2, __m256i q3) {
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_packus_epi32(q0, q1), 0xD8);  // u16 elements 0..15
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_packus_epi32(q2, q3), 0xD8);  // u16 elements 16..31
    const __m256i both = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
    _mm_storeu_si128((__m128i *)dst,
                     _mm_packus_epi16(_mm256_castsi256_si128(both), _mm256_extracti128_si256(both, 1)));
}

BK_AVX2 static inline uint16_t to_half(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

BK_AVX2 static inline void load_block(const float *x, __m256 v[4]) {
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
}

BK_AVX2 void bk_quantize_row_q8_0_avx2(const float *x, void *vy, size_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 limit = _mm256_set1_ps(127.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q8_0)) {
        __m256 v[4];
        load_block(x, v);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                       _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        float amax = hmax8(m);
        const uint32_t nan = block_nan_bits(v);
        if (nan) amax = fabsf(x[__builtin_ctz(nan)]);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        bk_store_half(y, to_half(d));
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            const __m256 r = round_half_away(_mm256_mul_ps(v[i], vid));
            const __m256 ok = _mm256_cmp_ps(_mm256_andnot_ps(sign, r), limit, _CMP_LE_OQ);  // NaN/Inf -> 0
            q[i] = _mm256_cvtps_epi32(_mm256_and_ps(r, ok));
        }
        const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)(y + 2), _mm256_permutevar8x32_epi32(packed, order));
    }
}

BK_AVX2 void bk_quantize_row_q4_0_avx2(const float *x, void *vy, size_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 bias = _mm256_set1_ps(8.5f);
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q4_0)) {
        __m256 v[4], a[4];
        load_block(x, v);
        for (int i = 0; i < 4; i++) a[i] = _mm256_andnot_ps(sign, v[i]);
        // The first element of largest |x| (a NaN first of all), as numpy's argmax.
        const uint32_t nan = block_nan_bits(v);
        uint32_t at = nan;
        if (!nan) at = block_eq_bits(a, hmax8(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]))));
        const float d = x[__builtin_ctz(at)] / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        bk_store_half(y, to_half(d));
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = nibbles(_mm256_add_ps(_mm256_mul_ps(v[i], vid), bias));
        store_nibbles(y + 2, q[0], q[1], q[2], q[3]);
    }
}

BK_AVX2 void bk_quantize_row_q4_1_avx2(const float *x, void *vy, size_t k) {
    const __m256 half = _mm256_set1_ps(0.5f);
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q4_1)) {
        __m256 v[4];
        load_block(x, v);
        float min = hmin8(_mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3])));
        float max = hmax8(_mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3])));
        if (block_nan_bits(v)) {
            min = max = NAN;
        } else {
            // A zero min or max takes the sign of the block's first zero (the ref's first-wins scan).
            if (min == 0.0f) min = x[__builtin_ctz(block_eq_bits(v, 0.0f))];
            if (max == 0.0f) max = x[__builtin_ctz(block_eq_bits(v, 0.0f))];
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        bk_store_half(y, to_half(d));
        bk_store_half(y + 2, to_half(min));
        const __m256 vid = _mm256_set1_ps(id), vmin = _mm256_set1_ps(min);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = nibbles(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[i], vmin), vid), half));
        store_nibbles(y + 4, q[0], q[1], q[2], q[3]);
    }
}

BK_AVX2 void bk_dequantize_row_q8_0_avx2(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q8_0), y += BK_QK) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(bk_load_half(x)));
        for (int i = 0; i < 4; i++) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + 2 + 8 * i)));
            _mm256_storeu_ps(y + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

// 16 packed bytes -> the 32 quants of a 4-bit block in element order, as 4 x 8 int32.
BK_AVX2 static inline void load_nibbles(const uint8_t *qs, __m256i q[4]) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(bytes, mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    q[0] = _mm256_cvtepu8_epi32(lo);
    q[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
    q[2] = _mm256_cvtepu8_epi32(hi);
    q[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
}

BK_AVX2 void bk_dequantize_row_q4_0_avx2(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    const __m256i eight = _mm256_set1_epi32(8);
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q4_0), y += BK_QK) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(bk_load_half(x)));
        __m256i q[4];
        load_nibbles(x + 2, q);
        for (int i = 0; i < 4; i++)
            _mm256_storeu_ps(y + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[i], eight)), d));
    }
}

BK_AVX2 void bk_dequantize_row_q4_1_avx2(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q4_1), y += BK_QK) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(bk_load_half(x)));
        const __m256 m = _mm256_set1_ps(_cvtsh_ss(bk_load_half(x + 2)));
        __m256i q[4];
        load_nibbles(x + 4, q);
        for (int i = 0; i < 4; i++)
            _mm256_storeu_ps(y + 8 * i, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q[i]), d), m));
    }
}

BK_AVX2 static inline double hsum4d(__m256d v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

BK_AVX2 static inline double hmax4d(__m256d v) {
    const __m128d m = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(m, _mm_unpackhi_pd(m, m)));
}

BK_AVX2 void bk_quant_error_accumulate_avx2(const float *x, const float *y, size_t n, bk_quant_error *acc) {
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    const __m256d signd = _mm256_set1_pd(-0.0);
    __m256d err[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()}, ref[2] = {err[0], err[1]}, mx[2] = {err[0], err[1]};
    uint64_t nonfinite = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vx = _mm256_loadu_ps(x + i), vy = _mm256_loadu_ps(y + i);
        const __m256 finite = _mm256_and_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, vx), inf, _CMP_LT_OQ),
                                            _mm256_cmp_ps(_mm256_andnot_ps(sign, vy), inf, _CMP_LT_OQ));
        nonfinite += 8 - (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_ps(finite));
        vx = _mm256_and_ps(vx, finite);
        vy = _mm256_and_ps(vy, finite);
        const __m256d xs[2] = {_mm256_cvtps_pd(_mm256_castps256_ps128(vx)), _mm256_cvtps_pd(_mm256_extractf128_ps(vx, 1))};
        const __m256d ys[2] = {_mm256_cvtps_pd(_mm256_castps256_ps128(vy)), _mm256_cvtps_pd(_mm256_extractf128_ps(vy, 1))};
        for (int h = 0; h < 2; h++) {
            const __m256d e = _mm256_sub_pd(xs[h], ys[h]);
            err[h] = _mm256_fmadd_pd(e, e, err[h]);
            ref[h] = _mm256_fmadd_pd(xs[h], xs[h], ref[h]);
            mx[h] = _mm256_max_pd(mx[h], _mm256_andnot_pd(signd, e));
        }
    }
    acc->sum_sq_err += hsum4d(_mm256_add_pd(err[0], err[1]));
    acc->sum_sq_ref += hsum4d(_mm256_add_pd(ref[0], ref[1]));
    const double m = hmax4d(_mm256_max_pd(mx[0], mx[1]));
    if (m > acc->max_abs) acc->max_abs = m;
    acc->nonfinite += nonfinite;
    acc->count += i - nonfinite;
    bk_quant_error_accumulate_ref(x + i, y + i, n - i, acc);
}

#endif
