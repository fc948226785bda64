#include "bk_convert.h"
#include "bk_cpu.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float bk_f16_to_f32_scalar(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));  // Inf / NaN (payload kept)
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        // subnormal: value = man * 2^-24, exact in f32
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t bk_f32_to_f16_scalar(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // Inf or NaN
        if (ax == 0x7f800000u) return (uint16_t)(sign | 0x7c00);
        uint32_t m = (ax >> 13) & 0x3ff;
        return (uint16_t)(sign | 0x7c00 | (m ? m : 0x200));  // keep NaN a NaN
    }
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  // rounds to >= 65520: overflow to Inf
    if (ax < 0x38800000u) {                                    // below the smallest normal f16 (2^-14)
        if (ax < 0x33000000u) return (uint16_t)sign;           // < 2^-25: rounds to zero (2^-25 itself ties to even 0)
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - 1 ... result = m >> (126 - e + 0)
        // value = m * 2^(e-150); f16 subnormal unit = 2^-24 -> q = m * 2^(e-126) = m >> (126 - e)
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax + 0x0fff + ((ax >> 13) & 1);  // round to nearest even at bit 13
    r -= 0x38000000u;                               // rebias exponent 127 -> 15
    return (uint16_t)(sign | (r >> 13));
}

float bk_bf16_to_f32_scalar(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t bk_f32_to_bf16_scalar(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);  // NaN: force quiet
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

void bk_f16_to_f32_ref(const uint16_t *src, float *dst, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = bk_f16_to_f32_scalar(src[i]); }
void bk_f32_to_f16_ref(const float *src, uint16_t *dst, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = bk_f32_to_f16_scalar(src[i]); }
void bk_bf16_to_f32_ref(const uint16_t *src, float *dst, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = bk_bf16_to_f32_scalar(src[i]); }
void bk_f32_to_bf16_ref(const float *src, uint16_t *dst, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = bk_f32_to_bf16_scalar(src[i]); }

#if defined(__x86_64__)
__attribute__((target("avx2,f16c")))
static void f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    bk_f16_to_f32_ref(src + i, dst + i, n - i);
}

__attribute__((target("avx2,f16c")))
static void f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    bk_f32_to_f16_ref(src + i, dst + i, n - i);
}

__attribute__((target("avx2")))
static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    bk_bf16_to_f32_ref(src + i, dst + i, n - i);
}

__attribute__((target("avx2")))
static void f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i quiet = _mm256_set1_epi32(64);
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), 16);
        __m256i nanv = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
        __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
        __m256i r = _mm256_blendv_epi8(rounded, nanv, isnan);
        // pack 8 x u32 (each < 65536) to 8 x u16
        __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
        _mm_storeu_si128((__m128i *)(dst + i), _mm_packus_epi32(lo, hi));
    }
    bk_f32_to_bf16_ref(src + i, dst + i, n - i);
}
#endif

void bk_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (bk_simd_level() >= BK_SIMD_AVX2) { f16_to_f32_f16c(src, dst, n); return; }
#endif
    bk_f16_to_f32_ref(src, dst, n);
}
void bk_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    if (bk_simd_level() >= BK_SIMD_AVX2) { f32_to_f16_f16c(src, dst, n); return; }
#endif
    bk_f32_to_f16_ref(src, dst, n);
}
void bk_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (bk_simd_level() >= BK_SIMD_AVX2) { bf16_to_f32_avx2(src, dst, n); return; }
#endif
    bk_bf16_to_f32_ref(src, dst, n);
}
void bk_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    if (bk_simd_level() >= BK_SIMD_AVX2) { f32_to_bf16_avx2(src, dst, n); return; }
#endif
    bk_f32_to_bf16_ref(src, dst, n);
}
