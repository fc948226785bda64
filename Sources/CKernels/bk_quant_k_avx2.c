// AVX2 twins of the K-quant searches (bk_quant_k.c): eight sub-blocks at once, one per lane. Each lane runs its
// sub-block's loop in the reference's order with the same IEEE operations (no FMA: products and sums rounded
// separately, divisions and square roots exact), and the reference's branches become per-lane blends, so every
// result equals the scalar one bit for bit. Only called when bk_simd_level() >= BK_SIMD_AVX2.
#include "bk_quant_internal.h"
#include "bk_transpose.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

#define BK_AVX2 __attribute__((target("avx2,fma,f16c")))

/// The 8 sub-blocks of n at x (sub-block j at x + j·n) as n columns: lane j of c[i] is x[j·n + i].
BK_AVX2 static inline void columns(const float *x, int n, __m256 *c) {
    for (int i = 0; i < n; i += 8) {
        for (int j = 0; j < 8; j++) c[i + j] = _mm256_loadu_ps(x + j * n + i);
        bk_transpose8(c + i);
    }
}

/// n columns of small whole numbers (0...255, as floats) back to bytes: lane j of c[i] to L[j·n + i].
BK_AVX2 static inline void store_columns_u8(uint8_t *L, int n, const __m256 *c) {
    for (int i = 0; i < n; i += 8) {
        __m256 r[8];
        for (int j = 0; j < 8; j++) r[j] = c[i + j];
        bk_transpose8(r);
        for (int j = 0; j < 8; j++) {
            const __m256i v = _mm256_cvtps_epi32(r[j]);
            const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(L + j * n + i), _mm_packus_epi16(w, w));
        }
    }
}

/// ggml's nearest_int, lane by lane.
BK_AVX2 static inline __m256i nearest(__m256 v) {
    const __m256i bits = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
    return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}

BK_AVX2 static inline __m256i clamp(__m256i v, int lo, int hi) {
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(lo)), _mm256_set1_epi32(hi));
}

BK_AVX2 static inline __m256 gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }

BK_AVX2 static inline __m256 absps(__m256 v) {
    return _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u)), v);
}

/// Lane j of column i back to L[j·n + i].
BK_AVX2 static inline void scatter_u8(uint8_t *L, int n, int i, __m256i v) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, v);
    for (int j = 0; j < 8; j++) L[j * n + i] = (uint8_t)t[j];
}

/// ggml's clamped nearest_int of v as a float: exact for |v| < 2^22, where nearest_int rounds to the nearest even
/// integer as vroundps does, and for NaN (0: max returns its second operand). A -0 (Q6_K) adds nothing to the sums.
BK_AVX2 static inline __m256 level_f(__m256 v, __m256 lo, __m256 hi) {
    return _mm256_min_ps(_mm256_max_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), lo), hi);
}

/// nearest_int's bit trick itself, clamped, as a float: any v (the lanes level_f cannot vouch for).
BK_AVX2 static inline __m256 level_i(__m256 v, int lo, int hi) { return _mm256_cvtepi32_ps(clamp(nearest(v), lo, hi)); }

/// Lanes whose levels iscale·(x - min) can reach 2^22 in size, given the largest and smallest x - min (the product
/// is monotonic in x): there level_f may differ from nearest_int, and the trial takes level_i. NaN lanes pass.
BK_AVX2 static inline int out_of_range(__m256 iscale, __m256 top, __m256 bottom) {
    const __m256 big = _mm256_set1_ps(4194304.0f);
    const __m256 hi = absps(_mm256_mul_ps(iscale, top)), lo = absps(_mm256_mul_ps(iscale, bottom));
    return _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(hi, big, _CMP_GE_OQ), _mm256_cmp_ps(lo, big, _CMP_GE_OQ)));
}

/// One trial's levels and sums of G groups (level_f when `exact` is 0, else level_i: a constant after inlining).
BK_AVX2 static inline __attribute__((always_inline)) void qkx2_trial(int G, int n, int nmax, const __m256 *iscale,
                                                                   const __m256 *min, __m256 (*X)[32],
                                                                   __m256 (*W)[32], __m256 (*La)[32], __m256 *sum_l,
                                                                   __m256 *sum_l2, __m256 *sum_xl, const int exact) {
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps((float)nmax);
    for (int i = 0; i < n; i++) {
        for (int g = 0; g < G; g++) {
            const __m256 v = _mm256_mul_ps(iscale[g], _mm256_sub_ps(X[g][i], min[g]));
            const __m256 l = La[g][i] = exact ? level_i(v, 0, nmax) : level_f(v, lo, hi);
            const __m256 wl = _mm256_mul_ps(W[g][i], l);
            sum_l[g] = _mm256_add_ps(sum_l[g], wl);
            sum_l2[g] = _mm256_add_ps(sum_l2[g], _mm256_mul_ps(wl, l));
            sum_xl[g] = _mm256_add_ps(sum_xl[g], _mm256_mul_ps(wl, X[g][i]));
        }
    }
}

// G groups of 8 sub-blocks side by side (G is 1, 2 or 4, n 16 or 32: constants after inlining): the groups'
// dependency chains (sequential sums, divisions) overlap in the core, which a single group leaves idle. A lane
// keeps the inverse scale and the min of its best trial rather than its levels, and makes them again at the end.
BK_AVX2 static inline __attribute__((always_inline)) void qkx2_groups(const bk_kq_search *s, const float *x,
                                                                    const float *w, uint8_t *L, float *scales,
                                                                    float *mins, const int G, const int n,
                                                                    const int mad) {
    const int nmax = s->nmax;
    const __m256 zero = _mm256_setzero_ps();
    __m256 X[4][32], W[4][32], La[4][32];
    __m256 min[4], max[4], lowest[4], min0[4], flat[4], sum_w[4], sum_x[4], iscale[4], scale[4], best_error[4];
    __m256 best_iscale[4], best_base[4];
    for (int g = 0; g < G; g++) {
        columns(x + 8 * n * g, n, X[g]);
        columns(w + 8 * n * g, n, W[g]);
        min[g] = max[g] = X[g][0];
        sum_w[g] = W[g][0];
        sum_x[g] = _mm256_mul_ps(sum_w[g], X[g][0]);
    }
    for (int i = 1; i < n; i++) {
        for (int g = 0; g < G; g++) {
            min[g] = _mm256_min_ps(X[g][i], min[g]);  // X < min ? X : min, as the reference's if
            max[g] = _mm256_max_ps(X[g][i], max[g]);
            sum_w[g] = _mm256_add_ps(sum_w[g], W[g][i]);
            sum_x[g] = _mm256_add_ps(sum_x[g], _mm256_mul_ps(W[g][i], X[g][i]));
        }
    }
    for (int g = 0; g < G; g++) {
        lowest[g] = min[g];
        min[g] = min0[g] = best_base[g] = _mm256_blendv_ps(min[g], zero, gt(min[g], zero));
        flat[g] = _mm256_cmp_ps(max[g], min[g], _CMP_EQ_OQ);  // these lanes return early: L = 0, scale 0
        iscale[g] = best_iscale[g] = _mm256_div_ps(_mm256_set1_ps((float)nmax), _mm256_sub_ps(max[g], min[g]));
        scale[g] = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale[g]);
        best_error[g] = zero;
    }
    for (int i = 0; i < n; i++) {
        for (int g = 0; g < G; g++) {
            const __m256 l = level_i(_mm256_mul_ps(iscale[g], _mm256_sub_ps(X[g][i], min[g])), 0, nmax);
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale[g], l), min[g]), X[g][i]);
            diff = mad ? absps(diff) : _mm256_mul_ps(diff, diff);
            best_error[g] = _mm256_add_ps(best_error[g], _mm256_mul_ps(W[g][i], diff));
        }
    }
    for (int is = 0; is <= s->nstep; is++) {
        const __m256 top = _mm256_set1_ps(s->rmin + s->rdelta * (float)is + (float)nmax);
        __m256 sum_l[4], sum_l2[4], sum_xl[4];
        int exact = 0;
        for (int g = 0; g < G; g++) {
            // min moves when a trial wins, and with it the range of later trials (as in the reference)
            const __m256 range = _mm256_sub_ps(max[g], min[g]);
            iscale[g] = _mm256_div_ps(top, range);
            exact |= out_of_range(iscale[g], range, _mm256_sub_ps(lowest[g], min[g]));
            sum_l[g] = sum_l2[g] = sum_xl[g] = zero;
        }
        if (exact) qkx2_trial(G, n, nmax, iscale, min, X, W, La, sum_l, sum_l2, sum_xl, 1);
        else qkx2_trial(G, n, nmax, iscale, min, X, W, La, sum_l, sum_l2, sum_xl, 0);
        __m256 valid[4], this_scale[4], this_min[4], cur_error[4];
        for (int g = 0; g < G; g++) {
            const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w[g], sum_l2[g]), _mm256_mul_ps(sum_l[g], sum_l[g]));
            valid[g] = gt(D, zero);
            this_scale[g] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w[g], sum_xl[g]),
                                                        _mm256_mul_ps(sum_x[g], sum_l[g])), D);
            this_min[g] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2[g], sum_x[g]),
                                                      _mm256_mul_ps(sum_l[g], sum_xl[g])), D);
            const __m256 positive = gt(this_min[g], zero);
            this_min[g] = _mm256_blendv_ps(this_min[g], zero, positive);
            this_scale[g] = _mm256_blendv_ps(this_scale[g], _mm256_div_ps(sum_xl[g], sum_l2[g]), positive);
            cur_error[g] = zero;
        }
        for (int i = 0; i < n; i++) {
            for (int g = 0; g < G; g++) {
                __m256 diff = _mm256_mul_ps(this_scale[g], La[g][i]);
                diff = _mm256_sub_ps(_mm256_add_ps(diff, this_min[g]), X[g][i]);
                diff = mad ? absps(diff) : _mm256_mul_ps(diff, diff);
                cur_error[g] = _mm256_add_ps(cur_error[g], _mm256_mul_ps(W[g][i], diff));
            }
        }
        for (int g = 0; g < G; g++) {
            const __m256 better = _mm256_and_ps(valid[g], _mm256_cmp_ps(cur_error[g], best_error[g], _CMP_LT_OQ));
            best_error[g] = _mm256_blendv_ps(best_error[g], cur_error[g], better);
            best_iscale[g] = _mm256_blendv_ps(best_iscale[g], iscale[g], better);
            best_base[g] = _mm256_blendv_ps(best_base[g], min[g], better);  // the min this trial's levels used
            scale[g] = _mm256_blendv_ps(scale[g], this_scale[g], better);
            min[g] = _mm256_blendv_ps(min[g], this_min[g], better);
        }
    }
    for (int g = 0; g < G; g++) {
        for (int i = 0; i < n; i++) {
            La[g][i] = _mm256_andnot_ps(flat[g], level_i(_mm256_mul_ps(best_iscale[g],
                                                                       _mm256_sub_ps(X[g][i], best_base[g])), 0, nmax));
        }
        store_columns_u8(L + 8 * n * g, n, La[g]);
        _mm256_storeu_ps(scales + 8 * g, _mm256_blendv_ps(scale[g], zero, flat[g]));
        const __m256 m = _mm256_blendv_ps(min[g], min0[g], flat[g]);
        _mm256_storeu_ps(mins + 8 * g, _mm256_xor_ps(m, _mm256_set1_ps(-0.0f)));  // -min: a sign flip, as the reference
    }
}

/// G groups of n at once, G and n constants.
#define QKX2_GROUPS(G, n) \
    (s->use_mad ? qkx2_groups(s, x, w, L, scales, mins, G, n, 1) : qkx2_groups(s, x, w, L, scales, mins, G, n, 0))

BK_AVX2 void bk_kq_qkx2_quants_avx2(const bk_kq_search *s, int groups, const float *x, const float *w, uint8_t *L,
                                    float *scales, float *mins) {
    while (groups > 0) {
        const int G = groups >= 4 ? 4 : groups >= 2 ? 2 : 1;
        if (s->n == 16) {
            if (G == 2) QKX2_GROUPS(2, 16);
            else QKX2_GROUPS(1, 16);
        } else if (G == 4) {
            QKX2_GROUPS(4, 32);
        } else if (G == 2) {
            QKX2_GROUPS(2, 32);
        } else {
            QKX2_GROUPS(1, 32);
        }
        const int done = 8 * G * s->n;
        x += done;
        w += done;
        L += done;
        scales += 8 * G;
        mins += 8 * G;
        groups -= G;
    }
}

/// One trial of make_qx_quants on both groups of 8 (level_f when `exact` is 0, else level_i).
BK_AVX2 static inline __attribute__((always_inline)) void qx_trial(const __m256 *iscale, __m256 (*X)[16],
                                                                 __m256 (*W)[16], __m256 (*WX)[16], __m256 *sumlx,
                                                                 __m256 *suml2, const int exact) {
    const __m256 lo = _mm256_set1_ps(-32.0f), hi = _mm256_set1_ps(31.0f);
    for (int i = 0; i < 16; i++) {
        for (int g = 0; g < 2; g++) {
            const __m256 v = _mm256_mul_ps(iscale[g], X[g][i]);
            const __m256 l = exact ? level_i(v, -32, 31) : level_f(v, lo, hi);
            sumlx[g] = _mm256_add_ps(sumlx[g], _mm256_mul_ps(WX[g][i], l));  // (w·x)·l, as the reference
            suml2[g] = _mm256_add_ps(suml2[g], _mm256_mul_ps(_mm256_mul_ps(W[g][i], l), l));
        }
    }
}

// Two groups of 8 sub-blocks side by side, as qkx2_groups. With finite x a lane's levels iscale·x stay within
// nmax + 1 in size (|x| <= |max|), where level_f is exact; an all-zero lane's NaN levels are dropped at the end. A
// block with an infinite or NaN value takes level_i throughout. A lane keeps the inverse scale of its best trial
// and makes its levels again at the end.
BK_AVX2 void bk_kq_qx_quants16_avx2(const float *x, int8_t *L, float *scales) {
    enum { n = 16, nmax = 32 };
    const __m256 zero = _mm256_setzero_ps(), inf = _mm256_set1_ps(INFINITY);
    __m256 X[2][n], W[2][n], WX[2][n];
    __m256 max[2], amax[2], tiny[2], iscale[2], best_iscale[2], sumlx[2], suml2[2], scale[2], best[2];
    __m256 nonfinite = zero;
    for (int g = 0; g < 2; g++) {
        columns(x + 8 * n * g, n, X[g]);
        max[g] = amax[g] = zero;
        for (int i = 0; i < n; i++) {
            W[g][i] = _mm256_mul_ps(X[g][i], X[g][i]);
            WX[g][i] = _mm256_mul_ps(W[g][i], X[g][i]);
            const __m256 ax = absps(X[g][i]);
            nonfinite = _mm256_or_ps(nonfinite, _mm256_cmp_ps(ax, inf, _CMP_NLT_UQ));
            const __m256 larger = gt(ax, amax[g]);
            amax[g] = _mm256_blendv_ps(amax[g], ax, larger);
            max[g] = _mm256_blendv_ps(max[g], X[g][i], larger);
        }
        tiny[g] = _mm256_cmp_ps(amax[g], _mm256_set1_ps(1e-15f), _CMP_LT_OQ);  // all zero: L = 0, scale 0
        iscale[g] = best_iscale[g] = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max[g]);
        sumlx[g] = suml2[g] = zero;
    }
    qx_trial(iscale, X, W, WX, sumlx, suml2, 1);
    const int exact = _mm256_movemask_ps(nonfinite) != 0;
    for (int g = 0; g < 2; g++) {
        // scale = suml2 ? sumlx/suml2 : 0 (a NaN suml2 counts as true)
        scale[g] = _mm256_blendv_ps(_mm256_div_ps(sumlx[g], suml2[g]), zero, _mm256_cmp_ps(suml2[g], zero, _CMP_EQ_OQ));
        best[g] = _mm256_mul_ps(scale[g], sumlx[g]);
    }
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const __m256 top = _mm256_set1_ps(-((float)nmax + 0.1f * (float)is));
        for (int g = 0; g < 2; g++) {
            iscale[g] = _mm256_div_ps(top, max[g]);
            sumlx[g] = suml2[g] = zero;
        }
        if (exact) qx_trial(iscale, X, W, WX, sumlx, suml2, 1);
        else qx_trial(iscale, X, W, WX, sumlx, suml2, 0);
        for (int g = 0; g < 2; g++) {
            const __m256 fits = gt(_mm256_mul_ps(sumlx[g], sumlx[g]), _mm256_mul_ps(best[g], suml2[g]));
            const __m256 better = _mm256_and_ps(gt(suml2[g], zero), fits);
            if (_mm256_movemask_ps(better) == 0) continue;
            best_iscale[g] = _mm256_blendv_ps(best_iscale[g], iscale[g], better);
            const __m256 s = _mm256_div_ps(sumlx[g], suml2[g]);
            scale[g] = _mm256_blendv_ps(scale[g], s, better);
            best[g] = _mm256_blendv_ps(best[g], _mm256_mul_ps(s, sumlx[g]), better);
        }
    }
    for (int g = 0; g < 2; g++) {
        __m256 Lb[n];
        for (int i = 0; i < n; i++) {
            const __m256 l = level_i(_mm256_mul_ps(best_iscale[g], X[g][i]), -nmax, nmax - 1);
            Lb[i] = _mm256_andnot_ps(tiny[g], _mm256_add_ps(l, _mm256_set1_ps(nmax)));
        }
        store_columns_u8((uint8_t *)L + 8 * n * g, n, Lb);
        _mm256_storeu_ps(scales + 8 * g, _mm256_blendv_ps(scale[g], zero, tiny[g]));
    }
}
BK_AVX2 void bk_kq_levels_avx2(const float *x, int count, int n, const float *d, const float *m, int lo, int hi,
                               int off, uint8_t *L) {
    for (int j = 0; j < count; j++) {
        if (d[j] == 0.0f) continue;
        const __m256 dj = _mm256_set1_ps(d[j]), mj = _mm256_set1_ps(m[j]);
        for (int i = 0; i < n; i += 8) {
            const __m256 v = _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(x + n * j + i), mj), dj);
            const __m256i q = _mm256_add_epi32(clamp(nearest(v), lo, hi), _mm256_set1_epi32(off));
            const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            _mm_storel_epi64((__m128i *)(L + n * j + i), _mm_packus_epi16(w, w));
        }
    }
}

// make_q3_quants, 8 sub-blocks of 16 per group: each lane makes its own refinement passes; a lane that changed
// nothing in a pass stops there, as the reference breaks out of its loop.
BK_AVX2 static void q3_quants8(const float *x, int8_t *L, float *scales) {
    enum { n = 16, nmax = 4 };
    __m256 X[n], WX[n];
    __m256i Lb[n];
    const __m256 zero = _mm256_setzero_ps();
    __m256 max = zero, amax = zero;
    columns(x, n, X);
    for (int i = 0; i < n; i++) {
        WX[i] = _mm256_mul_ps(_mm256_mul_ps(X[i], X[i]), X[i]);  // w·x with w = x², as (x·x)·x
        const __m256 ax = absps(X[i]);
        const __m256 larger = gt(ax, amax);
        amax = _mm256_blendv_ps(amax, ax, larger);
        max = _mm256_blendv_ps(max, X[i], larger);
    }
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_LT_OQ);  // all zero: L = 0, scale 0
    const __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max);
    __m256 sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        Lb[i] = clamp(nearest(_mm256_mul_ps(iscale, X[i])), -nmax, nmax - 1);
        const __m256 l = _mm256_cvtepi32_ps(Lb[i]);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(WX[i], l));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(X[i], X[i]), l), l));
    }
    __m256 active = _mm256_xor_ps(tiny, _mm256_castsi256_ps(_mm256_set1_epi32(-1)));
    for (int itry = 0; itry < 5 && _mm256_movemask_ps(active); itry++) {
        __m256 changed = zero;
        for (int i = 0; i < n; i++) {
            const __m256 w = _mm256_mul_ps(X[i], X[i]);
            const __m256 l = _mm256_cvtepi32_ps(Lb[i]);
            __m256 slx = _mm256_sub_ps(sumlx, _mm256_mul_ps(WX[i], l));
            __m256 sl2 = _mm256_sub_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, l), l));
            const __m256 positive = gt(slx, zero);
            const __m256i nl = clamp(nearest(_mm256_div_ps(_mm256_mul_ps(X[i], sl2), slx)), -nmax, nmax - 1);
            const __m256 other = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_cmpeq_epi32(nl, Lb[i]),
                                                                      _mm256_set1_epi32(-1)));
            const __m256 nf = _mm256_cvtepi32_ps(nl);
            slx = _mm256_add_ps(slx, _mm256_mul_ps(WX[i], nf));
            sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, nf), nf));
            const __m256 fits = gt(_mm256_mul_ps(_mm256_mul_ps(slx, slx), suml2),
                                   _mm256_mul_ps(_mm256_mul_ps(sumlx, sumlx), sl2));
            const __m256 take = _mm256_and_ps(_mm256_and_ps(_mm256_and_ps(active, positive), other),
                                              _mm256_and_ps(gt(sl2, zero), fits));
            Lb[i] = _mm256_blendv_epi8(Lb[i], nl, _mm256_castps_si256(take));
            sumlx = _mm256_blendv_ps(sumlx, slx, take);
            suml2 = _mm256_blendv_ps(suml2, sl2, take);
            changed = _mm256_or_ps(changed, take);
        }
        active = _mm256_and_ps(active, changed);
    }
    const __m256i keep = _mm256_castps_si256(_mm256_xor_ps(tiny, _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
    for (int i = 0; i < n; i++) {
        scatter_u8((uint8_t *)L, n, i, _mm256_and_si256(_mm256_add_epi32(Lb[i], _mm256_set1_epi32(nmax)), keep));
    }
    const __m256 scale = _mm256_blendv_ps(zero, _mm256_div_ps(sumlx, suml2), gt(suml2, zero));
    _mm256_storeu_ps(scales, _mm256_blendv_ps(scale, zero, tiny));
}

BK_AVX2 void bk_kq_q3_quants16_avx2(const float *x, int8_t *L, float *scales) {
    q3_quants8(x, L, scales);
    q3_quants8(x + 128, L + 128, scales + 8);
}
#endif
