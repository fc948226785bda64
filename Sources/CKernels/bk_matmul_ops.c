// Element-wise and row kernels (exp, GELU, softmax, LayerNorm) and causal ALiBi attention over the KV cache.
// The SIMD versions evaluate the same IEEE operations as their scalar twins, lane by lane, so results are equal.
#pragma STDC FP_CONTRACT OFF
#include "bk_matmul_simd.h"
#include <math.h>
#include <stdatomic.h>

// ---- exp (Cephes expf: n = round(x·log2 e), r = x - n·ln 2 in two parts, degree-7 polynomial, scale by 2^n) ---------

#define EXP_HI 88.0f
#define EXP_LO (-87.0f)  // below: 0 (e^-87 ≈ 1.6e-38, the edge of the normal range)
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

static inline float exp1_ref(float x) {
    int underflow = x < EXP_LO;
    float xc = x < EXP_HI ? x : EXP_HI;  // NaN becomes EXP_HI, as vminps does
    xc = xc > EXP_LO ? xc : EXP_LO;
    float n = nearbyintf(xc * LOG2E);
    float r = fmaf(n, -LN2_HI, xc);
    r = fmaf(n, -LN2_LO, r);
    float z = r * r;
    float p = fmaf(P0, r, P1);
    p = fmaf(p, r, P2);
    p = fmaf(p, r, P3);
    p = fmaf(p, r, P4);
    p = fmaf(p, r, P5);
    float y = fmaf(p, z, r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return underflow ? 0.0f : y * scale;
}

static inline float gelu1_ref(float x) {
    float inner = fmaf(0.044715f, x * x, 1.0f);
    float u = (0.79788456f * x) * inner;
    return x / (1.0f + exp1_ref(u * -2.0f));
}

#if BK_X86
BK_AVX2 BK_INLINE __m256 exp8(__m256 x) {
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    __m256 xc = _mm256_min_ps(x, _mm256_set1_ps(EXP_HI));
    xc = _mm256_max_ps(xc, _mm256_set1_ps(EXP_LO));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HI), xc);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LO), r);
    __m256 z = _mm256_mul_ps(r, r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(P0), r, _mm256_set1_ps(P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P5));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, z, r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
}

BK_AVX2 BK_INLINE __m256 gelu8(__m256 x) {
    __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), _mm256_mul_ps(x, x), _mm256_set1_ps(1.0f));
    __m256 u = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.79788456f), x), inner);
    __m256 e = exp8(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

BK_AVX2 static void exp_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = exp1_ref(x[i]);
}

BK_AVX2 static void gelu_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = gelu1_ref(x[i]);
}
#endif

void bk_exp_ref(const float *x, float *y, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = exp1_ref(x[i]); }
void bk_gelu_ref(const float *x, float *y, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = gelu1_ref(x[i]); }

void bk_exp(const float *x, float *y, int64_t n) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { exp_avx2(x, y, n); return; }
#endif
    bk_exp_ref(x, y, n);
}

void bk_gelu(const float *x, float *y, int64_t n) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { gelu_avx2(x, y, n); return; }
#endif
    bk_gelu_ref(x, y, n);
}

// ---- max, Σ exp (softmax and log-softmax) ---------------------------------------------------------------------------

static float max_ref(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

// Σ e^(x_i - shift) in 8 lanes (lane i%8), reduced as bk_hsum8_ref, then the tail. Writes the terms to y if non-NULL.
static float sum_exp_ref(const float *x, int64_t n, float shift, float *y) {
    float lanes[8] = {0};
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i++) {
        float e = exp1_ref(x[i] - shift);
        if (y) y[i] = e;
        lanes[i & 7] = lanes[i & 7] + e;
    }
    float s = bk_hsum8_ref(lanes);
    for (int64_t i = n8; i < n; i++) {
        float e = exp1_ref(x[i] - shift);
        if (y) y[i] = e;
        s = s + e;
    }
    return s;
}

#if BK_X86
BK_AVX2 static float max_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    float l[8];
    _mm256_storeu_ps(l, m);
    float r = -INFINITY;
    for (int j = 0; j < 8; j++) r = l[j] > r ? l[j] : r;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

BK_AVX2 static float sum_exp_avx2(const float *x, int64_t n, float shift, float *y) {
    __m256 acc = _mm256_setzero_ps(), vs = _mm256_set1_ps(shift);
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
        if (y) _mm256_storeu_ps(y + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float s = bk_hsum256(acc);
    for (int64_t i = n8; i < n; i++) {
        float e = exp1_ref(x[i] - shift);
        if (y) y[i] = e;
        s = s + e;
    }
    return s;
}

BK_AVX2 static void scale_avx2(float *x, int64_t n, float f) {
    int64_t i = 0;
    __m256 vf = _mm256_set1_ps(f);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vf));
    for (; i < n; i++) x[i] = x[i] * f;
}
#endif

float bk_max_ref(const float *x, int64_t n) { return max_ref(x, n); }
float bk_sum_exp_ref(const float *x, int64_t n, float shift) { return sum_exp_ref(x, n, shift, NULL); }

float bk_max(const float *x, int64_t n) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) return max_avx2(x, n);
#endif
    return max_ref(x, n);
}

float bk_sum_exp(const float *x, int64_t n, float shift) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) return sum_exp_avx2(x, n, shift, NULL);
#endif
    return sum_exp_ref(x, n, shift, NULL);
}

// ---- LayerNorm -----------------------------------------------------------------------------------------------------

void bk_layernorm_ref(const float *x, const float *w, const float *b, float eps, int64_t n, float *y) {
    int64_t n8 = n & ~(int64_t)7;
    float lanes[8] = {0};
    for (int64_t i = 0; i < n8; i++) lanes[i & 7] = lanes[i & 7] + x[i];
    float s = bk_hsum8_ref(lanes);
    for (int64_t i = n8; i < n; i++) s = s + x[i];
    float mean = s / (float)n;
    float vl[8] = {0};
    for (int64_t i = 0; i < n8; i++) {
        float d = x[i] - mean;
        vl[i & 7] = fmaf(d, d, vl[i & 7]);
    }
    float v = bk_hsum8_ref(vl);
    for (int64_t i = n8; i < n; i++) {
        float d = x[i] - mean;
        v = fmaf(d, d, v);
    }
    float rstd = 1.0f / sqrtf(v / (float)n + eps);
    for (int64_t i = 0; i < n; i++) y[i] = fmaf((x[i] - mean) * rstd, w[i], b[i]);
}

#if BK_X86
BK_AVX2 static void layernorm_avx2(const float *x, const float *w, const float *b, float eps, int64_t n, float *y) {
    int64_t n8 = n & ~(int64_t)7;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n8; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
    float s = bk_hsum256(acc);
    for (int64_t i = n8; i < n; i++) s = s + x[i];
    float mean = s / (float)n;
    __m256 vm = _mm256_set1_ps(mean);
    acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    float v = bk_hsum256(acc);
    for (int64_t i = n8; i < n; i++) {
        float d = x[i] - mean;
        v = fmaf(d, d, v);
    }
    float rstd = 1.0f / sqrtf(v / (float)n + eps);
    __m256 vr = _mm256_set1_ps(rstd);
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vr);
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)));
    }
    for (int64_t i = n8; i < n; i++) y[i] = fmaf((x[i] - mean) * rstd, w[i], b[i]);
}
#endif

void bk_layernorm(const float *x, const float *w, const float *b, float eps, int64_t n, float *y) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { layernorm_avx2(x, w, b, eps, n, y); return; }
#endif
    bk_layernorm_ref(x, w, b, eps, n, y);
}

typedef struct {
    const float *x, *w, *b;
    int64_t ldx, n, m, ldy;
    float eps;
    float *y;
    _Atomic int64_t next;
} layernorm_job;

static void layernorm_task(void *ctx, int ith, int nth) {
    (void)ith, (void)nth;
    layernorm_job *j = ctx;
    for (int64_t i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->m;)
        bk_layernorm(j->x + i * j->ldx, j->w, j->b, j->eps, j->n, j->y + i * j->ldy);
}

void bk_layernorm_rows(bk_pool *pool, const float *x, int64_t ldx, const float *w, const float *b, float eps,
                       int64_t n, int64_t m, float *y, int64_t ldy) {
    layernorm_job j = {.x = x, .w = w, .b = b, .ldx = ldx, .n = n, .m = m, .ldy = ldy, .eps = eps, .y = y};
    atomic_init(&j.next, 0);
    if (pool && m > 1) bk_pool_run(pool, layernorm_task, &j);
    else layernorm_task(&j, 0, 1);
}

// ---- attention -----------------------------------------------------------------------------------------------------

void bk_alibi_slopes(int n_head, float *slopes) {
    int c = 1;
    while (c * 2 <= n_head) c *= 2;  // closest power of two ≤ n_head
    float base = (float)pow(2.0, -8.0 / c), extra = (float)pow(2.0, -4.0 / c);
    for (int h = 0; h < n_head; h++)
        slopes[h] = h < c ? powf(base, (float)(h + 1)) : powf(extra, (float)(2 * (h - c) + 1));
}

void bk_attention_row_ref(const bk_attention_desc *d, int slot, int h, const float *q, int64_t pos, float *scores,
                          float *out) {
    const int hd = d->head_dim;
    const int64_t base = slot * d->slot_stride + h * d->head_stride;
    const float *k = d->k_cache + base, *v = d->v_cache + base;
    const float slope = d->slopes[h];
    for (int64_t t = 0; t <= pos; t++)
        scores[t] = fmaf(bk_dot_f32_ref(q + h * hd, k + t * hd, hd), d->scale, slope * (float)t);
    float s = sum_exp_ref(scores, pos + 1, max_ref(scores, pos + 1), scores);
    float *o = out + h * hd;
    for (int i = 0; i < hd; i++) o[i] = 0;
    for (int64_t t = 0; t <= pos; t++)
        for (int i = 0; i < hd; i++) o[i] = fmaf(scores[t], v[t * hd + i], o[i]);
    float inv = 1.0f / s;
    for (int i = 0; i < hd; i++) o[i] = o[i] * inv;
}

#if BK_X86
// Four keys' dot products with q at once: four independent chains, each bk_dot8_avx2's sums in its order.
BK_AVX2 BK_INLINE void dot8_4keys_avx2(const float *q, const float *k, int64_t hd, float out[4]) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int64_t k8 = hd & ~(int64_t)7;
    for (int64_t i = 0; i < k8; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        for (int c = 0; c < 4; c++) acc[c] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + c * hd + i), acc[c]);
    }
    for (int c = 0; c < 4; c++) {
        float s = bk_hsum256(acc[c]);
        for (int64_t i = k8; i < hd; i++) s = __builtin_fmaf(q[i], k[c * hd + i], s);
        out[c] = s;
    }
}

// One row's scores for keys t … last: q·k scaled, plus ALiBi.
BK_AVX2 static void row_dots_avx2(const bk_attention_desc *d, const float *k, int h, const float *q, int64_t t,
                                  int64_t last, float *scores) {
    const int hd = d->head_dim;
    const float slope = d->slopes[h];
    const float *qh = q + h * hd;
    for (float dots[4]; t + 3 <= last; t += 4) {
        dot8_4keys_avx2(qh, k + t * hd, hd, dots);
        for (int c = 0; c < 4; c++) scores[t + c] = fmaf(dots[c], d->scale, slope * (float)(t + c));
    }
    for (; t <= last; t++) scores[t] = fmaf(bk_dot8_avx2(qh, k + t * hd, hd), d->scale, slope * (float)t);
}

// The scores of one row from key `from` on (those before it are in place), then the softmax numerators in place;
// returns their sum.
BK_AVX2 static float row_scores_avx2(const bk_attention_desc *d, const float *k, int h, const float *q, int64_t from,
                                     int64_t pos, float *scores) {
    row_dots_avx2(d, k, h, q, from, pos, scores);
    return sum_exp_avx2(scores, pos + 1, max_avx2(scores, pos + 1), scores);
}

// Two rows' scores for keys 0 … last, four keys at a time (hd a multiple of 8): each key row is read once for both,
// and the 8 dots' horizontal sums go through one transposed reduction (the same additions as bk_hsum256). Returns
// the first key not done.
BK_AVX2 static int64_t pair_dots_avx2(const bk_attention_desc *d, const float *k, int h, const float *qa,
                                      const float *qb, int64_t last, float *sa, float *sb) {
    const int hd = d->head_dim;
    const float slope = d->slopes[h];
    const float *a = qa + h * hd, *b = qb + h * hd;
    int64_t t = 0;
    for (; t + 3 <= last; t += 4) {
        __m256 acc[8];  // a against keys t…t+3, then b
        for (int c = 0; c < 8; c++) acc[c] = _mm256_setzero_ps();
        for (int i = 0; i < hd; i += 8) {
            __m256 av = _mm256_loadu_ps(a + i), bv = _mm256_loadu_ps(b + i);
            for (int c = 0; c < 4; c++) {
                __m256 kv = _mm256_loadu_ps(k + (t + c) * hd + i);
                acc[c] = _mm256_fmadd_ps(av, kv, acc[c]);
                acc[4 + c] = _mm256_fmadd_ps(bv, kv, acc[4 + c]);
            }
        }
        float dots[8];
        _mm256_storeu_ps(dots, bk_hsum256x8(acc));
        for (int c = 0; c < 4; c++) {
            float alibi = slope * (float)(t + c);
            sa[t + c] = fmaf(dots[c], d->scale, alibi);
            sb[t + c] = fmaf(dots[4 + c], d->scale, alibi);
        }
    }
    return t;
}

BK_AVX2 static void attention_row_avx2(const bk_attention_desc *d, int slot, int h, const float *q, int64_t pos,
                                       float *scores, float *out) {
    const int hd = d->head_dim;
    const int64_t base = slot * d->slot_stride + h * d->head_stride;
    const float *k = d->k_cache + base, *v = d->v_cache + base;
    float s = row_scores_avx2(d, k, h, q, 0, pos, scores);
    float *o = out + h * hd;
    int i = 0;
    for (; i + 64 <= hd; i += 64) {  // 64 dimensions held in 8 registers while the positions stream by
        __m256 acc[8];
        for (int g = 0; g < 8; g++) acc[g] = _mm256_setzero_ps();
        for (int64_t t = 0; t <= pos; t++) {
            __m256 p = _mm256_set1_ps(scores[t]);
            for (int g = 0; g < 8; g++) acc[g] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + t * hd + i + 8 * g), acc[g]);
        }
        for (int g = 0; g < 8; g++) _mm256_storeu_ps(o + i + 8 * g, acc[g]);
    }
    for (; i + 8 <= hd; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t t = 0; t <= pos; t++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[t]), _mm256_loadu_ps(v + t * hd + i), acc);
        _mm256_storeu_ps(o + i, acc);
    }
    for (; i < hd; i++) {
        float acc = 0;
        for (int64_t t = 0; t <= pos; t++) acc = fmaf(scores[t], v[t * hd + i], acc);
        o[i] = acc;
    }
    float inv = 1.0f / s;
    scale_avx2(o, hd, inv);
}

// ATT_ROWS rows of one slot and head (consecutive rows of a prompt): each row's scores as above, then one pass over
// the values for all of them, 32 dimensions at a time (one row alone re-read every value row from L2 for each
// query row). Every output is the same chain over t as attention_row_avx2's: the positions all rows share, then each
// row's own, in order. Rows 0 and 1 also read their shared keys together (pair_dots_avx2). One core, one layer of a
// 512-token prompt (16 heads of 64), best of 5: 18.3–21.1 → 15.1–15.4 ms.
#define ATT_ROWS 3

BK_AVX2 BK_INLINE void attention_rows_avx2(const int n, const bk_attention_desc *d, int slot, int h,
                                           const float *const *q, const int64_t *pos, float *scores, size_t stride,
                                           float *const *out) {
    const int hd = d->head_dim;
    const int64_t base = slot * d->slot_stride + h * d->head_stride;
    const float *k = d->k_cache + base, *v = d->v_cache + base;
    float s[ATT_ROWS];
    const float *sc[ATT_ROWS];
    int64_t common = pos[0];
    for (int j = 1; j < n; j++) common = pos[j] < common ? pos[j] : common;
    // rows 0 and 1 read the keys they share together
    int64_t from = pair_dots_avx2(d, k, h, q[0], q[1], common, scores, scores + stride);
    for (int j = 0; j < n; j++) {
        sc[j] = scores + j * stride;
        s[j] = row_scores_avx2(d, k, h, q[j], j < 2 ? from : 0, pos[j], scores + j * stride);
    }
    for (int i = 0; i < hd; i += 32) {
        __m256 acc[ATT_ROWS][4];
        for (int j = 0; j < n; j++)
            for (int g = 0; g < 4; g++) acc[j][g] = _mm256_setzero_ps();
        for (int64_t t = 0; t <= common; t++) {
            const float *vt = v + t * hd + i;
            __m256 v4[4] = {_mm256_loadu_ps(vt), _mm256_loadu_ps(vt + 8), _mm256_loadu_ps(vt + 16),
                            _mm256_loadu_ps(vt + 24)};
            for (int j = 0; j < n; j++) {
                __m256 p = _mm256_set1_ps(sc[j][t]);
                for (int g = 0; g < 4; g++) acc[j][g] = _mm256_fmadd_ps(p, v4[g], acc[j][g]);
            }
        }
        for (int j = 0; j < n; j++) {
            for (int64_t t = common + 1; t <= pos[j]; t++) {
                __m256 p = _mm256_set1_ps(sc[j][t]);
                for (int g = 0; g < 4; g++)
                    acc[j][g] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + t * hd + i + 8 * g), acc[j][g]);
            }
            for (int g = 0; g < 4; g++) _mm256_storeu_ps(out[j] + h * hd + i + 8 * g, acc[j][g]);
        }
    }
    for (int j = 0; j < n; j++) scale_avx2(out[j] + h * hd, hd, 1.0f / s[j]);
}

// The row counts with constants, so the accumulators stay in registers.
BK_AVX2 static void attention_rows_avx2_n(const int n, const bk_attention_desc *d, int slot, int h,
                                          const float *const *q, const int64_t *pos, float *scores, size_t stride,
                                          float *const *out) {
    if (n == 2) attention_rows_avx2(2, d, slot, h, q, pos, scores, stride, out);
    else attention_rows_avx2(ATT_ROWS, d, slot, h, q, pos, scores, stride, out);
}
#endif

// Rows i0 … i0+n−1 (n ≤ ATT_ROWS) against head h, rows of one slot sharing their pass over the values.
static void attention_rows(const bk_attention_desc *d, int h, int n, const float *const *q, const int64_t *pos,
                           const int32_t *row_slots, float *scores, size_t stride, float *const *out) {
    int same = 1;
    for (int j = 1; j < n; j++) same &= row_slots[j] == row_slots[0];
#if BK_X86
    if (same && n > 1 && d->head_dim % 32 == 0 && bk_simd_level() >= BK_SIMD_AVX2) {
        attention_rows_avx2_n(n, d, row_slots[0], h, q, pos, scores, stride, out);
        return;
    }
#endif
    (void)same;
    for (int j = 0; j < n; j++) bk_attention_row(d, row_slots[j], h, q[j], pos[j], scores, out[j]);
}

void bk_attention_row(const bk_attention_desc *d, int slot, int h, const float *q, int64_t pos, float *scores,
                      float *out) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { attention_row_avx2(d, slot, h, q, pos, scores, out); return; }
#endif
    bk_attention_row_ref(d, slot, h, q, pos, scores, out);
}

static size_t scores_floats(int64_t max_positions) { return ((size_t)max_positions + 15) & ~(size_t)15; }

size_t bk_attention_scratch_bytes(int n_threads, int64_t max_positions, int head_dim) {
    (void)head_dim;
    if (n_threads < 1) n_threads = 1;
    return (size_t)n_threads * ATT_ROWS * scores_floats(max_positions) * sizeof(float);
}

typedef struct {
    const bk_attention_desc *d;
    const float *q;
    int64_t ldq, m, ldo;
    const int64_t *positions;
    const int32_t *slots;
    float *out;
    float *scratch;
    size_t scratch_floats;
    _Atomic int64_t next;
} attention_job;

static void attention_task(void *ctx, int ith, int nth) {
    (void)nth;
    attention_job *j = ctx;
    float *scores = j->scratch + (size_t)ith * ATT_ROWS * j->scratch_floats;
    const int64_t blocks = (j->m + ATT_ROWS - 1) / ATT_ROWS, items = (int64_t)j->d->n_head * blocks;
    for (int64_t it; (it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < items;) {
        int h = (int)(it % j->d->n_head);
        int64_t i0 = it / j->d->n_head * ATT_ROWS;
        int n = (int)(j->m - i0 < ATT_ROWS ? j->m - i0 : ATT_ROWS);
        const float *q[ATT_ROWS];
        float *out[ATT_ROWS];
        int32_t row_slots[ATT_ROWS];
        for (int r = 0; r < n; r++)
            q[r] = j->q + (i0 + r) * j->ldq, out[r] = j->out + (i0 + r) * j->ldo,
            row_slots[r] = j->slots ? j->slots[i0 + r] : 0;
        attention_rows(j->d, h, n, q, j->positions + i0, row_slots, scores, j->scratch_floats, out);
    }
}

void bk_attention(bk_pool *pool, const bk_attention_desc *d, const float *q, int64_t ldq, int64_t m,
                  const int64_t *positions, const int32_t *slots, float *out, int64_t ldo, void *scratch) {
    int64_t max_pos = 0;
    for (int64_t i = 0; i < m; i++) max_pos = positions[i] > max_pos ? positions[i] : max_pos;
    attention_job j = {.d = d, .q = q, .ldq = ldq, .m = m, .ldo = ldo, .positions = positions, .slots = slots,
                       .out = out, .scratch = scratch, .scratch_floats = scores_floats(max_pos + 1)};
    atomic_init(&j.next, 0);
    if (pool) bk_pool_run(pool, attention_task, &j);
    else attention_task(&j, 0, 1);
}
