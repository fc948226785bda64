// Importance-weighted quantization (llama-quantize --imatrix): ggml's quantize_row_{q4_0,q4_1,q5_0,q5_1}_impl and
// quantize_row_{q2,q3,q4,q5,q6}_K_impl with quant_weights, operation by operation and in f32 as ggml-base computes
// them (no FMA), so the bytes are llama-quantize's with the same importance values. Scalar only: these run once per
// conversion. The K-quants share their block tails (requantize with the stored scales, pack) with bk_quant_k.c.
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

/// The per-element weights of n values: importance · sqrt(σ² + x²). Returns their sum.
static float wq_weights(int n, const float *x, const float *qw, float sigma2, float *weight) {
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        weight[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
        sum += weight[j];
    }
    return sum;
}

static float wq_sum_squares(const float *x, size_t n) {
    float sum_x2 = 0.0f;
    for (size_t j = 0; j < n; j++) sum_x2 += x[j] * x[j];
    return sum_x2;
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
    const float sigma2 = wq_sum_squares(x, n) / (float)n;
    float weight[BK_QK];
    int8_t L[BK_QK];
    for (size_t b = 0; b < n / BK_QK; b++, x += BK_QK, qw += BK_QK, y += block_bytes) {
        wq_weights(BK_QK, x, qw, sigma2, weight);
        const float d = bk_qx_quants(BK_QK, nmax, x, L, weight);
        bk_store_half(y, bk_kq_half(d));
        if (nmax == 8) wq_store_q4(y + 2, (const uint8_t *)L); else wq_store_q5(y + 6, y + 2, (const uint8_t *)L);
    }
}

// Types with a min (Q4_1: nmax 15, Q5_1: nmax 31).
static void wq_row_with_min(const float *x, uint8_t *y, size_t n, const float *qw, int nmax, size_t block_bytes) {
    const float sigma2 = wq_sum_squares(x, n) / (float)n;
    float weight[BK_QK];
    uint8_t L[BK_QK];
    for (size_t b = 0; b < n / BK_QK; b++, x += BK_QK, qw += BK_QK, y += block_bytes) {
        wq_weights(BK_QK, x, qw, sigma2, weight);
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

// ---- K-quants: super-blocks of 256, σ² from the super-block, sub-block scales (and mins) quantized in turn
// with the summed weights of their sub-blocks ----------------------------------------------------------------------

// make_qp_quants: quants 0...nmax of n non-negative values (the sub-block scales or mins of a super-block) with
// weights w: the best of 9 inverse scales around nmax/max, then up to 5 passes moving single quants while the
// weighted fit improves. L holds ggml's uint8_t quants (a negative level wraps, as there).
static float wq_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0.0f;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < 1e-15f) {  // ggml's GROUP_MAX_EPS
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)bk_nearest_int(iscale * x[i]);
    const float scale = 1.0f / iscale;
    float best_mse = 0.0f;
    for (int i = 0; i < n; i++) {
        const float diff = x[i] - scale * (float)L[i];
        best_mse += w[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * (float)is + (float)nmax) / max;
        const float scale_is = 1.0f / iscale_is;
        float mse = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = bk_nearest_int(iscale_is * x[i]);
            const float diff = x[i] - scale_is * (float)(l < nmax ? l : nmax);
            mse += w[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = bk_nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l;
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * (float)L[i];
            float sl2 = suml2 - w[i] * (float)L[i] * (float)L[i];
            if (!(slx > 0.0f && sl2 > 0.0f)) continue;
            int l = bk_nearest_int(x[i] * sl2 / slx);
            l = l < nmax ? l : nmax;
            if (l == L[i]) continue;
            slx += w[i] * x[i] * (float)l;
            sl2 += w[i] * (float)l * (float)l;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (uint8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/// 2·(mean square) of a super-block: the σ² of Q3_K, Q4_K and Q5_K (Q2_K takes the plain mean square).
static float wq_super_sigma2(const float *x) { return 2.0f * wq_sum_squares(x, BK_QK_K) / (float)BK_QK_K; }

static void wq_q2_K_block(const float *x, const float *qw, block_q2_K *y) {
    const float sigma2 = wq_sum_squares(x, BK_QK_K) / (float)BK_QK_K;
    uint8_t L[BK_QK_K], Ls[16], Lm[16];
    float scales[16], mins[16], sw[16], weight[16];
    for (int j = 0; j < 16; j++) {
        sw[j] = wq_weights(16, x + 16 * j, qw + 16 * j, sigma2, weight);
        scales[j] = wq_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j]);
    }
    y->d = bk_kq_half(wq_qp_quants(16, 15, scales, Ls, sw));
    y->dmin = bk_kq_half(wq_qp_quants(16, 15, mins, Lm, sw));
    for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    bk_kq_q2_K_finish(x, y, L);
}

static void wq_q3_K_block(const float *x, const float *qw, block_q3_K *y) {
    const float sigma2 = wq_super_sigma2(x);
    int8_t L[BK_QK_K], Ls[16];
    float scales[16], sw[16], weight[16];
    for (int j = 0; j < 16; j++) {
        sw[j] = wq_weights(16, x + 16 * j, qw + 16 * j, sigma2, weight);
        scales[j] = bk_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
    }
    const float d = bk_qx_quants(16, 32, scales, Ls, sw);
    bk_kq_q3_K_finish(x, Ls, d, y, L);
}

// Q4_K (nmax 15) and Q5_K (nmax 31); ggml caps Q5_K's 6-bit scales at 63, not Q4_K's.
static void wq_q45_K_block(const float *x, const float *qw, int nmax, void *block) {
    const float sigma2 = wq_super_sigma2(x);
    uint8_t L[BK_QK_K], Ls[8], Lm[8];
    float scales[8], mins[8], sw[8], weight[32];
    for (int j = 0; j < 8; j++) {
        sw[j] = wq_weights(32, x + 32 * j, qw + 32 * j, sigma2, weight);
        scales[j] = wq_qkx3_quants(32, nmax, x + 32 * j, weight, L + 32 * j, &mins[j]);
    }
    const float d = wq_qp_quants(8, 63, scales, Ls, sw);
    const float dmin = wq_qp_quants(8, 63, mins, Lm, sw);
    if (nmax == 31) {
        for (int j = 0; j < 8; j++) {
            Ls[j] = Ls[j] < 63 ? Ls[j] : 63;
            Lm[j] = Lm[j] < 63 ? Lm[j] : 63;
        }
    }
    bk_kq_q45_K_store(x, Ls, Lm, d, dmin, L, nmax, block);
}

// Q6_K weighs each value by its importance alone (ggml leaves σ² out here).
static void wq_q6_K_block(const float *x, const float *qw, block_q6_K *y) {
    int8_t L[BK_QK_K];
    float scales[16];
    for (int j = 0; j < 16; j++) scales[j] = bk_qx_quants(16, 32, x + 16 * j, L + 16 * j, qw + 16 * j);
    bk_kq_q6_K_finish(x, y, L, scales);
}

void bk_quantize_row_q2_K_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    block_q2_K *b = y;
    for (size_t i = 0; i < n / BK_QK_K; i++) wq_q2_K_block(x + i * BK_QK_K, importance + i * BK_QK_K, b + i);
}

void bk_quantize_row_q3_K_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    block_q3_K *b = y;
    for (size_t i = 0; i < n / BK_QK_K; i++) wq_q3_K_block(x + i * BK_QK_K, importance + i * BK_QK_K, b + i);
}

void bk_quantize_row_q4_K_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    block_q4_K *b = y;
    for (size_t i = 0; i < n / BK_QK_K; i++) wq_q45_K_block(x + i * BK_QK_K, importance + i * BK_QK_K, 15, b + i);
}

void bk_quantize_row_q5_K_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    block_q5_K *b = y;
    for (size_t i = 0; i < n / BK_QK_K; i++) wq_q45_K_block(x + i * BK_QK_K, importance + i * BK_QK_K, 31, b + i);
}

void bk_quantize_row_q6_K_weighted_ref(const float *x, void *y, size_t n, const float *importance) {
    block_q6_K *b = y;
    for (size_t i = 0; i < n / BK_QK_K; i++) wq_q6_K_block(x + i * BK_QK_K, importance + i * BK_QK_K, b + i);
}
