// f16 / bf16 <-> f32 conversions, exact: round-to-nearest-even, Inf/NaN/subnormals kept.
#ifndef BLOOMKIT_CONVERT_H
#define BLOOMKIT_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

float bk_f16_to_f32_scalar(uint16_t h);
uint16_t bk_f32_to_f16_scalar(float f);
float bk_bf16_to_f32_scalar(uint16_t h);
/// RNE; NaN stays NaN (quieted), as ggml's ggml_compute_fp32_to_bf16.
uint16_t bk_f32_to_bf16_scalar(float f);

/// Bulk conversions: F16C/AVX2 when the CPU has them, else the *_ref loop.
void bk_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void bk_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void bk_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
void bk_f32_to_bf16(const float *src, uint16_t *dst, size_t n);

void bk_f16_to_f32_ref(const uint16_t *src, float *dst, size_t n);
void bk_f32_to_f16_ref(const float *src, uint16_t *dst, size_t n);
void bk_bf16_to_f32_ref(const uint16_t *src, float *dst, size_t n);
void bk_f32_to_bf16_ref(const float *src, uint16_t *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
