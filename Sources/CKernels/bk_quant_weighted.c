// Importance-weighted quantization (llama-quantize --imatrix): ggml's quantize_row_{q4_0,q4_1,q5_0,q5_1}_impl with
// quant_weights, operation by operation and in f32 as ggml-base computes them (no FMA), so the bytes are
// llama-quantize's with the same importance values. Scalar only: these run once per conversion.
#include "bk_quant_internal.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

static inline int wq_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// make_qkx3_quants(n, nmax, x, w, L, &min, Laux, rmin -0.9, rdelta 0.05, nstep 36, use_mad false): levels
// 0...nmax with a min, the weighted squared error minimised over 37 trial inverse scales. Returns the scale;
// *the_min receives -min.
static float wq_qkx3_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min) {
    const float rmin = -0.9f, rdelta = 0.05f;
    const int nstep = 36;
    uint8_t Laux[BK_QK];
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_mad = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = bk_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)wq_clamp(l, 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = diff * diff;
        best_mad += w[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = wq_clamp(bk_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = diff * diff;
                mad += w[i] * diff;
            }
            if (mad < best_mad) {
                memcpy(L, Laux, (size_t)n);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/// The per-element weights of one block: importance · sqrt(σ² + x²), σ² the row's mean square.
static void wq_block_weights(const float *x, const float *qw, float sigma2, float *weight) {
    for (int j = 0; j < BK_QK; j++) weight[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

static float wq_row_sigma2(const float *x, size_t n) {
    float sum_x2 = 0.0f;
    for (size_t j = 0; j < n; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / (float)n;
}

static void wq_store_q4(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

static void wq_store_q5(uint8_t *qs, uint8_t *qh, const uint8_t *L) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        h |= (uint32_t)((L[j] & 0x10u) >> 4) << j;
        h |= (uint32_t)((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    const uint8_t le[4] = {(uint8_t)h, (uint8_t)(h >> 8), (uint8_t)(h >> 16), (uint8_t)(h >> 24)};
    memcpy(qh, le, 4);
}

// Symmetric types (Q4_0: nmax 8, Q5_0: nmax 16).
static void wq_row_symmetric(const float *x, uint8_t *y, size_t n, const float *qw, int nmax, size_t block_bytes) {
    const float sigma2 = wq_row_sigma2(x, n);
    float weight[BK_QK];
    int8_t L[BK_QK];
    for (size_t b = 0; b < n / BK_QK; b++, x += BK_QK, qw += BK_QK, y += block_bytes) {
        wq_block_weights(x, qw, sigma2, weight);
        const float d = bk_qx_quants(BK_QK, nmax, x, L, weight);
        bk_store_half(y, bk_kq_half(d));
        if (nmax == 8) wq_store_q4(y + 2, (const uint8_t *)L); else wq_store_q5(y + 6, y + 2, (const uint8_t *)L);
    }
}

// Types with a min (Q4_1: nmax 15, Q5_1: nmax 31).
static void wq_row_with_min(const float *x, uint8_t *y, size_t n, const float *qw, int nmax, size_t block_bytes) {
    const float sigma2 = wq_row_sigma2(x, n);
    float weight[BK_QK];
    uint8_t L[BK_QK];
    for (size_t b = 0; b < n / BK_QK; b++, x += BK_QK, qw += BK_QK, y += block_bytes) {
        wq_block_weights(x, qw, sigma2, weight);
        float min;
        const float d = wq_qkx3_quants(BK_QK, nmax, x, weight, L, &min);
        bk_store_half(y, bk_kq_half(d));
        bk_store_half(y + 2, bk_kq_half(-min));
        if (nmax == 15) wq_store_q4(y + 4, L); else wq_store_q5(y + 8, y + 4, L);
    }
}

void bk_quantize_row_q4_0_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    wq_row_symmetric(x, y, n, importance, 8, sizeof(block_q4_0));
}

void bk_quantize_row_q4_1_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    wq_row_with_min(x, y, n, importance, 15, sizeof(block_q4_1));
}

void bk_quantize_row_q5_0_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    wq_row_symmetric(x, y, n, importance, 16, sizeof(block_q5_0));
}

void bk_quantize_row_q5_1_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    wq_row_with_min(x, y, n, importance, 31, sizeof(block_q5_1));
}
