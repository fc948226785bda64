#include "bk_planes.h"
#include "bk_cpu.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// An element's two high bytes from its planes: lo = bit 0 of e, then bits 6…0 of m; hi = m's sign, then e's 7 high
// bits.
static inline uint8_t join_lo(uint8_t e, uint8_t m) { return (uint8_t)(e << 7 | (m & 0x7F)); }
static inline uint8_t join_hi(uint8_t e, uint8_t m) { return (uint8_t)((m & 0x80) | e >> 1); }

void bk_join_planes2_ref(const uint8_t *e, const uint8_t *m, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = join_lo(e[i], m[i]);
        out[2 * i + 1] = join_hi(e[i], m[i]);
    }
}

void bk_join_planes4_ref(const uint8_t *e, const uint8_t *m, const uint8_t *b1, const uint8_t *b0, uint8_t *out,
                         size_t n) {
    for (size_t i = 0; i < n; i++) {
        out[4 * i] = b0[i];
        out[4 * i + 1] = b1[i];
        out[4 * i + 2] = join_lo(e[i], m[i]);
        out[4 * i + 3] = join_hi(e[i], m[i]);
    }
}

#if defined(__x86_64__)
// 32 elements' lo and hi bytes (16-bit shifts stay inside each byte: the masks drop what crosses).
__attribute__((target("avx2")))
static inline void join_bytes_avx2(__m256i e, __m256i m, __m256i *lo, __m256i *hi) {
    const __m256i low7 = _mm256_set1_epi8(0x7F), sign = _mm256_set1_epi8((char)0x80), one = _mm256_set1_epi8(1);
    *lo = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(e, one), 7), _mm256_and_si256(m, low7));
    *hi = _mm256_or_si256(_mm256_and_si256(m, sign), _mm256_and_si256(_mm256_srli_epi16(e, 1), low7));
}

__attribute__((target("avx2")))
static void join_planes2_avx2(const uint8_t *e, const uint8_t *m, uint8_t *out, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i lo, hi;
        join_bytes_avx2(_mm256_loadu_si256((const __m256i *)(e + i)), _mm256_loadu_si256((const __m256i *)(m + i)),
                        &lo, &hi);
        // unpack works per 128-bit lane: a = elements 0-7 | 16-23, b = 8-15 | 24-31.
        __m256i a = _mm256_unpacklo_epi8(lo, hi), b = _mm256_unpackhi_epi8(lo, hi);
        _mm256_storeu_si256((__m256i *)(out + 2 * i), _mm256_permute2x128_si256(a, b, 0x20));
        _mm256_storeu_si256((__m256i *)(out + 2 * i + 32), _mm256_permute2x128_si256(a, b, 0x31));
    }
    bk_join_planes2_ref(e + i, m + i, out + 2 * i, n - i);
}

__attribute__((target("avx2")))
static void join_planes4_avx2(const uint8_t *e, const uint8_t *m, const uint8_t *b1, const uint8_t *b0,
                              uint8_t *out, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i lo, hi;
        join_bytes_avx2(_mm256_loadu_si256((const __m256i *)(e + i)), _mm256_loadu_si256((const __m256i *)(m + i)),
                        &lo, &hi);
        __m256i p0 = _mm256_loadu_si256((const __m256i *)(b0 + i)), p1 = _mm256_loadu_si256((const __m256i *)(b1 + i));
        __m256i xl = _mm256_unpacklo_epi8(p0, p1), xh = _mm256_unpackhi_epi8(p0, p1);  // bytes 0, 1
        __m256i yl = _mm256_unpacklo_epi8(lo, hi), yh = _mm256_unpackhi_epi8(lo, hi);  // bytes 2, 3
        // Per lane: q0 = elements 0-3 | 16-19, q1 = 4-7 | 20-23, q2 = 8-11 | 24-27, q3 = 12-15 | 28-31.
        __m256i q0 = _mm256_unpacklo_epi16(xl, yl), q1 = _mm256_unpackhi_epi16(xl, yl);
        __m256i q2 = _mm256_unpacklo_epi16(xh, yh), q3 = _mm256_unpackhi_epi16(xh, yh);
        uint8_t *o = out + 4 * i;
        _mm256_storeu_si256((__m256i *)o, _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256((__m256i *)(o + 32), _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256((__m256i *)(o + 64), _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256((__m256i *)(o + 96), _mm256_permute2x128_si256(q2, q3, 0x31));
    }
    bk_join_planes4_ref(e + i, m + i, b1 + i, b0 + i, out + 4 * i, n - i);
}
#endif

void bk_join_planes2(const uint8_t *e, const uint8_t *m, uint8_t *out, size_t n) {
#if defined(__x86_64__)
    if (bk_simd_level() >= BK_SIMD_AVX2) { join_planes2_avx2(e, m, out, n); return; }
#endif
    bk_join_planes2_ref(e, m, out, n);
}

void bk_join_planes4(const uint8_t *e, const uint8_t *m, const uint8_t *b1, const uint8_t *b0, uint8_t *out,
                     size_t n) {
#if defined(__x86_64__)
    if (bk_simd_level() >= BK_SIMD_AVX2) { join_planes4_avx2(e, m, b1, b0, out, n); return; }
#endif
    bk_join_planes4_ref(e, m, b1, b0, out, n);
}
