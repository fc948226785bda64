// Shared between bk_quant.c (legacy reference loops, every dispatch), bk_quant_k.c (K-quant reference loops) and
// their SIMD twins in bk_quant_avx2.c and bk_quant_k_avx2.c.
#ifndef BLOOMKIT_QUANT_INTERNAL_H
#define BLOOMKIT_QUANT_INTERNAL_H

#include "bk_quant.h"
#include "bk_convert.h"
#include "bk_cpu.h"
#include <string.h>

static inline uint16_t bk_load_half(const void *p) { uint16_t h; memcpy(&h, p, 2); return h; }
static inline void bk_store_half(void *p, uint16_t h) { memcpy(p, &h, 2); }

/// f32 to fp16 as ggml's scalar GGML_FP32_TO_FP16 (the one ggml-base uses): round to nearest even, NaN -> 0x7E00
/// with the sign. The scales of Q5_0, Q5_1 and the K-quants.
static inline uint16_t bk_kq_half(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7E00u);
    return bk_f32_to_f16_scalar(f);
}

/// ggml's nearest_int: round half to even through the 1.5·2^23 trick (|v| <= 2^22; beyond that the low mantissa
/// bits of v + 12582912, as ggml reads them; NaN gives its payload, 0 for the default NaN).
static inline int bk_nearest_int(float v) {
    const float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/// Parameters of ggml's make_qkx2_quants (asymmetric quants with a min): n values, levels 0...nmax, trial inverse
/// scales (rmin + rdelta·is + nmax)/(max - min) for is in 0...nstep, error |d| when use_mad, else d².
typedef struct {
    int n;
    int nmax;
    float rmin;
    float rdelta;
    int nstep;
    int use_mad;
} bk_kq_search;

/// make_qkx2_quants on 8·groups sub-blocks of s->n values (groups 1 or 2; sub-block j at x + j·n, w + j·n,
/// L + j·n): quants into L, scales[j] the scale, mins[j] minus the min. The SIMD twin runs a group of 8 in the lanes
/// of one register: each lane does its sub-block's sums in the reference's order, so the results are the same bit
/// for bit.
typedef void (*bk_kq_qkx2_fn)(const bk_kq_search *s, int groups, const float *x, const float *w, uint8_t *L,
                              float *scales, float *mins);
void bk_kq_qkx2_quants_ref(const bk_kq_search *s, int groups, const float *x, const float *w, uint8_t *L,
                           float *scales, float *mins);
/// make_qx_quants (rmse_type 1, nmax 32) on 8 sub-blocks of 16 (Q6_K): quants + 32 into L, scales[j]. Twin as above.
typedef void (*bk_kq_qx_fn)(const float *x, int8_t *L, float *scales);
/// ggml's make_qx_quants (rmse_type 1): quants l + nmax of n values, weights qw (x² when qw is NULL); the scale.
float bk_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw);
void bk_kq_qx_quants8_ref(const float *x, int8_t *L, float *scales);
/// make_q3_quants (nmax 4, with its refinement passes) on 16 sub-blocks of 16 (Q3_K): quants + 4 into L, scales[j].
typedef void (*bk_kq_q3_fn)(const float *x, int8_t *L, float *scales);
void bk_kq_q3_quants16_ref(const float *x, int8_t *L, float *scales);

// The K-quant block tails that follow the sub-block searches, shared by the plain (bk_quant_k.c) and the
// importance-weighted (bk_quant_weighted.c) quantizers: each requantizes x with the stored scales and packs.
/// Q2_K with d, dmin and scales set: quants L[256] (kept where a sub-block's scale is 0), then qs.
void bk_kq_q2_K_finish(const float *x, block_q2_K *y, uint8_t *L);
/// Q3_K from its 6-bit sub-block scales ls[16] (0...63, stored as ls - 32) and d: scales, d, quants L[256] (l + 4,
/// kept where a sub-block's scale is 0), hmask and qs.
void bk_kq_q3_K_finish(const float *x, const int8_t *ls, float d, block_q3_K *y, int8_t *L);
/// Q4_K (nmax 15) or Q5_K (nmax 31) from 6-bit scales ls[8], mins lm[8] (packed as given: ggml caps them at 63
/// before, except the weighted Q4_K) and the super-block's d and dmin: the whole block into `block`.
void bk_kq_q45_K_store(const float *x, const uint8_t *ls, const uint8_t *lm, float d, float dmin, uint8_t *L,
                       int nmax, void *block);
/// Q6_K from its 16 sub-block scales and quants L (l + 32): the whole block (L is updated).
void bk_kq_q6_K_finish(const float *x, block_q6_K *y, int8_t *L, const float *scales);

#if defined(__x86_64__)
void bk_kq_q3_quants16_avx2(const float *x, int8_t *L, float *scales);
void bk_quantize_row_q3_K_avx2(const float *x, void *y, size_t k);
void bk_kq_qkx2_quants_avx2(const bk_kq_search *s, int groups, const float *x, const float *w, uint8_t *L,
                            float *scales, float *mins);
void bk_kq_qx_quants8_avx2(const float *x, int8_t *L, float *scales);
void bk_quantize_row_q2_K_avx2(const float *x, void *y, size_t k);
void bk_quantize_row_q4_K_avx2(const float *x, void *y, size_t k);
void bk_quantize_row_q5_K_avx2(const float *x, void *y, size_t k);
void bk_quantize_row_q6_K_avx2(const float *x, void *y, size_t k);
#endif

#if defined(__x86_64__)
void bk_quantize_row_q8_0_avx2(const float *x, void *y, size_t k);
void bk_quantize_row_q4_0_avx2(const float *x, void *y, size_t k);
void bk_quantize_row_q4_1_avx2(const float *x, void *y, size_t k);
void bk_dequantize_row_q8_0_avx2(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_0_avx2(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_1_avx2(const void *x, float *y, size_t k);
void bk_quant_error_accumulate_avx2(const float *x, const float *y, size_t n, bk_quant_error *acc);
#endif

#endif
