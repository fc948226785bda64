// Shared between bk_quant.c (reference loops, dispatch) and bk_quant_avx2.c (SIMD).
#ifndef BLOOMKIT_QUANT_INTERNAL_H
#define BLOOMKIT_QUANT_INTERNAL_H

#include "bk_quant.h"
#include "bk_cpu.h"
#include <string.h>

static inline uint16_t bk_load_half(const void *p) { uint16_t h; memcpy(&h, p, 2); return h; }
static inline void bk_store_half(void *p, uint16_t h) { memcpy(p, &h, 2); }

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
