// K-quant products (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights against block_q8_K activations), as ggml's
// ggml_vec_dot_q*_K_q8_K compute them: exact integer sums per 256-value super-block, then scaled in f32.
//
// Every type is first read into one shape: 256 unsigned quants u (0…63), a signed scale sc_g and (Q2_K, Q4_K, Q5_K)
// a minimum mn_g for each group g of 16 values (Q4_K and Q5_K repeat their 32-value scales), the offset z of the
// stored quants (Q3_K 4, Q6_K 32, else 0) and the f32 super-block scales d, dmin. With the activations' q, d_x and
// bsums B_g (Σ of each 16 q):
//   isum = Σ_g sc_g·(Σ_{i∈g} u_i·q_i − z·B_g),  msum = Σ_g mn_g·B_g   (int32, exact in every path)
//   acc = fmaf(d·d_x, (float)isum, acc);  acc = fmaf(dmin·d_x, (float)(−msum), acc)  (types with minimums)
// for super-blocks in order from acc = 0. The SIMD path computes the same integers (maddubs of u and q, madd with
// the scales) and the same two f32 operations, so it equals the scalar twin bit for bit.
#pragma STDC FP_CONTRACT OFF
#include "bk_matmul_simd.h"
#include <math.h>

// ---- activations: block_q8_K ---------------------------------------------------------------------------------------

static void bsums_q8K(block_q8_K *y) {
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += y->qs[16 * g + j];
        y->bsums[g] = (int16_t)sum;
    }
}

void bk_quantize_q8K_ref(const float *x, block_q8_K *y, int64_t k) {
    for (int64_t b = 0; b < k / 256; b++, y++) {
        const float *v = x + b * 256;
        float amax = 0, max = 0;
        for (int j = 0; j < 256; j++)
            if (fabsf(v[j]) > amax) amax = fabsf(v[j]), max = v[j];
        if (amax == 0) {
            memset(y, 0, sizeof(*y));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < 256; j++) {
            float r = nearbyintf(iscale * v[j]);
            y->qs[j] = (int8_t)(r >= -128.0f && r <= 127.0f ? (int)r : r > 127.0f ? 127 : -128);  // NaN: -128
        }
        bsums_q8K(y);
        y->d = 1 / iscale;
    }
}

#if BK_X86
BK_AVX2 BK_INLINE __m256i rounded(__m256 v, __m256 scale) {  // RNE(v·scale) as int32
    return _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

BK_AVX2 static void quantize_q8K_avx2(const float *x, block_q8_K *y, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 256; b++, y++) {
        const float *v = x + b * 256;
        __m256 mx = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8)  // NaN: skipped (maxps returns its second operand)
            mx = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + j)), mx);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (amax == 0) {
            memset(y, 0, sizeof(*y));
            continue;
        }
        float max = 0;
        for (int j = 0; j < 256; j++)
            if (fabsf(v[j]) == amax) { max = v[j]; break; }  // the first of largest |x|, as the twin's strict >
        const float iscale = -127.0f / max;
        const __m256 vis = _mm256_set1_ps(iscale);
        for (int j = 0; j < 256; j += 32) {
            __m256i i0 = rounded(_mm256_loadu_ps(v + j), vis), i1 = rounded(_mm256_loadu_ps(v + j + 8), vis);
            __m256i i2 = rounded(_mm256_loadu_ps(v + j + 16), vis), i3 = rounded(_mm256_loadu_ps(v + j + 24), vis);
            // saturating packs: NaN (0x80000000) becomes -128; packs interleave lanes, the permute restores the order
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y->qs + j), p);
        }
        bsums_q8K(y);
        y->d = 1 / iscale;
    }
}
#endif

void bk_quantize_q8K(const float *x, block_q8_K *y, int64_t k) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { quantize_q8K_avx2(x, y, k); return; }
#endif
    bk_quantize_q8K_ref(x, y, k);
}

// ---- super-blocks in one shape -------------------------------------------------------------------------------------

typedef struct {
    uint8_t u[256];
    int16_t sc[16], mn[16];
    float d, dmin;
} kblock;

BK_INLINE int k_zero(int32_t type) { return type == BK_TYPE_Q3_K ? 4 : type == BK_TYPE_Q6_K ? 32 : 0; }
BK_INLINE int k_has_min(int32_t type) { return type == BK_TYPE_Q2_K || type == BK_TYPE_Q4_K || type == BK_TYPE_Q5_K; }
BK_INLINE size_t k_block_bytes(int32_t type) {
    switch (type) {
    case BK_TYPE_Q2_K: return sizeof(block_q2_K);
    case BK_TYPE_Q3_K: return sizeof(block_q3_K);
    case BK_TYPE_Q4_K: return sizeof(block_q4_K);
    case BK_TYPE_Q5_K: return sizeof(block_q5_K);
    default: return sizeof(block_q6_K);
    }
}

// Q4_K and Q5_K: 8 scales and 8 minimums of 6 bits in 12 bytes (ggml's get_scale_min_k4): j < 4 in the low 6 bits
// of bytes j (scale) and j+4 (min); j ≥ 4 in the nibbles of byte j+4, with their top 2 bits in bytes j-4 and j.
BK_INLINE void k4_scales(const uint8_t s[12], int16_t sc[8], int16_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (int16_t)((s[j + 4] & 15) | (s[j - 4] >> 6) << 4);
        mn[j] = (int16_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

// Q3_K: 16 scales of 6 bits, stored with 32 added: low 4 bits in the nibbles of bytes 0…7 (scale g: byte g % 8,
// high nibble for g ≥ 8), high 2 bits in bytes 8…11 (scale g: byte 8 + g % 4, bits 2·(g / 4)).
BK_INLINE void k3_scales(const uint8_t s[12], int16_t sc[16]) {
    for (int g = 0; g < 16; g++) {
        int low = g < 8 ? s[g] & 15 : s[g - 8] >> 4;
        int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        sc[g] = (int16_t)((low | high << 4) - 32);
    }
}

// The layouts of ggml's dequantize_row_q*_K: u_i for i = 128·n + 32·j + l (n half, j quarter, l < 32).
static void unpack_k_ref(int32_t type, const void *row, int64_t b, kblock *o) {
    memset(o->mn, 0, sizeof(o->mn));
    o->dmin = 0;
    switch (type) {
    case BK_TYPE_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)row + b;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) o->u[128 * n + 32 * j + l] = (x->qs[32 * n + l] >> (2 * j)) & 3;
        for (int g = 0; g < 16; g++) o->sc[g] = x->scales[g] & 15, o->mn[g] = x->scales[g] >> 4;
        o->d = bk_f16_to_f32_scalar(x->d), o->dmin = bk_f16_to_f32_scalar(x->dmin);
        return;
    }
    case BK_TYPE_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)row + b;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++)
                    o->u[128 * n + 32 * j + l] = (uint8_t)(((x->qs[32 * n + l] >> (2 * j)) & 3) |
                                                           ((x->hmask[l] >> (4 * n + j)) & 1) << 2);
        k3_scales(x->scales, o->sc);
        o->d = bk_f16_to_f32_scalar(x->d);
        return;
    }
    case BK_TYPE_Q4_K:
    case BK_TYPE_Q5_K: {
        const uint8_t *qs, *qh = NULL, *scales;
        uint16_t d, dmin;
        if (type == BK_TYPE_Q4_K) {
            const block_q4_K *x = (const block_q4_K *)row + b;
            qs = x->qs, scales = x->scales, d = x->d, dmin = x->dmin;
        } else {
            const block_q5_K *x = (const block_q5_K *)row + b;
            qs = x->qs, qh = x->qh, scales = x->scales, d = x->d, dmin = x->dmin;
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * c + l] & 15, hi = qs[32 * c + l] >> 4;
                if (qh) lo |= ((qh[l] >> (2 * c)) & 1) << 4, hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
                o->u[64 * c + l] = (uint8_t)lo;
                o->u[64 * c + 32 + l] = (uint8_t)hi;
            }
        int16_t sc[8], mn[8];
        k4_scales(scales, sc, mn);
        for (int g = 0; g < 16; g++) o->sc[g] = sc[g / 2], o->mn[g] = mn[g / 2];
        o->d = bk_f16_to_f32_scalar(d), o->dmin = bk_f16_to_f32_scalar(dmin);
        return;
    }
    default: {
        const block_q6_K *x = (const block_q6_K *)row + b;
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = x->ql + 64 * n, *qh = x->qh + 32 * n;
            for (int l = 0; l < 32; l++) {
                o->u[128 * n + l] = (uint8_t)((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4);
                o->u[128 * n + 32 + l] = (uint8_t)((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4);
                o->u[128 * n + 64 + l] = (uint8_t)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
                o->u[128 * n + 96 + l] = (uint8_t)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
            }
        }
        for (int g = 0; g < 16; g++) o->sc[g] = x->scales[g];
        o->d = bk_f16_to_f32_scalar(x->d);
        return;
    }
    }
}

static float dot_k_ref(int32_t type, int64_t k, const void *w, const block_q8_K *x) {
    const int z = k_zero(type), has_min = k_has_min(type);
    float acc = 0;
    kblock blk;
    for (int64_t b = 0; b < k / 256; b++) {
        const block_q8_K *xb = x + b;
        unpack_k_ref(type, w, b, &blk);
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int32_t s = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) s += blk.u[i] * xb->qs[i];
            isum += blk.sc[g] * (s - z * xb->bsums[g]);
            msum += blk.mn[g] * xb->bsums[g];
        }
        acc = fmaf(blk.d * xb->d, (float)isum, acc);
        if (has_min) acc = fmaf(blk.dmin * xb->d, (float)-msum, acc);
    }
    return acc;
}

void bk_dot_rows_k_ref(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                       size_t x_stride, int nc, float *out, int64_t ldo) {
    for (int64_t r = 0; r < nrows; r++)
        for (int c = 0; c < nc; c++)
            out[c * ldo + r] = dot_k_ref(type, k, (const char *)w + r * w_stride,
                                         (const block_q8_K *)((const char *)x + c * x_stride));
}

#if BK_X86
// ---- AVX2 ----------------------------------------------------------------------------------------------------------

// A super-block in registers: u[i] holds values 32i…32i+31; sc and mn the 16 group scales and minimums (int16).
typedef struct {
    __m256i u[8];
    __m256i sc, mn;
    float d, dmin;
} kregs;

BK_AVX2 BK_INLINE __m256i low2(__m256i v, int shift) {
    return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8(3));
}

// Bit `bit` of each byte of v, moved to bit `to`.
BK_AVX2 BK_INLINE __m256i bit_to(__m256i v, int bit, int to) {
    __m256i m = _mm256_set1_epi8((char)(1 << bit));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m), _mm256_set1_epi8((char)(1 << to)));
}

// 8 int16 values each repeated twice (Q4_K/Q5_K scales of 32 values as 16 group scales).
BK_AVX2 BK_INLINE __m256i twice(const int16_t v[8]) {
    __m128i s = _mm_loadu_si128((const __m128i *)v);
    return _mm256_setr_m128i(_mm_unpacklo_epi16(s, s), _mm_unpackhi_epi16(s, s));
}

// Q4_K/Q5_K: the 8 scales (bytes 0…7) and 8 minimums (bytes 8…15) of k4_scales as bytes, in both 128-bit lanes,
// four bytes at a time in general registers (ggml's AVX2 Q4_K dot builds them the same way).
BK_AVX2 BK_INLINE __m256i k4_scale_bytes(const uint8_t s[12]) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4), memcpy(&u1, s + 4, 4), memcpy(&u2, s + 8, 4);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
    uint32_t sc47 = (u2 & low4) | ((u0 >> 6) & top2) << 4, mn47 = ((u2 >> 4) & low4) | ((u1 >> 6) & top2) << 4;
    return _mm256_broadcastsi128_si256(_mm_setr_epi32((int)(u0 & low6), (int)sc47, (int)(u1 & low6), (int)mn47));
}

BK_AVX2 BK_INLINE void unpack_k_avx2(const int32_t type, const void *row, int64_t b, kregs *o) {
    const __m256i m4 = _mm256_set1_epi8(15);
    o->mn = _mm256_setzero_si256();
    o->dmin = 0;
    switch (type) {
    case BK_TYPE_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)row + b;
        for (int n = 0; n < 2; n++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * n));
            for (int j = 0; j < 4; j++) o->u[4 * n + j] = low2(q, 2 * j);
        }
        __m256i s = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
        o->sc = _mm256_and_si256(s, _mm256_set1_epi16(15));
        o->mn = _mm256_srli_epi16(s, 4);
        o->d = bk_half(x->d), o->dmin = bk_half(x->dmin);
        return;
    }
    case BK_TYPE_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)row + b;
        __m256i h = _mm256_loadu_si256((const __m256i *)x->hmask);
        for (int n = 0; n < 2; n++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * n));
            for (int j = 0; j < 4; j++) o->u[4 * n + j] = _mm256_or_si256(low2(q, 2 * j), bit_to(h, 4 * n + j, 2));
        }
        int16_t sc[16];
        k3_scales(x->scales, sc);
        o->sc = _mm256_loadu_si256((const __m256i *)sc);
        o->d = bk_half(x->d);
        return;
    }
    case BK_TYPE_Q4_K:
    case BK_TYPE_Q5_K: {
        const uint8_t *qs, *scales;
        __m256i h = _mm256_setzero_si256();
        if (type == BK_TYPE_Q4_K) {
            const block_q4_K *x = (const block_q4_K *)row + b;
            qs = x->qs, scales = x->scales, o->d = bk_half(x->d), o->dmin = bk_half(x->dmin);
        } else {
            const block_q5_K *x = (const block_q5_K *)row + b;
            qs = x->qs, scales = x->scales, o->d = bk_half(x->d), o->dmin = bk_half(x->dmin);
            h = _mm256_loadu_si256((const __m256i *)x->qh);
        }
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            o->u[2 * c] = _mm256_and_si256(q, m4);
            o->u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (type == BK_TYPE_Q5_K) {
                o->u[2 * c] = _mm256_or_si256(o->u[2 * c], bit_to(h, 2 * c, 4));
                o->u[2 * c + 1] = _mm256_or_si256(o->u[2 * c + 1], bit_to(h, 2 * c + 1, 4));
            }
        }
        int16_t sc[8], mn[8];
        k4_scales(scales, sc, mn);
        o->sc = twice(sc);
        o->mn = twice(mn);
        return;
    }
    default: {
        const block_q6_K *x = (const block_q6_K *)row + b;
        for (int n = 0; n < 2; n++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * n));
            o->u[4 * n + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(low2(h, 0), 4));
            o->u[4 * n + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(low2(h, 2), 4));
            o->u[4 * n + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                              _mm256_slli_epi16(low2(h, 4), 4));
            o->u[4 * n + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                              _mm256_slli_epi16(low2(h, 6), 4));
        }
        o->sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
        o->d = bk_half(x->d);
        return;
    }
    }
}

// Shuffles that spread the int16 scales of groups 2i and 2i+1 (i % 4) over the two 128-bit lanes of a register.
static const uint8_t scale_pairs[4][32] = {
    {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
    {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
    {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
    {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
     14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
};

// From k4_scale_bytes: int16 lanes all holding scale i (sc_pick[i]); each group's minimum, groups 0…15 (mn_pick).
static const uint8_t sc_pick[8][32] = {
#define BK_PICK(i) {i, 128, i, 128, i, 128, i, 128, i, 128, i, 128, i, 128, i, 128, \
                    i, 128, i, 128, i, 128, i, 128, i, 128, i, 128, i, 128, i, 128}
    BK_PICK(0), BK_PICK(1), BK_PICK(2), BK_PICK(3), BK_PICK(4), BK_PICK(5), BK_PICK(6), BK_PICK(7),
#undef BK_PICK
};
static const uint8_t mn_pick[32] = {8,  128, 8,  128, 9,  128, 9,  128, 10, 128, 10, 128, 11, 128, 11, 128,
                                    12, 128, 12, 128, 13, 128, 13, 128, 14, 128, 14, 128, 15, 128, 15, 128};

BK_AVX2 BK_INLINE int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

BK_AVX2 BK_INLINE void dot_k_avx2(const int nc, const int32_t type, int64_t k, const void *w, const char *x, size_t xs,
                                  float *out, int64_t ldo) {
    const int z = k_zero(type), has_min = k_has_min(type);
    const size_t bytes = k_block_bytes(type);
    float acc[4] = {0, 0, 0, 0};
    kregs blk;
    for (int64_t b = 0; b < k / 256; b++) {
        const char *ahead = (const char *)w + b * bytes + BK_PREFETCH;  // the weights stream from memory once per token
        for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
        unpack_k_avx2(type, w, b, &blk);
        __m256i scv[8];
        if (type == BK_TYPE_Q4_K || type == BK_TYPE_Q5_K) {
            // one scale per 32 values: each register's from the scale bytes; blk.sc goes unused and blk.mn is
            // replaced by the same minimums picked from the bytes
            const uint8_t *scales = type == BK_TYPE_Q4_K ? ((const block_q4_K *)w + b)->scales
                                                         : ((const block_q5_K *)w + b)->scales;
            const __m256i bytes8 = k4_scale_bytes(scales);
#pragma clang loop unroll(full)
            for (int i = 0; i < 8; i++)
                scv[i] = _mm256_shuffle_epi8(bytes8, _mm256_loadu_si256((const __m256i *)sc_pick[i]));
            blk.mn = _mm256_shuffle_epi8(bytes8, _mm256_loadu_si256((const __m256i *)mn_pick));
        } else {
            const __m256i lo = _mm256_permute2x128_si256(blk.sc, blk.sc, 0x00);
            const __m256i hi = _mm256_permute2x128_si256(blk.sc, blk.sc, 0x11);
#pragma clang loop unroll(full)
            for (int i = 0; i < 8; i++)
                scv[i] = _mm256_shuffle_epi8(i < 4 ? lo : hi,
                                             _mm256_loadu_si256((const __m256i *)scale_pairs[i % 4]));
        }
        for (int c = 0; c < nc; c++) {
            const block_q8_K *xb = (const block_q8_K *)(x + c * xs) + b;
            __m256i isum = _mm256_setzero_si256();
#pragma clang loop unroll(full)
            for (int i = 0; i < 8; i++) {
                __m256i p = _mm256_maddubs_epi16(blk.u[i], _mm256_loadu_si256((const __m256i *)(xb->qs + 32 * i)));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scv[i]));
            }
            __m256i bs = _mm256_loadu_si256((const __m256i *)xb->bsums);
            if (z) isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(bs, blk.sc), z == 4 ? 2 : 5));
            if (has_min) {
                // isum and −msum reduced side by side (exact integers: any order), converted together
                __m256i neg = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(bs, blk.mn));
                __m256i h = _mm256_hadd_epi32(isum, neg);  // pairs of isum, isum, −msum, −msum | the same
                __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
                __m128 f = _mm_cvtepi32_ps(_mm_hadd_epi32(s, s));  // isum, −msum, isum, −msum
                acc[c] = __builtin_fmaf(blk.d * xb->d, _mm_cvtss_f32(f), acc[c]);
                acc[c] = __builtin_fmaf(blk.dmin * xb->d, _mm_cvtss_f32(_mm_movehdup_ps(f)), acc[c]);
            } else {
                acc[c] = __builtin_fmaf(blk.d * xb->d, (float)hsum_i32(isum), acc[c]);
            }
        }
    }
    for (int c = 0; c < nc; c++) out[c * ldo] = acc[c];
}

#define BK_KDOT_VARIANT(NAME, TYPE)                                                                                    \
    BK_AVX2 static void NAME(int64_t k, const void *w, size_t ws, int64_t nrows, const char *x, size_t xs, int nc,     \
                             float *out, int64_t ldo) {                                                                \
        for (int64_t r = 0; r < nrows; r++) {                                                                          \
            const void *row = (const char *)w + r * ws;                                                                \
            switch (nc) {                                                                                              \
            case 1: dot_k_avx2(1, TYPE, k, row, x, xs, out + r, ldo); break;                                          \
            case 2: dot_k_avx2(2, TYPE, k, row, x, xs, out + r, ldo); break;                                          \
            case 3: dot_k_avx2(3, TYPE, k, row, x, xs, out + r, ldo); break;                                          \
            default: dot_k_avx2(4, TYPE, k, row, x, xs, out + r, ldo); break;                                         \
            }                                                                                                          \
        }                                                                                                              \
    }
BK_KDOT_VARIANT(dot_rows_q2_K, BK_TYPE_Q2_K)
BK_KDOT_VARIANT(dot_rows_q3_K, BK_TYPE_Q3_K)
BK_KDOT_VARIANT(dot_rows_q4_K, BK_TYPE_Q4_K)
BK_KDOT_VARIANT(dot_rows_q5_K, BK_TYPE_Q5_K)
BK_KDOT_VARIANT(dot_rows_q6_K, BK_TYPE_Q6_K)
#endif

void bk_dot_rows_k(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                   size_t x_stride, int nc, float *out, int64_t ldo) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) {
        const char *xc = x;
        switch (type) {
        case BK_TYPE_Q2_K: dot_rows_q2_K(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q3_K: dot_rows_q3_K(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q4_K: dot_rows_q4_K(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q5_K: dot_rows_q5_K(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        default: dot_rows_q6_K(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        }
    }
#endif
    bk_dot_rows_k_ref(type, k, w, w_stride, nrows, x, x_stride, nc, out, ldo);
}

// ---- panels for many activation rows (the prompt path) -------------------------------------------------------------
//
// KP_ROWS weight rows are unpacked once into a panel and then meet every activation row. Per super-block the panel
// holds the quants u as [64 quads][KP_ROWS rows][4 bytes] (quad i: values 4i…4i+3), then per row: the 16 group
// scales as int32 with the scale in both halves (a madd_epi16 multiplies a row's pair of int16 sums by it), 8 pairs
// of int16 corrections c_g (z·sc_g for Q3_K and Q6_K, mn_g for the types with minimums), d and dmin. With one 4-byte
// broadcast of activations against 8 rows, the sums per (row, activation row) are
//   S = Σ_g sc_g·s_g,  C = Σ_g c_g·B_g;  isum = S − C (z types) or S, msum = C (types with minimums)
// exactly dot_k_ref's integers, so the same two fmaf give its result bit for bit.

#define KP_QUANTS (64 * KP_ROWS * 4)
#define KP_SCALES (16 * KP_ROWS * 4)
#define KP_CORR (8 * KP_ROWS * 4)

size_t bk_kpanel_block_bytes(void) { return KP_QUANTS + KP_SCALES + KP_CORR + 2 * KP_ROWS * 4; }

typedef struct {
    uint8_t *q;
    int32_t *sc, *corr;
    float *d, *dmin;
} kpanel_block;

BK_INLINE kpanel_block kpanel_at(const uint8_t *panel, int64_t b) {
    uint8_t *q = (uint8_t *)panel + (size_t)b * bk_kpanel_block_bytes();
    int32_t *sc = (int32_t *)(q + KP_QUANTS), *corr = sc + 16 * KP_ROWS;
    float *d = (float *)(corr + 8 * KP_ROWS);
    return (kpanel_block){q, sc, corr, d, d + KP_ROWS};
}

BK_INLINE int32_t int16_pair(int a, int b) { return (int32_t)(((uint32_t)(uint16_t)b << 16) | (uint16_t)a); }

// One row's unpacked super-block into column r of a panel block (a zero row when blk is NULL).
static void kpanel_put(int32_t type, const kblock *blk, kpanel_block p, int r) {
    static const kblock zero;
    if (!blk) blk = &zero;
    const int z = k_zero(type), has_min = k_has_min(type);
    for (int i = 0; i < 64; i++) memcpy(p.q + (i * KP_ROWS + r) * 4, blk->u + 4 * i, 4);
    for (int g = 0; g < 16; g++) p.sc[g * KP_ROWS + r] = int16_pair(blk->sc[g], blk->sc[g]);
    for (int g = 0; g < 16; g += 2) {
        int c0 = has_min ? blk->mn[g] : z * blk->sc[g], c1 = has_min ? blk->mn[g + 1] : z * blk->sc[g + 1];
        p.corr[g / 2 * KP_ROWS + r] = int16_pair(c0, c1);
    }
    p.d[r] = blk->d;
    p.dmin[r] = blk->dmin;
}

void bk_kpanel_repack_ref(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel) {
    const size_t row_bytes = bk_row_bytes(w->type, w->cols);
    kblock blk;
    for (int64_t b = 0; b < w->cols / 256; b++)
        for (int r = 0; r < KP_ROWS; r++) {
            if (r < nrows) unpack_k_ref(w->type, (const char *)w->data + (size_t)(r0 + r) * row_bytes, b, &blk);
            kpanel_put(w->type, r < nrows ? &blk : NULL, kpanel_at(panel, b), r);
        }
}

void bk_kpanel_ref(int32_t type, int64_t nb, const uint8_t *panel, const block_q8_K *x, int64_t xs, int mr,
                   float *out, int64_t ldo) {
    const int has_min = k_has_min(type);
    for (int t = 0; t < mr; t++)
        for (int r = 0; r < KP_ROWS; r++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const kpanel_block p = kpanel_at(panel, b);
                const block_q8_K *xb = x + t * xs + b;
                int32_t s = 0, c = 0;
                for (int g = 0; g < 16; g++) {
                    int32_t sg = 0;
                    for (int j = 16 * g; j < 16 * g + 16; j++) sg += p.q[(j / 4 * KP_ROWS + r) * 4 + j % 4] * xb->qs[j];
                    s += (int16_t)p.sc[g * KP_ROWS + r] * sg;
                    int32_t pair = p.corr[g / 2 * KP_ROWS + r];
                    c += (g % 2 ? (int16_t)(pair >> 16) : (int16_t)pair) * xb->bsums[g];
                }
                acc = fmaf(p.d[r] * xb->d, (float)(has_min ? s : s - c), acc);
                if (has_min) acc = fmaf(p.dmin[r] * xb->d, (float)-c, acc);
            }
            out[t * ldo + r] = acc;
        }
}

#if BK_X86
BK_AVX2 static void kpanel_repack_avx2(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel) {
    const size_t row_bytes = bk_row_bytes(w->type, w->cols);
    kregs regs;
    kblock blk;
    for (int64_t b = 0; b < w->cols / 256; b++)
        for (int r = 0; r < KP_ROWS; r++) {
            if (r < nrows) {
                unpack_k_avx2(w->type, (const char *)w->data + (size_t)(r0 + r) * row_bytes, b, &regs);
                for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(blk.u + 32 * i), regs.u[i]);
                _mm256_storeu_si256((__m256i *)blk.sc, regs.sc);
                _mm256_storeu_si256((__m256i *)blk.mn, regs.mn);
                blk.d = regs.d, blk.dmin = regs.dmin;
            }
            kpanel_put(w->type, r < nrows ? &blk : NULL, kpanel_at(panel, b), r);
        }
}

// KP_ROWS (8) rows in one register against mr activation rows: maddubs of 4 quads, their int16 sums added (2 for
// Q6_K, whose 6-bit quants would overflow 4), madd with the group scale, int32 sums per super-block.
BK_AVX2 BK_INLINE void kpanel_avx2(const int mr, const int32_t type, int64_t nb, const uint8_t *panel,
                                   const block_q8_K *x, int64_t xs, float *out, int64_t ldo) {
    const int has_min = k_has_min(type), wide = type == BK_TYPE_Q6_K;
    __m256 acc[4];
    for (int t = 0; t < 4; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const kpanel_block p = kpanel_at(panel, b);
        __m256i s[4], c[4];
        for (int t = 0; t < 4; t++) s[t] = c[t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            const __m256i *q = (const __m256i *)(p.q + 4 * g * KP_ROWS * 4);
            __m256i w0 = _mm256_loadu_si256(q), w1 = _mm256_loadu_si256(q + 1);
            __m256i w2 = _mm256_loadu_si256(q + 2), w3 = _mm256_loadu_si256(q + 3);
            __m256i sc = _mm256_loadu_si256((const __m256i *)(p.sc + g * KP_ROWS));
            for (int t = 0; t < mr; t++) {
                const int8_t *xq = x[t * xs + b].qs + 16 * g;
                int32_t x4[4];
                memcpy(x4, xq, 16);
                __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(x4[0])),
                                               _mm256_maddubs_epi16(w1, _mm256_set1_epi32(x4[1])));
                __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, _mm256_set1_epi32(x4[2])),
                                               _mm256_maddubs_epi16(w3, _mm256_set1_epi32(x4[3])));
                if (wide)
                    s[t] = _mm256_add_epi32(s[t], _mm256_add_epi32(_mm256_madd_epi16(p01, sc),
                                                                   _mm256_madd_epi16(p23, sc)));
                else
                    s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_add_epi16(p01, p23), sc));
            }
        }
        const __m256 d = _mm256_loadu_ps(p.d), dmin = _mm256_loadu_ps(p.dmin);
        for (int t = 0; t < mr; t++) {
            const block_q8_K *xb = x + t * xs + b;
            int32_t b2[8];
            memcpy(b2, xb->bsums, 32);
            for (int i = 0; i < 8; i++) {
                __m256i corr = _mm256_loadu_si256((const __m256i *)(p.corr + i * KP_ROWS));
                c[t] = _mm256_add_epi32(c[t], _mm256_madd_epi16(corr, _mm256_set1_epi32(b2[i])));
            }
            const __m256 dx = _mm256_set1_ps(xb->d);
            __m256i isum = has_min ? s[t] : _mm256_sub_epi32(s[t], c[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(isum), acc[t]);
            if (has_min)
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dmin, dx),
                                         _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), c[t])), acc[t]);
        }
    }
    for (int t = 0; t < mr; t++) _mm256_storeu_ps(out + t * ldo, acc[t]);
}

#define BK_KPANEL_VARIANT(NAME, TYPE)                                                                               \
    BK_AVX2 static void NAME(int64_t nb, const uint8_t *panel, const block_q8_K *x, int64_t xs, int mr, float *out, \
                             int64_t ldo) {                                                                         \
        switch (mr) {                                                                                               \
        case 1: kpanel_avx2(1, TYPE, nb, panel, x, xs, out, ldo); break;                                           \
        case 2: kpanel_avx2(2, TYPE, nb, panel, x, xs, out, ldo); break;                                           \
        case 3: kpanel_avx2(3, TYPE, nb, panel, x, xs, out, ldo); break;                                           \
        default: kpanel_avx2(4, TYPE, nb, panel, x, xs, out, ldo); break;                                          \
        }                                                                                                           \
    }
BK_KPANEL_VARIANT(kpanel_q2_K, BK_TYPE_Q2_K)
BK_KPANEL_VARIANT(kpanel_q3_K, BK_TYPE_Q3_K)
BK_KPANEL_VARIANT(kpanel_q4_K, BK_TYPE_Q4_K)
BK_KPANEL_VARIANT(kpanel_q5_K, BK_TYPE_Q5_K)
BK_KPANEL_VARIANT(kpanel_q6_K, BK_TYPE_Q6_K)
#endif

void bk_kpanel_repack(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { kpanel_repack_avx2(w, r0, nrows, panel); return; }
#endif
    bk_kpanel_repack_ref(w, r0, nrows, panel);
}

void bk_kpanel(int32_t type, int64_t nb, const uint8_t *panel, const block_q8_K *x, int64_t xs, int mr, float *out,
               int64_t ldo) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) {
        switch (type) {
        case BK_TYPE_Q2_K: kpanel_q2_K(nb, panel, x, xs, mr, out, ldo); return;
        case BK_TYPE_Q3_K: kpanel_q3_K(nb, panel, x, xs, mr, out, ldo); return;
        case BK_TYPE_Q4_K: kpanel_q4_K(nb, panel, x, xs, mr, out, ldo); return;
        case BK_TYPE_Q5_K: kpanel_q5_K(nb, panel, x, xs, mr, out, ldo); return;
        default: kpanel_q6_K(nb, panel, x, xs, mr, out, ldo); return;
        }
    }
#endif
    bk_kpanel_ref(type, nb, panel, x, xs, mr, out, ldo);
}
