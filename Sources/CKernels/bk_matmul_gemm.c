// bk_linear: y = epilogue(x·Wᵀ + b), rows of W split over the pool in chunks taken from an atomic counter.
// Three paths (see bk_matmul.h): f32 tiles over float weights converted on the fly (every element one 8-lane dot
// product, bk_dot_f32_ref's shape; 4 activation rows × 3 weight rows per tile from 4 activation rows on; a single
// activation row, generation, takes weight rows one after another with 4 chains: ROW_ORDER); 8-bit dots
// row by row for block weights and few activation rows; 8-bit panels for block weights and BK_GEMM_MIN_ROWS or more
// activation rows (bk_matmul_gemm8.c for the 32-element types, the
// K-quant panels of bk_matmul_kquants.c for the 256-element ones).
#pragma STDC FP_CONTRACT OFF
#include "bk_matmul_gemm8.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

// Float tiles (two or more activation rows; one row takes ROW_ORDER below): MR activation rows × NR weight rows below
// TALL_MR activation rows, TALL_MR × TALL_NR from there on (AVX2). Best of 4–5 runs on one core of the 2-core AMD EPYC
// (AVX2/FMA/F16C), 2026-12-06, F16 weights, m = 512, k × n = 1024 × 4096 and 4096 × 1024: 3 × 4 tiles in cache blocks
// (weights converted once per block) 57–62 GFLOP/s; 6 × 2 tiles 67–71; 4 × 3 tiles in panels of 16 weight rows 63–72,
// of 48 rows 75–77 (96: the same). The 4 × 3 loop keeps its 12 accumulators, 3 converted weight vectors and one
// activation vector in the 16 registers.
#define MR 3
#define NR 4
#define TALL_MR 4
#define TALL_NR 3
#define PANEL 48  // float-weight rows per group of tiles (a multiple of TALL_NR: no repeated rows but a chunk's last)

typedef struct {
    const bk_weight *w;
    const float *bias;
    const float *x;
    int64_t ldx, m;
    float *y;
    int64_t ldy;
    int flags;
    const char *xq;          // block weights: the m activation rows quantized for the type (xq_bytes each)
    size_t xq_bytes;
    uint8_t *panels;         // 8-bit panels: one per thread
    int64_t chunk, nchunks;
    size_t row_bytes;
    int simd;
    _Atomic int64_t next;
} linear_job;

BK_INLINE const void *weight_row(const linear_job *j, int64_t r) {
    return (const char *)j->w->data + (size_t)r * j->row_bytes;
}

// The epilogue's first part for n consecutive outputs v of activation row i: + bias, then stored, or added to what
// y holds (BK_EPILOGUE_ACCUMULATE); GELU comes after a chunk's rows are done (finish_rows).
static void store_segment(const linear_job *j, int64_t i, int64_t r0, int64_t n, const float *v) {
    float *dst = j->y + i * j->ldy + r0;
    const float *b = j->bias ? j->bias + r0 : NULL;
    if (j->flags & BK_EPILOGUE_ACCUMULATE) {
        if (b) for (int64_t r = 0; r < n; r++) dst[r] = dst[r] + (v[r] + b[r]);
        else for (int64_t r = 0; r < n; r++) dst[r] = dst[r] + v[r];
    } else {
        if (b) for (int64_t r = 0; r < n; r++) dst[r] = v[r] + b[r];
        else memcpy(dst, v, (size_t)n * sizeof(float));
    }
}

static void finish_rows(const linear_job *j, int64_t r0, int64_t r1) {
    if (!(j->flags & BK_EPILOGUE_GELU)) return;
    for (int64_t i = 0; i < j->m; i++) {
        float *seg = j->y + i * j->ldy + r0;
        if (j->simd) bk_gelu(seg, seg, r1 - r0); else bk_gelu_ref(seg, seg, r1 - r0);
    }
}

// ---- tiles ---------------------------------------------------------------------------------------------------------

static void tile_ref(int mr, int nr, int32_t wtype, int64_t k, const float *const *a, const void *const *b,
                     float out[TALL_MR][NR]) {
    int64_t k8 = k & ~(int64_t)7;
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float lanes[8] = {0};
            for (int64_t i = 0; i < k8; i++) lanes[i & 7] = fmaf(a[r][i], bk_float_at(wtype, b[c], i), lanes[i & 7]);
            float s = bk_hsum8_ref(lanes);
            for (int64_t i = k8; i < k; i++) s = fmaf(a[r][i], bk_float_at(wtype, b[c], i), s);
            out[r][c] = s;
        }
}

// ROW_ORDER: one activation row against one weight row, as generation (m = 1) computes every output: four 8-lane
// chains over consecutive groups of 32 elements (chain c takes elements 32·t + 8·c … + 7), the last k % 32 / 8 groups
// of 8 on chain 0, the chains added lane-wise ((0 + 1) + (2 + 3)), reduced, then the k % 8 tail in order. The one
// chain of the tiles is latency bound on a single row and reads several rows side by side; one core, F16 weights
// 250880 × 1024 (the 560M head), 2026-12-06: one row with 4 chains 14.6–15.2 GB/s, one row with one chain
// 12.2–13.3, 4 rows side by side (one chain each: the tiles' order) 10.2–11.8. The 560M-shaped F16 file, 2 threads,
// tg128 beside llama-bench (scripts/compare-llama-cpp.sh, same run): 0.88× before, 1.04× (23.2 vs 22.2 tokens/s).
static float row_ref(int32_t wtype, int64_t k, const float *a, const void *b) {
    float lanes[4][8] = {{0}};
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 8; l++)
                lanes[c][l] = fmaf(a[i + 8 * c + l], bk_float_at(wtype, b, i + 8 * c + l), lanes[c][l]);
    for (; i + 8 <= k; i += 8)
        for (int l = 0; l < 8; l++) lanes[0][l] = fmaf(a[i + l], bk_float_at(wtype, b, i + l), lanes[0][l]);
    float sum[8];
    for (int l = 0; l < 8; l++) sum[l] = (lanes[0][l] + lanes[1][l]) + (lanes[2][l] + lanes[3][l]);
    float s = bk_hsum8_ref(sum);
    for (; i < k; i++) s = fmaf(a[i], bk_float_at(wtype, b, i), s);
    return s;
}

#if BK_X86
// F16/BF16 rows ask for the line ROW_PREFETCH bytes ahead (the hardware prefetcher alone left one core at 12–14 GB/s
// on the 560M head). One core, 250880 × 1024 F16, ns per row, best of 7: none 124, 256 B 115, 512 B 112, 1024 B 111,
// 1536 B 120, 4096 B 146. F32 rows (two lines per step) ran slower with it (211 → 262–274) and go without.
#define ROW_PREFETCH 1024
BK_AVX2 BK_INLINE float row_avx2(const int32_t wtype, int64_t k, const float *a, const void *b) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        if (wtype != BK_TYPE_F32) _mm_prefetch((const char *)b + 2 * i + ROW_PREFETCH, _MM_HINT_T0);
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), bk_load8(wtype, b, i), c0);
        c1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), bk_load8(wtype, b, i + 8), c1);
        c2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), bk_load8(wtype, b, i + 16), c2);
        c3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), bk_load8(wtype, b, i + 24), c3);
    }
    for (; i + 8 <= k; i += 8) c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), bk_load8(wtype, b, i), c0);
    float s = bk_hsum256(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)));
    for (; i < k; i++) s = fmaf(a[i], bk_float_at(wtype, b, i), s);
    return s;
}

#define BK_ROW_VARIANT(NAME, TYPE)                                                                                    \
    BK_AVX2 static void NAME(int64_t k, const float *a, const void *const *rows, int64_t n, float *out) {             \
        for (int64_t r = 0; r < n; r++) out[r] = row_avx2(TYPE, k, a, rows[r]);                                     \
    }
BK_ROW_VARIANT(rows_f32, BK_TYPE_F32)
BK_ROW_VARIANT(rows_f16, BK_TYPE_F16)
BK_ROW_VARIANT(rows_bf16, BK_TYPE_BF16)

// A tile's outputs: each 8-lane sum reduced, then the k % 8 tail in order (tile_ref's operations).
BK_AVX2 BK_INLINE void tile_sums(const int mr, const int nr, const int32_t wtype, int64_t k, const float *const *a,
                                 const void *const *b, __m256 acc[TALL_MR][NR], float out[TALL_MR][NR]) {
    const int64_t k8 = k & ~(int64_t)7;
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float s = bk_hsum256(acc[r][c]);
            for (int64_t i = k8; i < k; i++) s = fmaf(a[r][i], bk_float_at(wtype, b[c], i), s);
            out[r][c] = s;
        }
}

// The small tiles (mr ≤ MR, NR weight rows): the activation vectors loaded first, each weight vector used mr times.
BK_AVX2 BK_INLINE void tile_avx2(const int mr, const int32_t wtype, int64_t k, const float *const *a,
                                 const void *const *b, float out[TALL_MR][NR]) {
    __m256 acc[TALL_MR][NR];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < NR; c++) acc[r][c] = _mm256_setzero_ps();
    const int64_t k8 = k & ~(int64_t)7;
    for (int64_t i = 0; i < k8; i += 8) {
        __m256 av[TALL_MR];
        for (int r = 0; r < mr; r++) av[r] = _mm256_loadu_ps(a[r] + i);
        for (int c = 0; c < NR; c++) {
            __m256 bv = bk_load8(wtype, b[c], i);
            for (int r = 0; r < mr; r++) acc[r][c] = _mm256_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    tile_sums(mr, NR, wtype, k, a, b, acc, out);
}

// The TALL_MR × TALL_NR tile: the other loop order — the weight vectors converted first, then each activation vector
// loaded once and used TALL_NR times (no spills: see above; tile_avx2's order would hold TALL_MR activation vectors
// too). Each output is the same accumulation in the same order.
BK_AVX2 BK_INLINE void tile_tall_avx2(const int32_t wtype, int64_t k, const float *const *a, const void *const *b,
                                      float out[TALL_MR][NR]) {
    __m256 acc[TALL_MR][NR];
    for (int r = 0; r < TALL_MR; r++)
        for (int c = 0; c < TALL_NR; c++) acc[r][c] = _mm256_setzero_ps();
    const int64_t k8 = k & ~(int64_t)7;
    for (int64_t i = 0; i < k8; i += 8) {
        __m256 bv[TALL_NR];
        for (int c = 0; c < TALL_NR; c++) bv[c] = bk_load8(wtype, b[c], i);
        for (int r = 0; r < TALL_MR; r++) {
            const __m256 av = _mm256_loadu_ps(a[r] + i);
            for (int c = 0; c < TALL_NR; c++) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
        }
    }
    tile_sums(TALL_MR, TALL_NR, wtype, k, a, b, acc, out);
}

// mr is TALL_MR (then TALL_NR weight rows) or 1…MR (then NR); every variant computes all of its weight rows (the
// caller repeats the last one in a partial group).
#define BK_TILE_VARIANT(NAME, TYPE)                                                                                   \
    BK_AVX2 static void NAME(int mr, int64_t k, const float *const *a, const void *const *b,                          \
                             float out[TALL_MR][NR]) {                                                                \
        switch (mr) {                                                                                                 \
        case TALL_MR: tile_tall_avx2(TYPE, k, a, b, out); break;                                                     \
        case 1: tile_avx2(1, TYPE, k, a, b, out); break;                                                             \
        case 2: tile_avx2(2, TYPE, k, a, b, out); break;                                                             \
        default: tile_avx2(3, TYPE, k, a, b, out); break;                                                            \
        }                                                                                                             \
    }
BK_TILE_VARIANT(tile_f32, BK_TYPE_F32)
BK_TILE_VARIANT(tile_f16, BK_TYPE_F16)
BK_TILE_VARIANT(tile_bf16, BK_TYPE_BF16)
#endif

// Runs tiles over activation rows [0, m) and the weight rows b[0…nrows ≤ PANEL) (pointers to rows of wtype); each
// activation row's outputs for the panel are stored as one segment, through the epilogue's vector loop. (Writing y,
// larger than the caches, is 5–6% of an F16 prompt's time on one core either way: its lines miss.)
static void tiles(const linear_job *j, int32_t wtype, int64_t r0, const void *const *rows, int64_t nrows) {
    const int64_t k = j->w->cols, m = j->m;
    float out[TALL_MR][NR], segments[TALL_MR][PANEL];
    if (m == 1) {  // ROW_ORDER
#if BK_X86
        if (j->simd) {
            switch (wtype) {
            case BK_TYPE_F16: rows_f16(k, j->x, rows, nrows, segments[0]); break;
            case BK_TYPE_BF16: rows_bf16(k, j->x, rows, nrows, segments[0]); break;
            default: rows_f32(k, j->x, rows, nrows, segments[0]); break;
            }
        } else
#endif
            for (int64_t r = 0; r < nrows; r++) segments[0][r] = row_ref(wtype, k, j->x, rows[r]);
        store_segment(j, 0, r0, nrows, segments[0]);
        return;
    }
    for (int64_t i0 = 0; i0 < m;) {
        const int tall = j->simd && m - i0 >= TALL_MR;
        const int mr = tall ? TALL_MR : (int)(m - i0 < MR ? m - i0 : MR), width = tall ? TALL_NR : NR;
        const float *a[TALL_MR];
        for (int r = 0; r < mr; r++) a[r] = j->x + (i0 + r) * j->ldx;
        for (int64_t g = 0; g < nrows; g += width) {
            int nr = (int)(nrows - g < width ? nrows - g : width);
            const void *b[NR];
            for (int c = 0; c < width; c++) b[c] = rows[g + (c < nr ? c : nr - 1)];
#if BK_X86
            if (j->simd) {
                switch (wtype) {
                case BK_TYPE_F16: tile_f16(mr, k, a, b, out); break;
                case BK_TYPE_BF16: tile_bf16(mr, k, a, b, out); break;
                default: tile_f32(mr, k, a, b, out); break;
                }
            } else
#endif
                tile_ref(mr, nr, wtype, k, a, b, out);
            for (int r = 0; r < mr; r++)
                for (int c = 0; c < nr; c++) segments[r][g + c] = out[r][c];
        }
        for (int r = 0; r < mr; r++) store_segment(j, i0 + r, r0, nrows, segments[r]);
        i0 += mr;
    }
}

// ---- the three paths -----------------------------------------------------------------------------------------------

// Raw dots of a chunk into a stack buffer (out[column][row]), then the epilogue.
#define BLOCK_ROWS 128

static void run_block_dots(const linear_job *j, int64_t r0, int64_t r1) {
    const int64_t k = j->w->cols;
    float out[4 * BLOCK_ROWS];
    for (int64_t p = r0; p < r1; p += BLOCK_ROWS) {
        int64_t n = r1 - p < BLOCK_ROWS ? r1 - p : BLOCK_ROWS;
        for (int64_t i0 = 0; i0 < j->m; i0 += 4) {
            int nc = (int)(j->m - i0 < 4 ? j->m - i0 : 4);
            const char *x = j->xq + i0 * j->xq_bytes;
            const void *w = weight_row(j, p);
            if (j->simd) bk_dot_rows(j->w->type, k, w, j->row_bytes, n, x, j->xq_bytes, nc, out, BLOCK_ROWS);
            else bk_dot_rows_ref(j->w->type, k, w, j->row_bytes, n, x, j->xq_bytes, nc, out, BLOCK_ROWS);
            for (int c = 0; c < nc; c++) store_segment(j, i0 + c, p, n, out + c * BLOCK_ROWS);
        }
    }
}

static void run_float_tiles(const linear_job *j, int64_t r0, int64_t r1) {
    const void *rows[PANEL];
    for (int64_t p = r0; p < r1; p += PANEL) {
        int64_t n = r1 - p < PANEL ? r1 - p : PANEL;
        for (int64_t c = 0; c < n; c++) rows[c] = weight_row(j, p + c);
        tiles(j, j->w->type, p, rows, n);
    }
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

// Enough for either activation block (bk_block_q8x: 44 bytes per 32 values; block_q8_K: 292 per 256).
static size_t activation_bytes(int64_t m_max, int64_t k_max) {
    return round64((size_t)m_max * (size_t)(k_max / 32 + 1) * sizeof(bk_block_q8x));
}

// K-quant panels are repacked KP_GROUPS of KP_ROWS rows at a time, so a group of activation rows meets them all.
#define KP_GROUPS (PANEL_ROWS / KP_ROWS)

static size_t kpanel_bytes(int64_t k) { return (size_t)(k / 256) * bk_kpanel_block_bytes(); }

static size_t panel_bytes(int64_t k_max) {
    size_t q32 = (size_t)(k_max / 32 + 1) * bk_gemm8_panel_block_bytes();
    size_t k256 = KP_GROUPS * (size_t)(k_max / 256 + 1) * bk_kpanel_block_bytes();
    return round64(q32 > k256 ? q32 : k256);
}

// The thread's panel scratch.
static uint8_t *panel_of(const linear_job *j, int ith) { return j->panels + (size_t)ith * panel_bytes(j->w->cols); }

static void run_panels(const linear_job *j, int64_t r0, int64_t r1, int ith) {
    const int64_t nb = j->w->cols / 32;
    const bk_block_q8x *xq = (const bk_block_q8x *)j->xq;
    uint8_t *panel = panel_of(j, ith);
    float out[4 * PANEL_ROWS];
    for (int64_t p = r0; p < r1; p += PANEL_ROWS) {
        int n = (int)(r1 - p < PANEL_ROWS ? r1 - p : PANEL_ROWS);
        if (j->simd) bk_gemm8_repack(j->w, p, n, panel);
        else bk_gemm8_repack_ref(j->w, p, n, panel);
        for (int64_t i0 = 0; i0 < j->m; i0 += 4) {
            int mr = (int)(j->m - i0 < 4 ? j->m - i0 : 4);
            if (j->simd) bk_gemm8_panel(j->w->type, nb, panel, n, xq + i0 * nb, nb, mr, out, PANEL_ROWS);
            else bk_gemm8_panel_ref(j->w->type, nb, panel, n, xq + i0 * nb, nb, mr, out, PANEL_ROWS);
            for (int t = 0; t < mr; t++) store_segment(j, i0 + t, p, n, out + t * PANEL_ROWS);
        }
    }
}

static void run_kpanels(const linear_job *j, int64_t r0, int64_t r1, int ith) {
    const int64_t nb = j->w->cols / 256;
    const block_q8_K *xq = (const block_q8_K *)j->xq;
    uint8_t *panel = panel_of(j, ith);
    float out[4 * PANEL_ROWS];
    for (int64_t p = r0; p < r1; p += PANEL_ROWS) {
        int n = (int)(r1 - p < PANEL_ROWS ? r1 - p : PANEL_ROWS), groups = (n + KP_ROWS - 1) / KP_ROWS;
        for (int h = 0; h < groups; h++) {
            int64_t rows = n - h * KP_ROWS < KP_ROWS ? n - h * KP_ROWS : KP_ROWS;
            uint8_t *dst = panel + h * kpanel_bytes(j->w->cols);
            if (j->simd) bk_kpanel_repack(j->w, p + h * KP_ROWS, rows, dst);
            else bk_kpanel_repack_ref(j->w, p + h * KP_ROWS, rows, dst);
        }
        for (int64_t i0 = 0; i0 < j->m; i0 += 4) {
            int mr = (int)(j->m - i0 < 4 ? j->m - i0 : 4);
            for (int h = 0; h < groups; h++) {
                const uint8_t *src = panel + h * kpanel_bytes(j->w->cols);
                if (j->simd) bk_kpanel(j->w->type, nb, src, xq + i0 * nb, nb, mr, out + h * KP_ROWS, PANEL_ROWS);
                else bk_kpanel_ref(j->w->type, nb, src, xq + i0 * nb, nb, mr, out + h * KP_ROWS, PANEL_ROWS);
            }
            for (int t = 0; t < mr; t++) store_segment(j, i0 + t, p, n, out + t * PANEL_ROWS);
        }
    }
}

static int uses_block_dots(const bk_weight *w, int64_t m) {
    const bk_type_traits *t = bk_traits(w->type);
    return t->activation != BK_ACT_FLOAT && m < BK_GEMM_MIN_ROWS;
}

static void linear_task(void *ctx, int ith, int nth) {
    (void)nth;
    linear_job *j = ctx;
    const int block_dots = uses_block_dots(j->w, j->m), panels = bk_is_block_type(j->w->type) && !block_dots;
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= j->nchunks) return;
        int64_t r0 = c * j->chunk, r1 = r0 + j->chunk < j->w->rows ? r0 + j->chunk : j->w->rows;
        if (block_dots) run_block_dots(j, r0, r1);
        else if (panels && bk_traits(j->w->type)->activation == BK_ACT_Q8K) run_kpanels(j, r0, r1, ith);
        else if (panels) run_panels(j, r0, r1, ith);
        else run_float_tiles(j, r0, r1);
        finish_rows(j, r0, r1);
    }
}

// ---- entry points --------------------------------------------------------------------------------------------------

size_t bk_linear_scratch_bytes(int n_threads, int64_t m_max, int64_t k_max) {
    if (n_threads < 1) n_threads = 1;
    return activation_bytes(m_max, k_max) + (size_t)n_threads * panel_bytes(k_max);
}

typedef struct {
    const float *x;
    int64_t ldx, m, k;
    int32_t type;
    char *xq;
    size_t xq_bytes;
    int simd;
    _Atomic int64_t next;
} quantize_job;

static void quantize_task(void *ctx, int ith, int nth) {
    (void)ith, (void)nth;
    quantize_job *q = ctx;
    for (int64_t i; (i = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed)) < q->m;) {
        if (q->simd) bk_quantize_activations(q->type, q->x + i * q->ldx, q->xq + i * q->xq_bytes, q->k);
        else bk_quantize_activations_ref(q->type, q->x + i * q->ldx, q->xq + i * q->xq_bytes, q->k);
    }
}

static void run_linear(bk_pool *pool, int simd, const bk_weight *w, const float *bias, const float *x, int64_t ldx,
                       int64_t m, float *y, int64_t ldy, int flags, void *scratch) {
    if (m <= 0 || w->rows <= 0) return;
    int nth = bk_pool_size(pool);
    linear_job j = {
        .w = w, .bias = bias, .x = x, .ldx = ldx, .m = m, .y = y, .ldy = ldy, .flags = flags,
        .row_bytes = bk_row_bytes(w->type, w->cols), .simd = simd,
    };
    atomic_init(&j.next, 0);
    int64_t chunk = w->rows / ((int64_t)nth * 16);
    chunk = chunk < PANEL_ROWS ? PANEL_ROWS : chunk > 256 ? 256 : chunk;
    j.chunk = (chunk + PANEL_ROWS - 1) / PANEL_ROWS * PANEL_ROWS;
    j.nchunks = (w->rows + j.chunk - 1) / j.chunk;
    j.panels = (uint8_t *)scratch + activation_bytes(m, w->cols);
    if (bk_is_block_type(w->type)) {
        j.xq_bytes = bk_activation_row_bytes(w->type, w->cols);
        quantize_job q = {.x = x, .ldx = ldx, .m = m, .k = w->cols, .type = w->type, .xq = scratch,
                          .xq_bytes = j.xq_bytes, .simd = simd};
        atomic_init(&q.next, 0);
        if (pool && m > 1) bk_pool_run(pool, quantize_task, &q);
        else quantize_task(&q, 0, 1);
        j.xq = scratch;
    }
    if (pool) bk_pool_run(pool, linear_task, &j);
    else linear_task(&j, 0, 1);
}

void bk_linear(bk_pool *pool, const bk_weight *w, const float *bias, const float *x, int64_t ldx, int64_t m,
               float *y, int64_t ldy, int flags, void *scratch) {
    run_linear(pool, bk_simd_level() >= BK_SIMD_AVX2, w, bias, x, ldx, m, y, ldy, flags, scratch);
}

void bk_linear_ref(const bk_weight *w, const float *bias, const float *x, int64_t ldx, int64_t m,
                   float *y, int64_t ldy, int flags) {
    size_t bytes = bk_linear_scratch_bytes(1, m, w->cols);
    void *scratch = aligned_alloc(64, bytes);
    if (!scratch) return;
    run_linear(NULL, 0, w, bias, x, ldx, m, y, ldy, flags, scratch);
    free(scratch);
}
