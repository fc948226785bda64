// Shared between bk_quant.c (reference loops, dispatch) and bk_quant_avx2.c (SIMD).
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

/// make_qkx2_quants: quants of x (weights w) into L[0..n), returns the scale, stores -min at the_min.
typedef float (*bk_kq_qkx2_fn)(const bk_kq_search *s, const float *x, const float *w, uint8_t *L, float *the_min);
float bk_kq_qkx2_quants_ref(const bk_kq_search *s, const float *x, const float *w, uint8_t *L, float *the_min);

/// One super-block, the search passed in (the reference or its SIMD twin, same results).
void bk_kq_q2_K_block(const float *x, block_q2_K *y, bk_kq_qkx2_fn search);
/// Q4_K (nmax 15) and Q5_K (nmax 31): scales, d, dmin and the final quants L[256] (before packing).
void bk_kq_q45_K_block(const float *x, uint8_t *scales, uint16_t *d, uint16_t *dmin, uint8_t *L, int nmax,
                       bk_kq_qkx2_fn search);
void bk_kq_pack_q4_K(const uint8_t *L, block_q4_K *y);
void bk_kq_pack_q5_K(const uint8_t *L, block_q5_K *y);
/// Q6_K after the 16 sub-block searches: scales of the sub-blocks in, the whole block out (L is updated).
void bk_kq_q6_K_finish(const float *x, block_q6_K *y, int8_t *L, const float *scales);

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
