// Reference (scalar) block quantizers and the run-time dispatch. The *_ref loops define the bytes; see bk_quant.h
// for the rules and where they follow gguf-py rather than ggml's C.
#include "bk_quant_internal.h"
#include "bk_convert.h"
#include <float.h>
#include <math.h>

// The formats are defined with x*id and +c rounded separately; never let the compiler fuse them.
#pragma STDC FP_CONTRACT OFF

// x86 cvttss2si: truncation toward zero; NaN and values outside int32 give INT32_MIN (the SIMD path's cvttps2dq).
static inline int32_t cvtt_i32(float v) {
    return (v >= -2147483648.0f && v < 2147483648.0f) ? (int32_t)v : INT32_MIN;
}

// A 4-bit quant from x*id + 8.5 (or (x-min)*id + 0.5): truncated, clamped to 0...15; not finite -> 0.
static inline uint8_t nibble(float v) {
    int32_t q = cvtt_i32(v);
    return q < 0 ? 0 : q > 15 ? 15 : (uint8_t)q;
}

// C roundf (half away from zero), then int8; NaN/Inf (only reachable from Inf*0, Inf*x) -> 0.
static inline int8_t q8(float v) {
    float r = roundf(v);
    return fabsf(r) <= 127.0f ? (int8_t)r : 0;
}

void bk_quantize_row_q8_0_ref(const float *x, void *vy, size_t k) {
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q8_0)) {
        float amax = 0.0f;
        for (int j = 0; j < BK_QK; j++) {
            float a = fabsf(x[j]);
            if (isnan(a)) { amax = a; break; }  // numpy's max propagates NaN
            if (a > amax) amax = a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        bk_store_half(y, bk_f32_to_f16_scalar(d));
        for (int j = 0; j < BK_QK; j++) y[2 + j] = (uint8_t)q8(x[j] * id);
    }
}

void bk_quantize_row_q4_0_ref(const float *x, void *vy, size_t k) {
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q4_0)) {
        // numpy argmax(|x|): the first largest |x|, a NaN counting as largest.
        int imax = 0;
        float amax = fabsf(x[0]);
        for (int j = 1; j < BK_QK && !isnan(amax); j++) {
            float a = fabsf(x[j]);
            if (isnan(a) || a > amax) { amax = a; imax = j; }
        }
        const float d = x[imax] / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        bk_store_half(y, bk_f32_to_f16_scalar(d));
        for (int j = 0; j < BK_QK / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[j + BK_QK / 2] * id;
            y[2 + j] = (uint8_t)(nibble(x0 + 8.5f) | (nibble(x1 + 8.5f) << 4));
        }
    }
}

void bk_quantize_row_q4_1_ref(const float *x, void *vy, size_t k) {
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q4_1)) {
        // The block's own min and max (first one wins among equals, which only matters for ±0); NaN propagates.
        float min = x[0], max = x[0];
        int nan = isnan(x[0]);
        for (int j = 1; j < BK_QK; j++) {
            const float v = x[j];
            nan |= isnan(v);
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if (nan) min = max = NAN;
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        bk_store_half(y, bk_f32_to_f16_scalar(d));
        bk_store_half(y + 2, bk_f32_to_f16_scalar(min));
        for (int j = 0; j < BK_QK / 2; j++) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[j + BK_QK / 2] - min) * id;
            y[4 + j] = (uint8_t)(nibble(x0 + 0.5f) | (nibble(x1 + 0.5f) << 4));
        }
    }
}

// gcc's (int8_t)/(uint8_t) cast of a float on x86-64: cvttss2si, then the low 8 bits.
static inline uint8_t cast_u8(float v) { return (uint8_t)cvtt_i32(v); }

// The fifth bits of a Q5 block: bit j of qh is bit 4 of element j.
static inline void store_q5(uint8_t *qs, uint8_t *qh, const uint8_t q[BK_QK]) {
    uint32_t h = 0;
    for (int j = 0; j < BK_QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + BK_QK / 2] & 0x0F) << 4));
        h |= (uint32_t)(q[j] >> 4 & 1) << j | (uint32_t)(q[j + BK_QK / 2] >> 4 & 1) << (j + BK_QK / 2);
    }
    const uint8_t le[4] = {(uint8_t)h, (uint8_t)(h >> 8), (uint8_t)(h >> 16), (uint8_t)(h >> 24)};
    memcpy(qh, le, 4);
}

static inline uint32_t load_qh(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void bk_quantize_row_q5_0_ref(const float *x, void *vy, size_t k) {
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q5_0)) {
        // ggml's C: the first largest |x| starting from +0 (a NaN never wins a comparison).
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < BK_QK; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[BK_QK];
        for (int j = 0; j < BK_QK; j++) {
            const int8_t t = (int8_t)cast_u8(x[j] * id + 16.5f);
            q[j] = (uint8_t)(t < 31 ? t : 31);
        }
        bk_store_half(y, bk_kq_half(d));
        store_q5(y + 6, y + 2, q);
    }
}

void bk_quantize_row_q5_1_ref(const float *x, void *vy, size_t k) {
    uint8_t *y = vy;
    for (size_t b = 0; b < k / BK_QK; b++, x += BK_QK, y += sizeof(block_q5_1)) {
        float min = FLT_MAX, max = -FLT_MAX;  // ggml's C start values (a NaN never wins a comparison)
        for (int j = 0; j < BK_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[BK_QK];
        for (int j = 0; j < BK_QK; j++) q[j] = cast_u8((x[j] - min) * id + 0.5f);
        bk_store_half(y, bk_kq_half(d));
        bk_store_half(y + 2, bk_kq_half(min));
        store_q5(y + 8, y + 4, q);
    }
}

void bk_dequantize_row_q5_0_ref(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q5_0), y += BK_QK) {
        const float d = bk_f16_to_f32_scalar(bk_load_half(x));
        const uint32_t qh = load_qh(x + 2);
        for (int j = 0; j < BK_QK / 2; j++) {
            const int q0 = (x[6 + j] & 0x0F) | (int)((qh >> j) << 4 & 0x10);
            const int q1 = (x[6 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            y[j] = (float)(q0 - 16) * d;
            y[j + BK_QK / 2] = (float)(q1 - 16) * d;
        }
    }
}

void bk_dequantize_row_q5_1_ref(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q5_1), y += BK_QK) {
        const float d = bk_f16_to_f32_scalar(bk_load_half(x));
        const float m = bk_f16_to_f32_scalar(bk_load_half(x + 2));
        const uint32_t qh = load_qh(x + 4);
        for (int j = 0; j < BK_QK / 2; j++) {
            const int q0 = (x[8 + j] & 0x0F) | (int)((qh >> j) << 4 & 0x10);
            const int q1 = (x[8 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            y[j] = (float)q0 * d + m;
            y[j + BK_QK / 2] = (float)q1 * d + m;
        }
    }
}

void bk_dequantize_row_q8_0_ref(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q8_0), y += BK_QK) {
        const float d = bk_f16_to_f32_scalar(bk_load_half(x));
        for (int j = 0; j < BK_QK; j++) y[j] = (float)(int8_t)x[2 + j] * d;
    }
}

void bk_dequantize_row_q4_0_ref(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q4_0), y += BK_QK) {
        const float d = bk_f16_to_f32_scalar(bk_load_half(x));
        for (int j = 0; j < BK_QK / 2; j++) {
            y[j] = (float)((x[2 + j] & 0x0F) - 8) * d;
            y[j + BK_QK / 2] = (float)((x[2 + j] >> 4) - 8) * d;
        }
    }
}

void bk_dequantize_row_q4_1_ref(const void *vx, float *y, size_t k) {
    const uint8_t *x = vx;
    for (size_t b = 0; b < k / BK_QK; b++, x += sizeof(block_q4_1), y += BK_QK) {
        const float d = bk_f16_to_f32_scalar(bk_load_half(x));
        const float m = bk_f16_to_f32_scalar(bk_load_half(x + 2));
        for (int j = 0; j < BK_QK / 2; j++) {
            y[j] = (float)(x[4 + j] & 0x0F) * d + m;
            y[j + BK_QK / 2] = (float)(x[4 + j] >> 4) * d + m;
        }
    }
}

void bk_quant_error_accumulate_ref(const float *x, const float *y, size_t n, bk_quant_error *acc) {
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) { acc->nonfinite++; continue; }
        const double e = (double)x[i] - (double)y[i];
        acc->sum_sq_err += e * e;
        acc->sum_sq_ref += (double)x[i] * (double)x[i];
        if (fabs(e) > acc->max_abs) acc->max_abs = fabs(e);
        acc->count++;
    }
}

// Every dispatched entry: the AVX2 twin when bk_simd_level() allows it (the CPU's level, capped by
// bk_set_simd_limit), else the reference loop.
#if defined(__x86_64__)
#define BK_DISPATCH(name, ...) \
    do { if (bk_simd_level() >= BK_SIMD_AVX2) { name##_avx2(__VA_ARGS__); return; } name##_ref(__VA_ARGS__); } while (0)
#else
#define BK_DISPATCH(name, ...) name##_ref(__VA_ARGS__)
#endif

void bk_quantize_row_q8_0(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q8_0, x, y, k); }
void bk_quantize_row_q4_0(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q4_0, x, y, k); }
void bk_quantize_row_q4_1(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q4_1, x, y, k); }
void bk_quantize_row_q2_K(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q2_K, x, y, k); }
void bk_quantize_row_q3_K(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q3_K, x, y, k); }
void bk_quantize_row_q4_K(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q4_K, x, y, k); }
void bk_quantize_row_q5_K(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q5_K, x, y, k); }
void bk_quantize_row_q6_K(const float *x, void *y, size_t k) { BK_DISPATCH(bk_quantize_row_q6_K, x, y, k); }
void bk_dequantize_row_q8_0(const void *x, float *y, size_t k) { BK_DISPATCH(bk_dequantize_row_q8_0, x, y, k); }
void bk_dequantize_row_q4_0(const void *x, float *y, size_t k) { BK_DISPATCH(bk_dequantize_row_q4_0, x, y, k); }
void bk_dequantize_row_q4_1(const void *x, float *y, size_t k) { BK_DISPATCH(bk_dequantize_row_q4_1, x, y, k); }
void bk_quant_error_accumulate(const float *x, const float *y, size_t n, bk_quant_error *acc) {
    BK_DISPATCH(bk_quant_error_accumulate, x, y, n, acc);
}

// No SIMD twin yet (Q5_0/Q5_1 are cheap next to the K-quant searches; the dequantizers are not on a hot path):
// the reference loop is the fast path.
void bk_quantize_row_q5_0(const float *x, void *y, size_t k) { bk_quantize_row_q5_0_ref(x, y, k); }
void bk_quantize_row_q5_1(const float *x, void *y, size_t k) { bk_quantize_row_q5_1_ref(x, y, k); }
void bk_dequantize_row_q5_0(const void *x, float *y, size_t k) { bk_dequantize_row_q5_0_ref(x, y, k); }
void bk_dequantize_row_q5_1(const void *x, float *y, size_t k) { bk_dequantize_row_q5_1_ref(x, y, k); }
void bk_dequantize_row_q2_K(const void *x, float *y, size_t k) { bk_dequantize_row_q2_K_ref(x, y, k); }
void bk_dequantize_row_q3_K(const void *x, float *y, size_t k) { bk_dequantize_row_q3_K_ref(x, y, k); }
void bk_dequantize_row_q4_K(const void *x, float *y, size_t k) { bk_dequantize_row_q4_K_ref(x, y, k); }
void bk_dequantize_row_q5_K(const void *x, float *y, size_t k) { bk_dequantize_row_q5_K_ref(x, y, k); }
void bk_dequantize_row_q6_K(const void *x, float *y, size_t k) { bk_dequantize_row_q6_K_ref(x, y, k); }
