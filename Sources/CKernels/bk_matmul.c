// Linear layers: row dequantization, 8-bit activation blocks, dot products and the threaded bk_linear driver.
// See bk_matmul.h for the numerics contract (every SIMD kernel equals its *_ref twin bit for bit).
#pragma STDC FP_CONTRACT OFF
#include "bk_matmul_simd.h"
#include <math.h>

// ---- the type table ------------------------------------------------------------------------------------------------

static void f32_rows(const void *src, float *dst, size_t k) { memcpy(dst, src, k * 4); }
static void f16_rows(const void *src, float *dst, size_t k) { bk_f16_to_f32((const uint16_t *)src, dst, k); }
static void f16_rows_ref(const void *src, float *dst, size_t k) { bk_f16_to_f32_ref((const uint16_t *)src, dst, k); }
static void bf16_rows(const void *src, float *dst, size_t k) { bk_bf16_to_f32((const uint16_t *)src, dst, k); }
static void bf16_rows_ref(const void *src, float *dst, size_t k) { bk_bf16_to_f32_ref((const uint16_t *)src, dst, k); }

// Dequantization is exact (float types widen; blocks through the quantization work's dequantizers).
static const bk_type_traits type_table[] = {
    {BK_TYPE_F32, 1, 4, BK_ACT_FLOAT, f32_rows, f32_rows},
    {BK_TYPE_F16, 1, 2, BK_ACT_FLOAT, f16_rows, f16_rows_ref},
    {BK_TYPE_BF16, 1, 2, BK_ACT_FLOAT, bf16_rows, bf16_rows_ref},
    {BK_TYPE_Q8_0, 32, sizeof(block_q8_0), BK_ACT_Q8X, bk_dequantize_row_q8_0, bk_dequantize_row_q8_0_ref},
    {BK_TYPE_Q4_0, 32, sizeof(block_q4_0), BK_ACT_Q8X, bk_dequantize_row_q4_0, bk_dequantize_row_q4_0_ref},
    {BK_TYPE_Q4_1, 32, sizeof(block_q4_1), BK_ACT_Q8X, bk_dequantize_row_q4_1, bk_dequantize_row_q4_1_ref},
    {BK_TYPE_Q5_0, 32, sizeof(block_q5_0), BK_ACT_Q8X, bk_dequantize_row_q5_0, bk_dequantize_row_q5_0_ref},
    {BK_TYPE_Q5_1, 32, sizeof(block_q5_1), BK_ACT_Q8X, bk_dequantize_row_q5_1, bk_dequantize_row_q5_1_ref},
    {BK_TYPE_Q2_K, 256, sizeof(block_q2_K), BK_ACT_Q8K, bk_dequantize_row_q2_K, bk_dequantize_row_q2_K_ref},
    {BK_TYPE_Q3_K, 256, sizeof(block_q3_K), BK_ACT_Q8K, bk_dequantize_row_q3_K, bk_dequantize_row_q3_K_ref},
    {BK_TYPE_Q4_K, 256, sizeof(block_q4_K), BK_ACT_Q8K, bk_dequantize_row_q4_K, bk_dequantize_row_q4_K_ref},
    {BK_TYPE_Q5_K, 256, sizeof(block_q5_K), BK_ACT_Q8K, bk_dequantize_row_q5_K, bk_dequantize_row_q5_K_ref},
    {BK_TYPE_Q6_K, 256, sizeof(block_q6_K), BK_ACT_Q8K, bk_dequantize_row_q6_K, bk_dequantize_row_q6_K_ref},
};

const bk_type_traits *bk_traits(int32_t type) {
    for (size_t i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
        if (type_table[i].type == type) return &type_table[i];
    return NULL;
}

int64_t bk_block_elements(int32_t type) {
    const bk_type_traits *t = bk_traits(type);
    return t ? t->elements : 0;
}

size_t bk_row_bytes(int32_t type, int64_t cols) {
    const bk_type_traits *t = bk_traits(type);
    if (!t || cols < 0 || cols % t->elements) return 0;
    return (size_t)(cols / t->elements) * (size_t)t->bytes;
}

static const void *row_ptr(const bk_weight *w, int64_t row) {
    return (const char *)w->data + (size_t)row * bk_row_bytes(w->type, w->cols);
}

void bk_dequantize_row(const bk_weight *w, int64_t row, float *dst) {
    bk_traits(w->type)->dequantize(row_ptr(w, row), dst, (size_t)w->cols);
}

void bk_dequantize_row_ref(const bk_weight *w, int64_t row, float *dst) {
    bk_traits(w->type)->dequantize_ref(row_ptr(w, row), dst, (size_t)w->cols);
}

// ---- 8-bit activation blocks ---------------------------------------------------------------------------------------

// f16 rounding of a positive scale, back as f32 (ggml stores d and s as fp16).
static float half_round(float v) { return bk_f16_to_f32_scalar(bk_f32_to_f16_scalar(v)); }

void bk_quantize_q8x_ref(const float *x, bk_block_q8x *y, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++) {
        const float *v = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
            float r = nearbyintf(v[j] * id);
            int q = r >= -128.0f && r <= 127.0f ? (int)r : -128;  // only NaN falls outside
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
        y[b].d = half_round(d);
        y[b].s = half_round(d * (float)sum);
        y[b].sum = sum;
    }
}

#if BK_X86
#define BK_ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

BK_AVX2 static void quantize_q8x_avx2(const float *x, bk_block_q8x *y, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 32; b++) {
        const float *v = x + b * 32;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16),
               v3 = _mm256_loadu_ps(v + 24);
        __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                  _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, vid), BK_ROUND_NEAREST));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, vid), BK_ROUND_NEAREST));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, vid), BK_ROUND_NEAREST));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, vid), BK_ROUND_NEAREST));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        // packs interleave 128-bit lanes: 0..3 8..11 4..7 12..15 per pair; the permute restores element order
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, p);
        int32_t sum = _mm_cvtsi128_si32(s4);
        y[b].d = half_round(d);
        y[b].s = half_round(d * (float)sum);
        y[b].sum = sum;
    }
}
#endif

void bk_quantize_q8x(const float *x, bk_block_q8x *y, int64_t k) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) { quantize_q8x_avx2(x, y, k); return; }
#endif
    bk_quantize_q8x_ref(x, y, k);
}

size_t bk_activation_row_bytes(int32_t type, int64_t k) {
    const bk_type_traits *t = bk_traits(type);
    if (!t || t->activation == BK_ACT_FLOAT) return 0;
    if (t->activation == BK_ACT_Q8K) return (size_t)(k / 256) * sizeof(block_q8_K);
    return (size_t)(k / 32) * sizeof(bk_block_q8x);
}

void bk_quantize_activations(int32_t type, const float *x, void *y, int64_t k) {
    if (bk_traits(type)->activation == BK_ACT_Q8K) bk_quantize_q8K(x, y, k);
    else bk_quantize_q8x(x, y, k);
}

void bk_quantize_activations_ref(int32_t type, const float *x, void *y, int64_t k) {
    if (bk_traits(type)->activation == BK_ACT_Q8K) bk_quantize_q8K_ref(x, y, k);
    else bk_quantize_q8x_ref(x, y, k);
}

// ---- dot products --------------------------------------------------------------------------------------------------

float bk_dot_f32_ref(const float *a, const float *b, int64_t k) {
    float lanes[8] = {0};
    int64_t k8 = k & ~(int64_t)7;
    for (int64_t i = 0; i < k8; i++) lanes[i & 7] = fmaf(a[i], b[i], lanes[i & 7]);
    float s = bk_hsum8_ref(lanes);
    for (int64_t i = k8; i < k; i++) s = fmaf(a[i], b[i], s);
    return s;
}

// 32-element block dots, ref: 8 int32 lanes per block (lane l = bytes 4l…4l+3), eight accumulator sets (block b goes
// to set b % 8, so the SIMD loops keep eight independent chains), combined as ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7))
// lane by lane. An offset type (Q4_0, Q5_0: Σ(q-z)x = Σqx - z·Σx) takes (z/8)·Σx from each lane; Q4_1 and Q5_1
// add their m·s term to lane 0 of the block's set (and +0 to the other lanes) after the block's product.
static float dot_q32_ref(int32_t type, int64_t k, const void *w, const bk_block_q8x *x) {
    float acc[8][8] = {{0}};
    for (int64_t b = 0; b < k / 32; b++) {
        const bk_block_q8x *xb = x + b;
        uint8_t v[32];
        float dw, m;
        bk_unpack_q32_ref(type, w, b, v, &dw, &m);
        float scale = dw * xb->d, *set = acc[b & 7];
        for (int l = 0; l < 8; l++) {
            int32_t s = 0;
            for (int j = 4 * l; j < 4 * l + 4; j++) s += (type == BK_TYPE_Q8_0 ? (int8_t)v[j] : v[j]) * xb->qs[j];
            s -= BK_Q32_ZERO(type) / 8 * xb->sum;
            set[l] = fmaf(scale, (float)s, set[l]);
        }
        if (BK_Q32_HAS_MIN(type)) {
            set[0] = set[0] + m * xb->s;
            for (int l = 1; l < 8; l++) set[l] = set[l] + 0.0f;
        }
    }
    float lanes[8];
    for (int l = 0; l < 8; l++)
        lanes[l] = ((acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]))
                   + ((acc[4][l] + acc[5][l]) + (acc[6][l] + acc[7][l]));
    return bk_hsum8_ref(lanes);
}

void bk_dot_rows_ref(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                     size_t x_stride, int nc, float *out, int64_t ldo) {
    if (bk_traits(type)->activation == BK_ACT_Q8K) {
        bk_dot_rows_k_ref(type, k, w, w_stride, nrows, x, x_stride, nc, out, ldo);
        return;
    }
    for (int64_t r = 0; r < nrows; r++) {
        const void *row = (const char *)w + r * w_stride;
        for (int c = 0; c < nc; c++)
            out[c * ldo + r] = dot_q32_ref(type, k, row, (const bk_block_q8x *)((const char *)x + c * x_stride));
    }
}

#if BK_X86
// One block of one weight row against up to 4 activation columns (acc: the block's set, per column). wq: the 32
// weight bytes (bk_unpack_q32_avx2). Q8_0 uses ggml's sign trick so maddubs (u8·s8) sees |w|.
BK_AVX2 BK_INLINE void block_step(const int nc, int32_t type, __m256i wq, float dw, float m, const char *x,
                                  size_t xs, int64_t b, __m256 *acc) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int zero = BK_Q32_ZERO(type), has_min = BK_Q32_HAS_MIN(type);
    __m256i aw = type == BK_TYPE_Q8_0 ? _mm256_sign_epi8(wq, wq) : wq;
    for (int c = 0; c < nc; c++) {
        const bk_block_q8x *xb = (const bk_block_q8x *)(x + c * xs) + b;
        __m256i xq = _mm256_loadu_si256((const __m256i *)xb->qs);
        if (type == BK_TYPE_Q8_0) xq = _mm256_sign_epi8(xq, wq);
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xq), ones);
        if (zero) s = _mm256_sub_epi32(s, _mm256_set1_epi32(zero / 8 * xb->sum));
        acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xb->d), _mm256_cvtepi32_ps(s), acc[c]);
        if (has_min) acc[c] = _mm256_add_ps(acc[c], _mm256_setr_ps(m * xb->s, 0, 0, 0, 0, 0, 0, 0));
    }
}

BK_INLINE size_t q32_block_bytes(int32_t type) {
    return type == BK_TYPE_Q8_0 ? sizeof(block_q8_0) : type == BK_TYPE_Q4_0 ? sizeof(block_q4_0)
           : type == BK_TYPE_Q4_1 ? sizeof(block_q4_1) : type == BK_TYPE_Q5_0 ? sizeof(block_q5_0)
           : sizeof(block_q5_1);
}

BK_AVX2 BK_INLINE void dot_q32_avx2(const int nc, int32_t type, int64_t k, const void *w, const char *x, size_t xs,
                                    float *out, int64_t ldo) {
    __m256 acc[8][4];  // [set = block % 8][column]
#pragma clang loop unroll(full)
    for (int s = 0; s < 8; s++)
        for (int c = 0; c < 4; c++) acc[s][c] = _mm256_setzero_ps();
    const int64_t nb = k / 32;
    float dw, m = 0;
    int64_t b = 0;
    const size_t block_bytes = q32_block_bytes(type);
    for (; b + 8 <= nb; b += 8) {
        // the weights stream from memory once per token: ask for them BK_PREFETCH bytes ahead
        const char *ahead = (const char *)w + b * block_bytes + BK_PREFETCH;
        for (size_t o = 0; o < 8 * block_bytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
#pragma clang loop unroll(full)
        for (int s = 0; s < 8; s++) {
            __m256i wq = bk_unpack_q32_avx2(type, w, b + s, &dw, &m);
            block_step(nc, type, wq, dw, m, x, xs, b + s, acc[s]);
        }
    }
#pragma clang loop unroll(full)
    for (int s = 0; s < 8; s++)
        if (b + s < nb) {
            __m256i wq = bk_unpack_q32_avx2(type, w, b + s, &dw, &m);
            block_step(nc, type, wq, dw, m, x, xs, b + s, acc[s]);
        }
    for (int c = 0; c < nc; c++) {
        __m256 lanes = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(acc[0][c], acc[1][c]), _mm256_add_ps(acc[2][c], acc[3][c])),
            _mm256_add_ps(_mm256_add_ps(acc[4][c], acc[5][c]), _mm256_add_ps(acc[6][c], acc[7][c])));
        out[c * ldo] = bk_hsum256(lanes);
    }
}

// Generation (one activation column): the same sums as dot_q32_avx2 with less work per block. The column's d and
// its offset correction are laid out once per call (dx: the blocks' d side by side; corr: the correction as int16
// pairs (c, 0), taken from the maddubs pairs before they widen, so lane l still gets Σqx − (z/8)·Σx); the weights' f16
// scales of 8 blocks go through one conversion and one multiply (the same f32 products d_w·d_x); Q4_1/Q5_1 likewise
// for m·s. Bounds: |pair| ≤ 2·31·127 and |c| ≤ 2·32·127, so pair − c fits int16. Rows go 8 at a time so their
// horizontal sums share one transposed reduction (bk_hsum256x8). One core, 256 Q4_0 rows of 1024 (in cache), ns per
// block, best of 7: 1.38 → 1.17; each part alone gave less than half of that (the f16 scale conversion per block and
// the reduction at the end of each 32-block row).
#define ONE_MAX_BLOCKS 512

typedef struct {
    float dx[ONE_MAX_BLOCKS], sx[ONE_MAX_BLOCKS];
    __m256i corr[ONE_MAX_BLOCKS];
} one_column;

// The f16 at p and at the 7 strides after it, as f32 (d is every 32-element block's first field, m the second).
BK_AVX2 BK_INLINE __m256 halves8(const char *p, size_t stride) {
    uint64_t lo = 0, hi = 0;
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++) {
        uint16_t a, b;
        memcpy(&a, p + i * stride, 2), memcpy(&b, p + (i + 4) * stride, 2);
        lo |= (uint64_t)a << (16 * i), hi |= (uint64_t)b << (16 * i);
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((int64_t)hi, (int64_t)lo));
}

BK_AVX2 BK_INLINE __m256 dot_q32_one_avx2(const int32_t type, int64_t k, const void *w, const one_column *col,
                                          const char *x) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int zero = BK_Q32_ZERO(type), has_min = BK_Q32_HAS_MIN(type);
    const size_t bytes = q32_block_bytes(type);
    __m256 acc[8];
#pragma clang loop unroll(full)
    for (int s = 0; s < 8; s++) acc[s] = _mm256_setzero_ps();
    const int64_t nb = k / 32;
    const bk_block_q8x *xb = (const bk_block_q8x *)x;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const char *wb = (const char *)w + b * bytes;
        for (size_t o = 0; o < 8 * bytes; o += 64) _mm_prefetch(wb + BK_PREFETCH + o, _MM_HINT_T0);
        float scale[8], mins[8];
        _mm256_storeu_ps(scale, _mm256_mul_ps(halves8(wb, bytes), _mm256_loadu_ps(col->dx + b)));
        if (has_min) _mm256_storeu_ps(mins, _mm256_mul_ps(halves8(wb + 2, bytes), _mm256_loadu_ps(col->sx + b)));
#pragma clang loop unroll(full)
        for (int s = 0; s < 8; s++) {
            float dw, m;
            __m256i wq = bk_unpack_q32_avx2(type, w, b + s, &dw, &m);
            __m256i xq = _mm256_loadu_si256((const __m256i *)xb[b + s].qs);
            __m256i aw = wq;
            if (type == BK_TYPE_Q8_0) aw = _mm256_sign_epi8(wq, wq), xq = _mm256_sign_epi8(xq, wq);
            __m256i p = _mm256_maddubs_epi16(aw, xq);
            if (zero) p = _mm256_sub_epi16(p, col->corr[b + s]);
            __m256i sum = _mm256_madd_epi16(p, ones);
            acc[s] = _mm256_fmadd_ps(_mm256_set1_ps(scale[s]), _mm256_cvtepi32_ps(sum), acc[s]);
            if (has_min) acc[s] = _mm256_add_ps(acc[s], _mm256_setr_ps(mins[s], 0, 0, 0, 0, 0, 0, 0));
        }
    }
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])),
                         _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7])));
}

BK_AVX2 BK_INLINE void dot_rows_avx2(const int nc, const int32_t type, int64_t k, const void *w, size_t w_stride,
                                     int64_t nrows, const char *x, size_t xs, float *out, int64_t ldo) {
    if (nc == 1 && k % 256 == 0 && k / 32 <= ONE_MAX_BLOCKS) {
        one_column col;
        const bk_block_q8x *xb = (const bk_block_q8x *)x;
        const int zero = BK_Q32_ZERO(type);
        for (int64_t b = 0; b < k / 32; b++) {
            col.dx[b] = xb[b].d, col.sx[b] = xb[b].s;
            if (zero) col.corr[b] = _mm256_set1_epi32(zero / 8 * xb[b].sum & 0xffff);
        }
        // 8 rows' lanes, then their 8 horizontal sums together
        int64_t r = 0;
        for (; r + 8 <= nrows; r += 8) {
            __m256 lanes[8];
            for (int i = 0; i < 8; i++)
                lanes[i] = dot_q32_one_avx2(type, k, (const char *)w + (r + i) * w_stride, &col, x);
            _mm256_storeu_ps(out + r, bk_hsum256x8(lanes));
        }
        for (; r < nrows; r++) out[r] = bk_hsum256(dot_q32_one_avx2(type, k, (const char *)w + r * w_stride, &col, x));
        return;
    }
    for (int64_t r = 0; r < nrows; r++) dot_q32_avx2(nc, type, k, (const char *)w + r * w_stride, x, xs, out + r, ldo);
}

// Specialized per type and column count so every loop above unrolls with constants.
#define BK_DOT_VARIANT(NAME, TYPE)                                                                                     \
    BK_AVX2 static void NAME(int64_t k, const void *w, size_t ws, int64_t nrows, const char *x, size_t xs, int nc,     \
                             float *out, int64_t ldo) {                                                                \
        switch (nc) {                                                                                                  \
        case 1: dot_rows_avx2(1, TYPE, k, w, ws, nrows, x, xs, out, ldo); break;                                      \
        case 2: dot_rows_avx2(2, TYPE, k, w, ws, nrows, x, xs, out, ldo); break;                                      \
        case 3: dot_rows_avx2(3, TYPE, k, w, ws, nrows, x, xs, out, ldo); break;                                      \
        default: dot_rows_avx2(4, TYPE, k, w, ws, nrows, x, xs, out, ldo); break;                                     \
        }                                                                                                              \
    }
BK_DOT_VARIANT(dot_rows_q8_0, BK_TYPE_Q8_0)
BK_DOT_VARIANT(dot_rows_q4_0, BK_TYPE_Q4_0)
BK_DOT_VARIANT(dot_rows_q4_1, BK_TYPE_Q4_1)
BK_DOT_VARIANT(dot_rows_q5_0, BK_TYPE_Q5_0)
BK_DOT_VARIANT(dot_rows_q5_1, BK_TYPE_Q5_1)
#endif

void bk_dot_rows(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                 size_t x_stride, int nc, float *out, int64_t ldo) {
#if BK_X86
    if (bk_simd_level() >= BK_SIMD_AVX2) {
        const char *xc = x;
        switch (type) {
        case BK_TYPE_Q8_0: dot_rows_q8_0(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q4_0: dot_rows_q4_0(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q4_1: dot_rows_q4_1(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q5_0: dot_rows_q5_0(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        case BK_TYPE_Q5_1: dot_rows_q5_1(k, w, w_stride, nrows, xc, x_stride, nc, out, ldo); return;
        default: break;
        }
    }
#endif
    if (bk_traits(type)->activation == BK_ACT_Q8K)
        bk_dot_rows_k(type, k, w, w_stride, nrows, x, x_stride, nc, out, ldo);
    else
        bk_dot_rows_ref(type, k, w, w_stride, nrows, x, x_stride, nc, out, ldo);
}
