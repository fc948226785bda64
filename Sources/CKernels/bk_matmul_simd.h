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
#ifndef BK_PREFETCH
#define BK_PREFETCH 4096  // bytes the row dots prefetch ahead; measured on the 560M-shaped files (512…32768 tried)
#endif

_Static_assert(sizeof(bk_block_q8x) == 44, "activation block is 44 bytes");

/// The reduction every 8-lane sum uses: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
BK_INLINE float bk_hsum8_ref(const float l[8]) {
    float t0 = l[0] + l[4], t1 = l[1] + l[5], t2 = l[2] + l[6], t3 = l[3] + l[7];
    float u0 = t0 + t2, u1 = t1 + t3;
    return u0 + u1;
}

// ---- the type table: one row per weight type (bk_matmul.c) -------------------------------------------------------

/// How activations meet a weight type: f32 tiles, 32-value 8-bit blocks (bk_block_q8x) or 256-value ones (block_q8_K).
enum { BK_ACT_FLOAT = 0, BK_ACT_Q8X = 1, BK_ACT_Q8K = 2 };

typedef void (*bk_dequantize_fn)(const void *src, float *dst, size_t k);

typedef struct {
    int32_t type;
    int32_t elements;    // per block
    int32_t bytes;       // per block
    int32_t activation;  // BK_ACT_*
    bk_dequantize_fn dequantize, dequantize_ref;
} bk_type_traits;

/// The row of `type`, or NULL if the kernels do not compute with it.
const bk_type_traits *bk_traits(int32_t type);

BK_INLINE int bk_is_block_type(int32_t type) {
    const bk_type_traits *t = bk_traits(type);
    return t && t->activation != BK_ACT_FLOAT;
}

/// The K-quant row dots (bk_matmul_kquants.c): bk_dot_rows and its twin for Q2_K…Q6_K weights and block_q8_K rows.
void bk_dot_rows_k(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                   size_t x_stride, int nc, float *out, int64_t ldo);
void bk_dot_rows_k_ref(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                       size_t x_stride, int nc, float *out, int64_t ldo);

/// K-quant panels (bk_matmul_kquants.c), the prompt path: KP_ROWS weight rows unpacked once, against many block_q8_K
/// rows. Repacks rows [r0, r0+nrows) (nrows ≤ KP_ROWS; missing rows become zeros) into `panel` (cols/256 ·
/// bk_kpanel_block_bytes() bytes); bk_kpanel: out[t·ldo + r] for t < mr (≤ 4) activation rows (x + t·xs blocks)
/// and r < KP_ROWS, each equal to bk_dot_rows_k_ref's result bit for bit.
#define KP_ROWS 8
size_t bk_kpanel_block_bytes(void);
void bk_kpanel_repack(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel);
void bk_kpanel_repack_ref(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel);
void bk_kpanel(int32_t type, int64_t nb, const uint8_t *panel, const block_q8_K *x, int64_t xs, int mr, float *out,
               int64_t ldo);
void bk_kpanel_ref(int32_t type, int64_t nb, const uint8_t *panel, const block_q8_K *x, int64_t xs, int mr,
                   float *out, int64_t ldo);

/// 32-element types: the offset of the stored quants (Q4_0 8, Q5_0 16) and whether y = q·d + m (Q4_1, Q5_1),
/// as constants where the type is one.
#define BK_Q32_ZERO(type) ((type) == BK_TYPE_Q4_0 ? 8 : (type) == BK_TYPE_Q5_0 ? 16 : 0)
#define BK_Q32_HAS_MIN(type) ((type) == BK_TYPE_Q4_1 || (type) == BK_TYPE_Q5_1)

/// The 32 quants of block b of a 32-element-type row (Q8_0 signed bytes, the others unsigned values in element order,
/// Q5's fifth bit included), its scale and (Q4_1, Q5_1) its minimum.
BK_INLINE void bk_unpack_q32_ref(int32_t type, const void *row, int64_t b, uint8_t v[32], float *d, float *m) {
    *m = 0;
    const uint8_t *qs;
    uint32_t qh = 0;
    switch (type) {
    case BK_TYPE_Q8_0: {
        const block_q8_0 *x = (const block_q8_0 *)row + b;
        memcpy(v, x->qs, 32);
        *d = bk_f16_to_f32_scalar(x->d);
        return;
    }
    case BK_TYPE_Q4_0: {
        const block_q4_0 *x = (const block_q4_0 *)row + b;
        qs = x->qs, *d = bk_f16_to_f32_scalar(x->d);
        break;
    }
    case BK_TYPE_Q4_1: {
        const block_q4_1 *x = (const block_q4_1 *)row + b;
        qs = x->qs, *d = bk_f16_to_f32_scalar(x->d), *m = bk_f16_to_f32_scalar(x->m);
        break;
    }
    case BK_TYPE_Q5_0: {
        const block_q5_0 *x = (const block_q5_0 *)row + b;
        qs = x->qs, *d = bk_f16_to_f32_scalar(x->d);
        qh = (uint32_t)x->qh[0] | (uint32_t)x->qh[1] << 8 | (uint32_t)x->qh[2] << 16 | (uint32_t)x->qh[3] << 24;
        break;
    }
    default: {
        const block_q5_1 *x = (const block_q5_1 *)row + b;
        qs = x->qs, *d = bk_f16_to_f32_scalar(x->d), *m = bk_f16_to_f32_scalar(x->m);
        qh = (uint32_t)x->qh[0] | (uint32_t)x->qh[1] << 8 | (uint32_t)x->qh[2] << 16 | (uint32_t)x->qh[3] << 24;
        break;
    }
    }
    for (int j = 0; j < 16; j++) {
        v[j] = (uint8_t)((qs[j] & 15) | ((qh >> j) & 1) << 4);
        v[j + 16] = (uint8_t)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
    }
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

/// bk_hsum256 of v[0]…v[7] at once (the same additions), as one vector in that order.
BK_AVX2 BK_INLINE __m256 bk_hsum256x8(const __m256 v[8]) {
    __m256 t[4];  // [t of v[2i] | t of v[2i+1]], t = low half + high half
    for (int i = 0; i < 4; i++)
        t[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x31));
    // u = (t0 + t2, t1 + t3): [u of v0, u of v2 | u of v1, u of v3] and the same for v4…v7
    __m256 u03 = _mm256_add_ps(_mm256_shuffle_ps(t[0], t[1], 0x44), _mm256_shuffle_ps(t[0], t[1], 0xee));
    __m256 u47 = _mm256_add_ps(_mm256_shuffle_ps(t[2], t[3], 0x44), _mm256_shuffle_ps(t[2], t[3], 0xee));
    // u0 + u1: sums of v0, v2, v4, v6 | v1, v3, v5, v7
    __m256 s = _mm256_add_ps(_mm256_shuffle_ps(u03, u47, 0x88), _mm256_shuffle_ps(u03, u47, 0xdd));
    return _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
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

/// bk_unpack_q32_ref's quants in one register, its scale and minimum.
BK_AVX2 BK_INLINE __m256i bk_unpack_q32_avx2(int32_t type, const void *row, int64_t b, float *d, float *m) {
    if (type == BK_TYPE_Q8_0) {
        const block_q8_0 *x = (const block_q8_0 *)row + b;
        *d = bk_half(x->d);
        return _mm256_loadu_si256((const __m256i *)x->qs);
    }
    const uint8_t *qs, *qh = NULL;
    switch (type) {
    case BK_TYPE_Q4_0: {
        const block_q4_0 *x = (const block_q4_0 *)row + b;
        qs = x->qs, *d = bk_half(x->d);
        break;
    }
    case BK_TYPE_Q4_1: {
        const block_q4_1 *x = (const block_q4_1 *)row + b;
        qs = x->qs, *d = bk_half(x->d), *m = bk_half(x->m);
        break;
    }
    case BK_TYPE_Q5_0: {
        const block_q5_0 *x = (const block_q5_0 *)row + b;
        qs = x->qs, qh = x->qh, *d = bk_half(x->d);
        break;
    }
    default: {
        const block_q5_1 *x = (const block_q5_1 *)row + b;
        qs = x->qs, qh = x->qh, *d = bk_half(x->d), *m = bk_half(x->m);
        break;
    }
    }
    // both halves hold the 16 bytes; the upper one shifted right by 4 gives the high nibbles (elements 16…31)
    __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    __m256i v = _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
    if (type == BK_TYPE_Q5_0 || type == BK_TYPE_Q5_1) {
        // byte j takes byte j/8 of qh, keeps bit j%8, and becomes 16 where it was set
        int32_t h32;
        memcpy(&h32, qh, 4);
        __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(h32), _mm256_setr_epi64x(0, 0x0101010101010101,
                                             0x0202020202020202, 0x0303030303030303));
        __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201);
        __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        v = _mm256_or_si256(v, _mm256_and_si256(set, _mm256_set1_epi8(16)));
    }
    return v;
}
#endif

#endif
