// Reference (scalar) K-quants: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K, super-blocks of 256 values. The searches follow
// ggml's quantize_row_*_ref (ggml-quants.c) operation by operation, in the same order and the same f32 precision,
// so the bytes are those llama-quantize writes without an importance matrix; see bk_quant.h for the contract.
#include "bk_quant_internal.h"
#include <math.h>

// ggml-base (where llama-quantize's quantizers live) is built without -march=native: no FMA, every product and
// sum rounded to f32 on its own. Keep it that way here.
#pragma STDC FP_CONTRACT OFF

/// A sub-block whose largest |x| is below this is all zero (ggml's GROUP_MAX_EPS).
#define KQ_GROUP_EPS 1e-15f

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

// make_qx_quants with rmse_type 1: symmetric quants in [-nmax, nmax-1] stored as l + nmax, weights qw (x² when
// qw is NULL: Q6_K without an importance matrix), scale refined over 18 trial inverse scales around -nmax/max.
float bk_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < KQ_GROUP_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, bk_nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = imax(-nmax, imin(nmax - 1, bk_nearest_int(iscale * x[i])));
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, bk_nearest_int(iscale * x[i]))));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// make_q3_quants with do_rmse (Q3_K): start from -nmax/max, then up to 5 passes moving single quants while the
// weighted (x²) fit improves.
static float q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < KQ_GROUP_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, bk_nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0.0f)) continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            const int l = imax(-nmax, imin(nmax - 1, bk_nearest_int(x[i] * sl2 / slx)));
            if (l == L[i]) continue;
            slx += w * x[i] * (float)l;
            sl2 += w * (float)l * (float)l;
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static float qkx2_quants(const bk_kq_search *s, const float *x, const float *w, uint8_t *L, float *the_min) {
    const int n = s->n, nmax = s->nmax;
    uint8_t Laux[32];
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
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)imax(0, imin(nmax, bk_nearest_int(iscale * (x[i] - min))));
        float diff = scale * (float)L[i] + min - x[i];
        diff = s->use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    for (int is = 0; is <= s->nstep; is++) {
        iscale = (s->rmin + s->rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = imax(0, imin(nmax, bk_nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0.0f)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0.0f;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            diff = s->use_mad ? fabsf(diff) : diff * diff;
            cur_error += w[i] * diff;
        }
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

void bk_kq_qkx2_quants_ref(const bk_kq_search *s, int groups, const float *x, const float *w, uint8_t *L,
                           float *scales, float *mins) {
    for (int j = 0; j < 8 * groups; j++) scales[j] = qkx2_quants(s, x + j * s->n, w + j * s->n, L + j * s->n, &mins[j]);
}

void bk_kq_qx_quants8_ref(const float *x, int8_t *L, float *scales) {
    for (int j = 0; j < 8; j++) scales[j] = bk_qx_quants(16, 32, x + 16 * j, L + 16 * j, NULL);
}

/// The 6-bit scale and min of sub-block j of Q4_K/Q5_K (ggml's get_scale_min_k4).
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void bk_kq_q2_K_finish(const float *x, block_q2_K *y, uint8_t *L) {
    for (int j = 0; j < 16; j++) {
        const float d = bk_f16_to_f32_scalar(y->d) * (float)(y->scales[j] & 0xF);
        if (d == 0.0f) continue;
        const float dm = bk_f16_to_f32_scalar(y->dmin) * (float)(y->scales[j] >> 4);
        for (int i = 0; i < 16; i++) {
            L[16 * j + i] = (uint8_t)imax(0, imin(3, bk_nearest_int((x[16 * j + i] + dm) / d)));
        }
    }
    for (int j = 0; j < BK_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            y->qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

static void q2_K_block(const float *x, block_q2_K *y, bk_kq_qkx2_fn search) {
    static const bk_kq_search s = {16, 3, -0.5f, 0.1f, 15, 1};
    uint8_t L[BK_QK_K];
    float weights[BK_QK_K], mins[16], scales[16];
    for (int l = 0; l < BK_QK_K; l++) weights[l] = fabsf(x[l]);
    search(&s, 2, x, weights, L, scales, mins);
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 16; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0.0f) {
        const float iscale = 15.0f / max_scale;
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)bk_nearest_int(iscale * scales[j]);
        y->d = bk_kq_half(max_scale / 15.0f);
    } else {
        memset(y->scales, 0, sizeof y->scales);
        y->d = bk_kq_half(0.0f);
    }
    if (max_min > 0.0f) {
        const float iscale = 15.0f / max_min;
        for (int j = 0; j < 16; j++) y->scales[j] |= (uint8_t)(bk_nearest_int(iscale * mins[j]) << 4);
        y->dmin = bk_kq_half(max_min / 15.0f);
    } else {
        y->dmin = bk_kq_half(0.0f);
    }
    bk_kq_q2_K_finish(x, y, L);
}

void bk_kq_q3_quants16_ref(const float *x, int8_t *L, float *scales) {
    for (int j = 0; j < 16; j++) scales[j] = q3_quants(16, 4, x + 16 * j, L + 16 * j);
}

void bk_kq_q3_K_finish(const float *x, const int8_t *ls, float d, block_q3_K *y, int8_t *L) {
    memset(y->scales, 0, sizeof y->scales);
    for (int j = 0; j < 16; j++) {  // low 4 bits in scales[0..7], high 2 bits in scales[8..11]
        if (j < 8) y->scales[j] = (uint8_t)(ls[j] & 0xF);
        else y->scales[j - 8] |= (uint8_t)((ls[j] & 0xF) << 4);
        y->scales[j % 4 + 8] |= (uint8_t)((ls[j] >> 4) << (2 * (j / 4)));
    }
    y->d = bk_kq_half(d);
    for (int j = 0; j < 16; j++) {
        const int low = j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4;
        const int sc = (int8_t)((low | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        const float d = bk_f16_to_f32_scalar(y->d) * (float)sc;
        if (d == 0.0f) continue;
        for (int i = 0; i < 16; i++) {
            L[16 * j + i] = (int8_t)(imax(-4, imin(3, bk_nearest_int(x[16 * j + i] / d))) + 4);
        }
    }
    memset(y->hmask, 0, sizeof y->hmask);
    // High bits: bit b of hmask[m] belongs to element 32·b + m.
    for (int j = 0; j < BK_QK_K; j++) {
        if (L[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            L[j] -= 4;
        }
    }
    for (int j = 0; j < BK_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            y->qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

static void q3_K_block(const float *x, block_q3_K *y, bk_kq_q3_fn search) {
    int8_t L[BK_QK_K];
    float scales[16];
    float max_scale = 0.0f, amax = 0.0f;
    search(x, L, scales);
    for (int j = 0; j < 16; j++) {
        const float a = fabsf(scales[j]);
        if (a > amax) { amax = a; max_scale = scales[j]; }
    }
    int8_t ls[16] = {0};
    float d = 0.0f;
    if (max_scale != 0.0f) {
        const float iscale = -32.0f / max_scale;
        for (int j = 0; j < 16; j++) {
            const int8_t l = (int8_t)bk_nearest_int(iscale * scales[j]);  // wraps to 8 bits as ggml's int8_t does
            ls[j] = (int8_t)(imax(-32, imin(31, l)) + 32);
        }
        d = 1.0f / iscale;
    }
    bk_kq_q3_K_finish(x, ls, d, y, L);
}

/// Q4_K/Q5_K's search weights of one super-block: rms of the sub-block + |x|.
static void q45_K_weights(const float *x, float *weights) {
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) weights[32 * j + l] = av_x + fabsf(xs[l]);
    }
}

/// Q4_K (nmax 15) and Q5_K (nmax 31) from the search of the 8 sub-blocks: 6-bit scales and mins from the
/// largest of each, then bk_kq_q45_K_store.
static void q45_K_finish(const float *x, const float *scales, const float *mins, uint8_t *L, int nmax, void *block) {
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)bk_nearest_int(inv_scale * scales[j]);  // wraps to 8 bits, then capped, as ggml
        lm[j] = (uint8_t)bk_nearest_int(inv_min * mins[j]);
        ls[j] = ls[j] < 63 ? ls[j] : 63;
        lm[j] = lm[j] < 63 ? lm[j] : 63;
    }
    bk_kq_q45_K_store(x, ls, lm, max_scale / 63.0f, max_min / 63.0f, L, nmax, block);
}

static void pack_q4_K(const uint8_t *L, block_q4_K *y) {
    for (int j = 0; j < BK_QK_K; j += 64) {
        for (int l = 0; l < 32; l++) y->qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void pack_q5_K(const uint8_t *L, block_q5_K *y) {
    memset(y->qh, 0, sizeof y->qh);
    for (int n = 0, pair = 0; n < BK_QK_K; n += 64, pair++) {
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) { l1 -= 16; y->qh[j] |= (uint8_t)(1 << (2 * pair)); }
            if (l2 > 15) { l2 -= 16; y->qh[j] |= (uint8_t)(2 << (2 * pair)); }
            y->qs[n / 2 + j] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}

void bk_kq_q45_K_store(const float *x, const uint8_t *ls, const uint8_t *lm, float d, float dmin, uint8_t *L,
                       int nmax, void *block) {
    uint8_t scales[12];
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    const uint16_t hd = bk_kq_half(d), hmin = bk_kq_half(dmin);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        scale_min_k4(j, scales, &sc, &m);
        const float dj = bk_f16_to_f32_scalar(hd) * (float)sc;
        if (dj == 0.0f) continue;
        const float dm = bk_f16_to_f32_scalar(hmin) * (float)m;
        for (int i = 0; i < 32; i++) {
            L[32 * j + i] = (uint8_t)imax(0, imin(nmax, bk_nearest_int((x[32 * j + i] + dm) / dj)));
        }
    }
    if (nmax == 15) {
        block_q4_K blk;
        memcpy(blk.scales, scales, sizeof scales);
        blk.d = hd;
        blk.dmin = hmin;
        pack_q4_K(L, &blk);
        memcpy(block, &blk, sizeof blk);
    } else {
        block_q5_K blk;
        memcpy(blk.scales, scales, sizeof scales);
        blk.d = hd;
        blk.dmin = hmin;
        pack_q5_K(L, &blk);
        memcpy(block, &blk, sizeof blk);
    }
}

/// Q6_K after the 16 sub-block searches: the whole block from their scales (L is updated).
void bk_kq_q6_K_finish(const float *x, block_q6_K *y, int8_t *L, const float *scales) {
    float max_scale = 0.0f, max_abs_scale = 0.0f;
    for (int ib = 0; ib < 16; ib++) {
        const float a = fabsf(scales[ib]);
        if (a > max_abs_scale) { max_abs_scale = a; max_scale = scales[ib]; }
    }
    if (max_abs_scale < KQ_GROUP_EPS) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -128.0f / max_scale;
    y->d = bk_kq_half(1.0f / iscale);
    for (int ib = 0; ib < 16; ib++) y->scales[ib] = (int8_t)imin(127, bk_nearest_int(iscale * scales[ib]));
    for (int j = 0; j < 16; j++) {
        const float d = bk_f16_to_f32_scalar(y->d) * (float)y->scales[j];
        if (d == 0.0f) continue;
        for (int i = 0; i < 16; i++) {
            L[16 * j + i] = (int8_t)(imax(-32, imin(31, bk_nearest_int(x[16 * j + i] / d))) + 32);
        }
    }
    for (int j = 0; j < BK_QK_K; j += 128) {
        uint8_t *ql = y->ql + j / 2, *qh = y->qh + j / 4;
        for (int l = 0; l < 32; l++) {
            const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
            ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
            qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    }
}

// ---- row entries: the reference searches, or their SIMD twins -------------------------------------------------

static void q2_K_row(const float *x, void *vy, size_t k, bk_kq_qkx2_fn search) {
    block_q2_K *y = vy;
    for (size_t b = 0; b < k / BK_QK_K; b++) {
        block_q2_K blk;
        q2_K_block(x + b * BK_QK_K, &blk, search);
        memcpy(y + b, &blk, sizeof blk);
    }
}

/// Q4_K (nmax 15) and Q5_K (nmax 31) rows: super-blocks searched two at a time, then finished and packed.
static void q45_K_row(const float *x, uint8_t *y, size_t k, int nmax, bk_kq_qkx2_fn search) {
    const bk_kq_search s = {32, nmax, nmax == 15 ? -1.0f : -0.5f, 0.1f, nmax == 15 ? 20 : 15, 0};
    const size_t blocks = k / BK_QK_K;
    for (size_t b = 0; b < blocks; b += 2) {
        const int groups = b + 1 < blocks ? 2 : 1;
        const float *xb = x + b * BK_QK_K;
        float weights[2 * BK_QK_K], scales[16], mins[16];
        uint8_t L[2 * BK_QK_K];
        for (int g = 0; g < groups; g++) q45_K_weights(xb + g * BK_QK_K, weights + g * BK_QK_K);
        search(&s, groups, xb, weights, L, scales, mins);
        for (int g = 0; g < groups; g++) {
            const size_t at = (b + (size_t)g) * (nmax == 15 ? sizeof(block_q4_K) : sizeof(block_q5_K));
            q45_K_finish(xb + g * BK_QK_K, scales + 8 * g, mins + 8 * g, L + g * BK_QK_K, nmax, y + at);
        }
    }
}

static void q6_K_row(const float *x, void *vy, size_t k, bk_kq_qx_fn search) {
    block_q6_K *y = vy;
    for (size_t b = 0; b < k / BK_QK_K; b++) {
        const float *xb = x + b * BK_QK_K;
        block_q6_K blk;
        int8_t L[BK_QK_K];
        float scales[16];
        search(xb, L, scales);
        search(xb + 128, L + 128, scales + 8);
        bk_kq_q6_K_finish(xb, &blk, L, scales);
        memcpy(y + b, &blk, sizeof blk);
    }
}

void bk_quantize_row_q2_K_ref(const float *x, void *y, size_t k) { q2_K_row(x, y, k, bk_kq_qkx2_quants_ref); }
void bk_quantize_row_q4_K_ref(const float *x, void *y, size_t k) { q45_K_row(x, y, k, 15, bk_kq_qkx2_quants_ref); }
void bk_quantize_row_q5_K_ref(const float *x, void *y, size_t k) { q45_K_row(x, y, k, 31, bk_kq_qkx2_quants_ref); }
void bk_quantize_row_q6_K_ref(const float *x, void *y, size_t k) { q6_K_row(x, y, k, bk_kq_qx_quants8_ref); }
#if defined(__x86_64__)
void bk_quantize_row_q2_K_avx2(const float *x, void *y, size_t k) { q2_K_row(x, y, k, bk_kq_qkx2_quants_avx2); }
void bk_quantize_row_q4_K_avx2(const float *x, void *y, size_t k) { q45_K_row(x, y, k, 15, bk_kq_qkx2_quants_avx2); }
void bk_quantize_row_q5_K_avx2(const float *x, void *y, size_t k) { q45_K_row(x, y, k, 31, bk_kq_qkx2_quants_avx2); }
void bk_quantize_row_q6_K_avx2(const float *x, void *y, size_t k) { q6_K_row(x, y, k, bk_kq_qx_quants8_avx2); }
#endif

static void q3_K_row(const float *x, void *vy, size_t k, bk_kq_q3_fn search) {
    block_q3_K *y = vy;
    for (size_t b = 0; b < k / BK_QK_K; b++) {
        block_q3_K blk;
        q3_K_block(x + b * BK_QK_K, &blk, search);
        memcpy(y + b, &blk, sizeof blk);
    }
}

void bk_quantize_row_q3_K_ref(const float *x, void *y, size_t k) { q3_K_row(x, y, k, bk_kq_q3_quants16_ref); }
#if defined(__x86_64__)
void bk_quantize_row_q3_K_avx2(const float *x, void *y, size_t k) { q3_K_row(x, y, k, bk_kq_q3_quants16_avx2); }
#endif

// ---- dequantizers ----------------------------------------------------------------------------------------------

void bk_dequantize_row_q2_K_ref(const void *vx, float *y, size_t k) {
    for (size_t b = 0; b < k / BK_QK_K; b++) {
        block_q2_K x;
        memcpy(&x, (const block_q2_K *)vx + b, sizeof x);
        const float d = bk_f16_to_f32_scalar(x.d), min = bk_f16_to_f32_scalar(x.dmin);
        for (int n = 0, is = 0; n < BK_QK_K; n += 128) {
            const uint8_t *q = x.qs + n / 4;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++, is++) {
                    const float dl = d * (float)(x.scales[is] & 0xF), ml = min * (float)(x.scales[is] >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void bk_dequantize_row_q3_K_ref(const void *vx, float *y, size_t k) {
    for (size_t b = 0; b < k / BK_QK_K; b++) {
        block_q3_K x;
        memcpy(&x, (const block_q3_K *)vx + b, sizeof x);
        const float d_all = bk_f16_to_f32_scalar(x.d);
        int8_t scales[16];
        for (int j = 0; j < 16; j++) {
            const int low = j < 8 ? x.scales[j] & 0xF : x.scales[j - 8] >> 4;
            scales[j] = (int8_t)(low | (((x.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4));
        }
        int is = 0, bit = 0;
        for (int n = 0; n < BK_QK_K; n += 128) {
            const uint8_t *q = x.qs + n / 4;
            for (int shift = 0; shift < 8; shift += 2, bit++) {
                for (int half = 0; half < 2; half++, is++) {
                    const float dl = d_all * (float)(scales[is] - 32);
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        const int hi = (x.hmask[l] >> bit) & 1 ? 0 : 4;
                        *y++ = dl * (float)(((q[l] >> shift) & 3) - hi);
                    }
                }
            }
        }
    }
}

/// Q4_K and Q5_K: eight sub-blocks of 32, q = low nibble (+16 from qh for Q5_K).
static void dequantize_q45_K(const uint8_t *scales, uint16_t hd, uint16_t hmin, const uint8_t *qs, const uint8_t *qh,
                             float *y) {
    const float d = bk_f16_to_f32_scalar(hd), min = bk_f16_to_f32_scalar(hmin);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        scale_min_k4(j, scales, &sc, &m);
        const float dj = d * (float)sc, mj = min * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) {
            const int hi = qh && ((qh[l] >> j) & 1) ? 16 : 0;
            y[32 * j + l] = dj * (float)(((q[l] >> shift) & 0xF) + hi) - mj;
        }
    }
}

void bk_dequantize_row_q4_K_ref(const void *vx, float *y, size_t k) {
    for (size_t b = 0; b < k / BK_QK_K; b++, y += BK_QK_K) {
        block_q4_K x;
        memcpy(&x, (const block_q4_K *)vx + b, sizeof x);
        dequantize_q45_K(x.scales, x.d, x.dmin, x.qs, NULL, y);
    }
}

void bk_dequantize_row_q5_K_ref(const void *vx, float *y, size_t k) {
    for (size_t b = 0; b < k / BK_QK_K; b++, y += BK_QK_K) {
        block_q5_K x;
        memcpy(&x, (const block_q5_K *)vx + b, sizeof x);
        dequantize_q45_K(x.scales, x.d, x.dmin, x.qs, x.qh, y);
    }
}

void bk_dequantize_row_q6_K_ref(const void *vx, float *y, size_t k) {
    for (size_t b = 0; b < k / BK_QK_K; b++) {
        block_q6_K x;
        memcpy(&x, (const block_q6_K *)vx + b, sizeof x);
        const float d = bk_f16_to_f32_scalar(x.d);
        for (int n = 0; n < 2; n++, y += 128) {
            const uint8_t *ql = x.ql + 64 * n, *qh = x.qh + 32 * n;
            const int8_t *sc = x.scales + 8 * n;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}
