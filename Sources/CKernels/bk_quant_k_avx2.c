// AVX2 twins of the K-quant searches (bk_quant_k.c): eight sub-blocks at once, one per lane. Each lane runs its
// sub-block's loop in the reference's order with the same IEEE operations (no FMA: products and sums rounded
// separately, divisions and square roots exact), and the reference's branches become per-lane blends, so every
// result equals the scalar one bit for bit. Only called when bk_simd_level() >= BK_SIMD_AVX2.
#include "bk_quant_internal.h"

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

#define BK_AVX2 __attribute__((target("avx2,fma,f16c")))

/// Values i of the 8 sub-blocks of n at x (sub-block j at x + j·n): lane j holds x[j·n + i].
BK_AVX2 static inline __m256 column(const float *x, int n, int i) {
    return _mm256_i32gather_ps(x + i, _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                         _mm256_set1_epi32(n)), 4);
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

BK_AVX2 void bk_kq_qkx2_quants8_avx2(const bk_kq_search *s, const float *x, const float *w, uint8_t *L,
                                     float *scales, float *mins) {
    const int n = s->n, nmax = s->nmax;
    __m256 X[32], W[32];
    __m256i Lb[32], La[32];
    for (int i = 0; i < n; i++) {
        X[i] = column(x, n, i);
        W[i] = column(w, n, i);
    }
    __m256 min = X[0], max = X[0];
    __m256 sum_w = W[0];
    __m256 sum_x = _mm256_mul_ps(sum_w, X[0]);
    for (int i = 1; i < n; i++) {
        min = _mm256_min_ps(X[i], min);  // X < min ? X : min, as the reference's if
        max = _mm256_max_ps(X[i], max);
        sum_w = _mm256_add_ps(sum_w, W[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(W[i], X[i]));
    }
    const __m256 zero = _mm256_setzero_ps();
    min = _mm256_blendv_ps(min, zero, gt(min, zero));
    const __m256 min0 = min;
    const __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);  // these lanes return early: L = 0, scale 0
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)nmax), _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    __m256 best_error = zero;
    for (int i = 0; i < n; i++) {
        Lb[i] = clamp(nearest(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min))), 0, nmax);
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(Lb[i])), min), X[i]);
        diff = s->use_mad ? absps(diff) : _mm256_mul_ps(diff, diff);
        best_error = _mm256_add_ps(best_error, _mm256_mul_ps(W[i], diff));
    }
    for (int is = 0; is <= s->nstep; is++) {
        // min moves when a trial wins, and with it the range of later trials (as in the reference)
        iscale = _mm256_div_ps(_mm256_set1_ps(s->rmin + s->rdelta * (float)is + (float)nmax), _mm256_sub_ps(max, min));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            La[i] = clamp(nearest(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min))), 0, nmax);
            const __m256 l = _mm256_cvtepi32_ps(La[i]);
            const __m256 wl = _mm256_mul_ps(W[i], l);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, X[i]));
        }
        const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        const __m256 valid = gt(D, zero);
        if (_mm256_movemask_ps(valid) == 0) continue;
        __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        const __m256 positive = gt(this_min, zero);
        this_min = _mm256_blendv_ps(this_min, zero, positive);
        this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), positive);
        __m256 cur_error = zero;
        for (int i = 0; i < n; i++) {
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(La[i])), this_min),
                                        X[i]);
            diff = s->use_mad ? absps(diff) : _mm256_mul_ps(diff, diff);
            cur_error = _mm256_add_ps(cur_error, _mm256_mul_ps(W[i], diff));
        }
        const __m256 better = _mm256_and_ps(valid, _mm256_cmp_ps(cur_error, best_error, _CMP_LT_OQ));
        if (_mm256_movemask_ps(better) == 0) continue;
        const __m256i take = _mm256_castps_si256(better);
        for (int i = 0; i < n; i++) Lb[i] = _mm256_blendv_epi8(Lb[i], La[i], take);
        best_error = _mm256_blendv_ps(best_error, cur_error, better);
        scale = _mm256_blendv_ps(scale, this_scale, better);
        min = _mm256_blendv_ps(min, this_min, better);
    }
    const __m256i keep = _mm256_castps_si256(_mm256_xor_ps(flat, _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
    for (int i = 0; i < n; i++) scatter_u8(L, n, i, _mm256_and_si256(Lb[i], keep));
    _mm256_storeu_ps(scales, _mm256_blendv_ps(scale, zero, flat));
    min = _mm256_blendv_ps(min, min0, flat);
    _mm256_storeu_ps(mins, _mm256_xor_ps(min, _mm256_set1_ps(-0.0f)));  // -min: a sign flip, as the reference's
}

BK_AVX2 void bk_kq_qx_quants8_avx2(const float *x, int8_t *L, float *scales) {
    enum { n = 16, nmax = 32 };
    __m256 X[n], W[n];
    __m256i Lb[n];
    __m256 max = _mm256_setzero_ps(), amax = _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        X[i] = column(x, n, i);
        W[i] = _mm256_mul_ps(X[i], X[i]);
        const __m256 ax = absps(X[i]);
        const __m256 larger = gt(ax, amax);
        amax = _mm256_blendv_ps(amax, ax, larger);
        max = _mm256_blendv_ps(max, X[i], larger);
    }
    const __m256 zero = _mm256_setzero_ps();
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_LT_OQ);  // all zero: L = 0, scale 0
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max);
    __m256 sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        Lb[i] = clamp(nearest(_mm256_mul_ps(iscale, X[i])), -nmax, nmax - 1);
        const __m256 l = _mm256_cvtepi32_ps(Lb[i]);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(W[i], X[i]), l));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], l), l));
    }
    // scale = suml2 ? sumlx/suml2 : 0 (a NaN suml2 counts as true)
    __m256 scale = _mm256_blendv_ps(_mm256_div_ps(sumlx, suml2), zero, _mm256_cmp_ps(suml2, zero, _CMP_EQ_OQ));
    __m256 best = _mm256_mul_ps(scale, sumlx);
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = _mm256_div_ps(_mm256_set1_ps(-((float)nmax + 0.1f * (float)is)), max);
        __m256i La[n];
        sumlx = suml2 = zero;
        for (int i = 0; i < n; i++) {
            La[i] = clamp(nearest(_mm256_mul_ps(iscale, X[i])), -nmax, nmax - 1);
            const __m256 l = _mm256_cvtepi32_ps(La[i]);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(W[i], X[i]), l));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], l), l));
        }
        const __m256 fits = gt(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2));
        const __m256 better = _mm256_and_ps(gt(suml2, zero), fits);
        if (_mm256_movemask_ps(better) == 0) continue;
        const __m256i take = _mm256_castps_si256(better);
        for (int i = 0; i < n; i++) Lb[i] = _mm256_blendv_epi8(Lb[i], La[i], take);
        const __m256 s = _mm256_div_ps(sumlx, suml2);
        scale = _mm256_blendv_ps(scale, s, better);
        best = _mm256_blendv_ps(best, _mm256_mul_ps(s, sumlx), better);
    }
    const __m256i keep = _mm256_castps_si256(_mm256_xor_ps(tiny, _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
    for (int i = 0; i < n; i++) {
        const __m256i q = _mm256_and_si256(_mm256_add_epi32(Lb[i], _mm256_set1_epi32(nmax)), keep);
        scatter_u8((uint8_t *)L, n, i, q);
    }
    _mm256_storeu_ps(scales, _mm256_blendv_ps(scale, zero, tiny));
}
#endif
