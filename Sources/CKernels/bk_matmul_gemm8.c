// 8-bit matrix-matrix products for block weights (the prompt path: BK_GEMM_MIN_ROWS or more activation rows).
//
// The weights stay where they are mapped; each thread repacks PANEL_ROWS rows at a time into a panel that puts the
// same 4 elements of every row side by side (group g of block b: rows × 4 bytes), with each row's scale (and Q4_1
// minimum, Q8_0 quant sum) per block. One 32-bit broadcast of 4 activation bytes then meets 16 (AVX-512) or 8 (AVX2)
// rows in one instruction. Activations are bk_block_q8x rows (Q8_0 weights take them as unsigned bytes x+128).
//
// Result per (row r, activation row t), the twin's definition: acc = 0; for each block b in order:
//   idot = Σ_j w_j·x_j exactly (Q4_0/Q5_0: Σ q_j·x_j − z·Σx with z = 8/16, Q4_1/Q5_1: Σ q_j·x_j);
//   acc = fmaf(d_r·dx_t, (float)idot, acc);  Q4_1/Q5_1 then acc = fmaf(m_r, s_t, acc) (s: the activation block's
//   d·Σx).
// The integer sums are exact in every path, so the AVX-512 VNNI, AVX2 and scalar versions agree bit for bit.
#pragma STDC FP_CONTRACT OFF
#include "bk_matmul_gemm8.h"
#include "bk_transpose.h"
#include <math.h>

// Panel layout per block: quants [8 groups][PANEL_ROWS rows][4 bytes], then d[PANEL_ROWS] (f32), then
// m[PANEL_ROWS] (f32, Q4_1, Q5_1) or wsum[PANEL_ROWS] (int32, Q8_0: Σ of the row's 32 quants).
#define QUANT_BYTES (8 * PANEL_ROWS * 4)

size_t bk_gemm8_panel_block_bytes(void) { return QUANT_BYTES + 2 * PANEL_ROWS * 4; }

// ---- repacking -----------------------------------------------------------------------------------------------------

#if BK_X86
BK_AVX2 static void repack_avx2(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel) {
    const int64_t nb = w->cols / 32;
    const size_t row_bytes = bk_row_bytes(w->type, w->cols), bb = bk_gemm8_panel_block_bytes();
    // 8 rows at a time: their unpacked blocks transposed, so dword j of the 8 rows is one 32-byte store.
    for (int r8 = 0; r8 < PANEL_ROWS; r8 += 8) {
        const char *rows[8];
        for (int i = 0; i < 8; i++)
            rows[i] = (const char *)w->data + (size_t)(r0 + (r8 + i < nrows ? r8 + i : 0)) * row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *q = panel + b * bb;
            float *d = (float *)(q + QUANT_BYTES);
            int32_t *extra = (int32_t *)(d + PANEL_ROWS);
            __m256 v[8];
            for (int i = 0; i < 8; i++) {
                const int r = r8 + i;
                float scale, minimum = 0;
                int32_t sum = 0;
                __m256i u = bk_unpack_q32_avx2(w->type, rows[i], b, &scale, &minimum);
                if (w->type == BK_TYPE_Q8_0) {
                    // Σ q = Σ (q+128) − 32·128, with the unsigned sums of absolute differences from 0
                    __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(u, _mm256_set1_epi8((char)0x80)),
                                                  _mm256_setzero_si256());
                    __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
                    sum = (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
                }
                if (r >= nrows) u = _mm256_setzero_si256(), scale = 0, minimum = 0, sum = 0;
                v[i] = _mm256_castsi256_ps(u);
                d[r] = scale;
                if (BK_Q32_HAS_MIN(w->type)) ((float *)extra)[r] = minimum;
                else extra[r] = sum;
            }
            bk_transpose8(v);
            for (int j = 0; j < 8; j++) _mm256_storeu_ps((float *)q + j * PANEL_ROWS + r8, v[j]);
        }
    }
}
#endif

void bk_gemm8_repack(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { repack_avx2(w, r0, nrows, panel); return; }
#endif
    bk_gemm8_repack_ref(w, r0, nrows, panel);
}

void bk_gemm8_repack_ref(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel) {
    const int64_t nb = w->cols / 32;
    const size_t row_bytes = bk_row_bytes(w->type, w->cols), bb = bk_gemm8_panel_block_bytes();
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *q = panel + b * bb;
        float *d = (float *)(q + QUANT_BYTES);
        int32_t *extra = (int32_t *)(d + PANEL_ROWS);
        for (int r = 0; r < PANEL_ROWS; r++) {
            uint8_t v[32] = {0};
            float scale = 0, minimum = 0;
            int32_t sum = 0;
            const char *row = (const char *)w->data + (size_t)(r0 + r) * row_bytes;
            if (r < nrows) bk_unpack_q32_ref(w->type, row, b, v, &scale, &minimum);
            if (w->type == BK_TYPE_Q8_0)
                for (int j = 0; j < 32; j++) sum += (int8_t)v[j];
            for (int g = 0; g < 8; g++) memcpy(q + (g * PANEL_ROWS + r) * 4, v + 4 * g, 4);
            d[r] = scale;
            if (BK_Q32_HAS_MIN(w->type)) ((float *)extra)[r] = minimum;
            else extra[r] = sum;
        }
    }
}

// ---- the scalar twin -----------------------------------------------------------------------------------------------

void bk_gemm8_panel_ref(int32_t type, int64_t nb, const uint8_t *panel, int nrows, const bk_block_q8x *x, int64_t xs,
                        int mr, float *out, int64_t ldo) {
    const size_t bb = bk_gemm8_panel_block_bytes();
    for (int t = 0; t < mr; t++)
        for (int r = 0; r < nrows; r++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *q = panel + b * bb;
                const float *d = (const float *)(q + QUANT_BYTES);
                const int32_t *extra = (const int32_t *)(d + PANEL_ROWS);
                const bk_block_q8x *xb = x + t * xs + b;
                int32_t idot = 0;
                for (int j = 0; j < 32; j++) {
                    int wj = type == BK_TYPE_Q8_0 ? (int8_t)q[((j / 4) * PANEL_ROWS + r) * 4 + j % 4]
                                                  : q[((j / 4) * PANEL_ROWS + r) * 4 + j % 4];
                    idot += wj * xb->qs[j];
                }
                idot -= BK_Q32_ZERO(type) * xb->sum;
                acc = fmaf(d[r] * xb->d, (float)idot, acc);
                if (BK_Q32_HAS_MIN(type)) acc = fmaf(((const float *)extra)[r], xb->s, acc);
            }
            out[t * ldo + r] = acc;
        }
}

#if BK_X86
// ---- AVX2: 8 rows per register; maddubs + madd (Q8_0 with ggml's sign trick) ----------------------------------------

// Groups of 4 quants whose maddubs pairs (each ≤ 2·wmax·128 in magnitude: activations are int8) add up exactly in an
// int16 lane before one madd widens them: Q4 (wmax 15) 8 groups, 8 · 3840 = 30720; Q5 (31) 4 groups, 4 · 7936 =
// 31744; Q8_0 (|w| ≤ 128 after the sign trick) 1. The integer sums stay exact: the results do not change. Before,
// every group had its own madd and 32-bit add: the 560M-shaped all-Q4_0 file, pp128 with 2 threads, one build against
// the other in the same run (2026-12-06, two runs): 247–257 → 334–357 and 279–298 → 412–435 tokens/s.
#define I16_GROUPS(type) ((type) == BK_TYPE_Q8_0 ? 1 : (type) == BK_TYPE_Q5_0 || (type) == BK_TYPE_Q5_1 ? 4 : 8)

BK_AVX2 BK_INLINE void panel_avx2(const int mr, const int32_t type, int64_t nb, const uint8_t *panel,
                                  const bk_block_q8x *x, int64_t xs, float *out, int64_t ldo) {
    const size_t bb = bk_gemm8_panel_block_bytes();
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][PANEL_ROWS / 8];
    for (int t = 0; t < 4; t++)
        for (int h = 0; h < PANEL_ROWS / 8; h++) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *q = panel + b * bb;
        const float *d = (const float *)(q + QUANT_BYTES);
        const int32_t *extra = (const int32_t *)(d + PANEL_ROWS);
        __m256i isum[4][PANEL_ROWS / 8];
        const int run = I16_GROUPS(type);
        for (int g0 = 0; g0 < 8; g0 += run) {
            __m256i pairs[4][PANEL_ROWS / 8];  // int16 sums of `run` groups
            for (int g = g0; g < g0 + run; g++) {
                __m256i xv[4];
                for (int t = 0; t < mr; t++) {
                    int32_t four;
                    memcpy(&four, x[t * xs + b].qs + 4 * g, 4);
                    xv[t] = _mm256_set1_epi32(four);
                }
                for (int h = 0; h < PANEL_ROWS / 8; h++) {
                    __m256i wv = _mm256_loadu_si256((const __m256i *)(q + (g * PANEL_ROWS + 8 * h) * 4));
                    __m256i aw = type == BK_TYPE_Q8_0 ? _mm256_sign_epi8(wv, wv) : wv;
                    for (int t = 0; t < mr; t++) {
                        __m256i xq = type == BK_TYPE_Q8_0 ? _mm256_sign_epi8(xv[t], wv) : xv[t];
                        __m256i p = _mm256_maddubs_epi16(aw, xq);
                        if (run == 1) {  // widened at once: holding 4 × 4 int16 sums first spills (Q8_0 -15%)
                            __m256i wide = _mm256_madd_epi16(p, ones);
                            isum[t][h] = g == 0 ? wide : _mm256_add_epi32(isum[t][h], wide);
                        } else {
                            pairs[t][h] = g == g0 ? p : _mm256_add_epi16(pairs[t][h], p);
                        }
                    }
                }
            }
            if (run == 1) continue;
            for (int t = 0; t < mr; t++)
                for (int h = 0; h < PANEL_ROWS / 8; h++) {
                    __m256i wide = _mm256_madd_epi16(pairs[t][h], ones);
                    isum[t][h] = g0 == 0 ? wide : _mm256_add_epi32(isum[t][h], wide);
                }
        }
        for (int t = 0; t < mr; t++) {
            const bk_block_q8x *xb = x + t * xs + b;
            __m256 dx = _mm256_set1_ps(xb->d);
            for (int h = 0; h < PANEL_ROWS / 8; h++) {
                __m256i s = isum[t][h];
                if (BK_Q32_ZERO(type)) s = _mm256_sub_epi32(s, _mm256_set1_epi32(BK_Q32_ZERO(type) * xb->sum));
                __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(d + 8 * h), dx);
                acc[t][h] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s), acc[t][h]);
                if (BK_Q32_HAS_MIN(type))
                    acc[t][h] = _mm256_fmadd_ps(_mm256_loadu_ps((const float *)extra + 8 * h), _mm256_set1_ps(xb->s),
                                                acc[t][h]);
            }
        }
    }
    for (int t = 0; t < mr; t++)
        for (int h = 0; h < PANEL_ROWS / 8; h++) _mm256_storeu_ps(out + t * ldo + 8 * h, acc[t][h]);
}

// ---- AVX-512 VNNI: 16 rows per register; vpdpbusd (Q8_0 with unsigned activations x+128 and the row sums) -----------

#define BK_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

BK_VNNI BK_INLINE void panel_vnni(const int mr, const int32_t type, int64_t nb, const uint8_t *panel,
                                  const bk_block_q8x *x, int64_t xs, float *out, int64_t ldo) {
    const size_t bb = bk_gemm8_panel_block_bytes();
    __m512 acc[4][PANEL_ROWS / 16];
    for (int t = 0; t < 4; t++)
        for (int h = 0; h < PANEL_ROWS / 16; h++) acc[t][h] = _mm512_setzero_ps();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *q = panel + b * bb;
        const float *d = (const float *)(q + QUANT_BYTES);
        const int32_t *extra = (const int32_t *)(d + PANEL_ROWS);
        __m512i isum[4][PANEL_ROWS / 16];
        for (int t = 0; t < 4; t++)
            for (int h = 0; h < PANEL_ROWS / 16; h++) isum[t][h] = _mm512_setzero_si512();
        for (int g = 0; g < 8; g++) {
            __m512i xv[4];
            for (int t = 0; t < mr; t++) {
                int32_t four;
                memcpy(&four, x[t * xs + b].qs + 4 * g, 4);
                xv[t] = _mm512_set1_epi32(four);
                if (type == BK_TYPE_Q8_0) xv[t] = _mm512_xor_si512(xv[t], flip);  // x+128 as unsigned bytes
            }
            for (int h = 0; h < PANEL_ROWS / 16; h++) {
                __m512i wv = _mm512_loadu_si512((const void *)(q + (g * PANEL_ROWS + 16 * h) * 4));
                for (int t = 0; t < mr; t++)
                    isum[t][h] = type == BK_TYPE_Q8_0 ? _mm512_dpbusd_epi32(isum[t][h], xv[t], wv)
                                                      : _mm512_dpbusd_epi32(isum[t][h], wv, xv[t]);
            }
        }
        for (int t = 0; t < mr; t++) {
            const bk_block_q8x *xb = x + t * xs + b;
            __m512 dx = _mm512_set1_ps(xb->d);
            for (int h = 0; h < PANEL_ROWS / 16; h++) {
                __m512i s = isum[t][h];
                if (BK_Q32_ZERO(type)) s = _mm512_sub_epi32(s, _mm512_set1_epi32(BK_Q32_ZERO(type) * xb->sum));
                if (type == BK_TYPE_Q8_0)
                    s = _mm512_sub_epi32(s, _mm512_slli_epi32(_mm512_loadu_si512((const void *)(extra + 16 * h)), 7));
                __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(d + 16 * h), dx);
                acc[t][h] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(s), acc[t][h]);
                if (BK_Q32_HAS_MIN(type))
                    acc[t][h] = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)extra + 16 * h), _mm512_set1_ps(xb->s),
                                                acc[t][h]);
            }
        }
    }
    for (int t = 0; t < mr; t++)
        for (int h = 0; h < PANEL_ROWS / 16; h++) _mm512_storeu_ps(out + t * ldo + 16 * h, acc[t][h]);
}

#define BK_PANEL_VARIANT(NAME, IMPL, ATTR, TYPE)                                                                     \
    ATTR static void NAME(int64_t nb, const uint8_t *panel, const bk_block_q8x *x, int64_t xs, int mr, float *out, \
                          int64_t ldo) {                                                                            \
        switch (mr) {                                                                                               \
        case 1: IMPL(1, TYPE, nb, panel, x, xs, out, ldo); break;                                                   \
        case 2: IMPL(2, TYPE, nb, panel, x, xs, out, ldo); break;                                                   \
        case 3: IMPL(3, TYPE, nb, panel, x, xs, out, ldo); break;                                                   \
        default: IMPL(4, TYPE, nb, panel, x, xs, out, ldo); break;                                                  \
        }                                                                                                           \
    }
BK_PANEL_VARIANT(panel_avx2_q8_0, panel_avx2, BK_AVX2, BK_TYPE_Q8_0)
BK_PANEL_VARIANT(panel_avx2_q4_0, panel_avx2, BK_AVX2, BK_TYPE_Q4_0)
BK_PANEL_VARIANT(panel_avx2_q4_1, panel_avx2, BK_AVX2, BK_TYPE_Q4_1)
BK_PANEL_VARIANT(panel_avx2_q5_0, panel_avx2, BK_AVX2, BK_TYPE_Q5_0)
BK_PANEL_VARIANT(panel_avx2_q5_1, panel_avx2, BK_AVX2, BK_TYPE_Q5_1)
BK_PANEL_VARIANT(panel_vnni_q8_0, panel_vnni, BK_VNNI, BK_TYPE_Q8_0)
BK_PANEL_VARIANT(panel_vnni_q4_0, panel_vnni, BK_VNNI, BK_TYPE_Q4_0)
BK_PANEL_VARIANT(panel_vnni_q4_1, panel_vnni, BK_VNNI, BK_TYPE_Q4_1)
BK_PANEL_VARIANT(panel_vnni_q5_0, panel_vnni, BK_VNNI, BK_TYPE_Q5_0)
BK_PANEL_VARIANT(panel_vnni_q5_1, panel_vnni, BK_VNNI, BK_TYPE_Q5_1)
#endif

void bk_gemm8_panel(int32_t type, int64_t nb, const uint8_t *panel, int nrows, const bk_block_q8x *x, int64_t xs,
                    int mr, float *out, int64_t ldo) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) {
        // full PANEL_ROWS columns are computed (the padding rows are zero); the caller reads nrows of them
        (void)nrows;
        int vnni = bk_simd_level() >= BK_SIMD_AVX512_VNNI;
        switch (type) {
        case BK_TYPE_Q8_0: (vnni ? panel_vnni_q8_0 : panel_avx2_q8_0)(nb, panel, x, xs, mr, out, ldo); return;
        case BK_TYPE_Q4_0: (vnni ? panel_vnni_q4_0 : panel_avx2_q4_0)(nb, panel, x, xs, mr, out, ldo); return;
        case BK_TYPE_Q4_1: (vnni ? panel_vnni_q4_1 : panel_avx2_q4_1)(nb, panel, x, xs, mr, out, ldo); return;
        case BK_TYPE_Q5_0: (vnni ? panel_vnni_q5_0 : panel_avx2_q5_0)(nb, panel, x, xs, mr, out, ldo); return;
        default: (vnni ? panel_vnni_q5_1 : panel_avx2_q5_1)(nb, panel, x, xs, mr, out, ldo); return;
        }
    }
#endif
    bk_gemm8_panel_ref(type, nb, panel, nrows, x, xs, mr, out, ldo);
}
