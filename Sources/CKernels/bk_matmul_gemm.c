// bk_linear: y = epilogue(x·Wᵀ + b), rows of W split over the pool in chunks taken from an atomic counter.
// Three paths (see bk_matmul.h): f32 tiles over float weights converted on the fly (every element one 8-lane dot
// product, bk_dot_f32_ref's shape; blocked for the caches from BK_GEMM_MIN_ROWS activation rows on); 8-bit dots
// row by row for block weights and few activation rows; 8-bit panels for block weights and BK_GEMM_MIN_ROWS or more
// activation rows (bk_matmul_gemm8.c for the 32-element types, the
// K-quant panels of bk_matmul_kquants.c for the 256-element ones).
#pragma STDC FP_CONTRACT OFF
#include "bk_matmul_gemm8.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MR 3
#define NR 4
#define PANEL 16  // float-weight rows per group of tiles

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

BK_INLINE void store(const linear_job *j, int64_t i, int64_t r, float v) {
    if (j->bias) v = v + j->bias[r];
    float *dst = j->y + i * j->ldy + r;
    *dst = (j->flags & BK_EPILOGUE_ACCUMULATE) ? *dst + v : v;
}

// store() for n consecutive outputs of activation row i (the same operations, in loops the compiler vectorizes).
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
                     float out[MR][NR]) {
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

#if BK_X86
BK_AVX2 BK_INLINE void tile_avx2(const int mr, const int32_t wtype, int64_t k, const float *const *a,
                                 const void *const *b, float out[MR][NR]) {
    __m256 acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t k8 = k & ~(int64_t)7;
    for (int64_t i = 0; i < k8; i += 8) {
        __m256 av[MR];
        for (int r = 0; r < mr; r++) av[r] = _mm256_loadu_ps(a[r] + i);
        for (int c = 0; c < NR; c++) {
            __m256 bv = bk_load8(wtype, b[c], i);
            for (int r = 0; r < mr; r++) acc[r][c] = _mm256_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < NR; c++) {
            float s = bk_hsum256(acc[r][c]);
            for (int64_t i = k8; i < k; i++) s = fmaf(a[r][i], bk_float_at(wtype, b[c], i), s);
            out[r][c] = s;
        }
}

#define BK_TILE_VARIANT(NAME, TYPE)                                                                                   \
    BK_AVX2 static void NAME(int mr, int64_t k, const float *const *a, const void *const *b, float out[MR][NR]) {     \
        switch (mr) {                                                                                                 \
        case 1: tile_avx2(1, TYPE, k, a, b, out); break;                                                             \
        case 2: tile_avx2(2, TYPE, k, a, b, out); break;                                                             \
        default: tile_avx2(3, TYPE, k, a, b, out); break;                                                            \
        }                                                                                                             \
    }
BK_TILE_VARIANT(tile_f32, BK_TYPE_F32)
BK_TILE_VARIANT(tile_f16, BK_TYPE_F16)
BK_TILE_VARIANT(tile_bf16, BK_TYPE_BF16)
#endif

// Runs tiles over activation rows [0, m) and the weight rows b[0…nrows) (pointers to rows of wtype).
static void tiles(const linear_job *j, int32_t wtype, int64_t r0, const void *const *rows, int64_t nrows) {
    const int64_t k = j->w->cols, m = j->m;
    float out[MR][NR];
    for (int64_t i0 = 0; i0 < m; i0 += MR) {
        int mr = (int)(m - i0 < MR ? m - i0 : MR);
        const float *a[MR];
        for (int r = 0; r < MR; r++) a[r] = j->x + (i0 + (r < mr ? r : mr - 1)) * j->ldx;
        for (int64_t g = 0; g < nrows; g += NR) {
            int nr = (int)(nrows - g < NR ? nrows - g : NR);
            const void *b[NR];
            for (int c = 0; c < NR; c++) b[c] = rows[g + (c < nr ? c : nr - 1)];
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
                for (int c = 0; c < nr; c++) store(j, i0 + r, r0 + g + c, out[r][c]);
        }
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

#if BK_X86
// Float weights against BK_GEMM_MIN_ROWS or more activation rows (AVX2): blocks of BLOCK_M activation rows meet each
// PANEL-row panel of weights KC columns at a time, the weights converted to f32 once per block into L1-sized
// scratch, the tiles' 8-lane accumulators kept in scratch between column blocks. Each output is tile_avx2's
// accumulation in tile_avx2's order, so the results are the same; only the loops are blocked for the caches.
#define KC 256
#define BLOCK_M (32 * MR)  // 96: about 1.2× 24 on the 560M-shaped F16 file (a quarter of the conversions)

BK_AVX2 BK_INLINE void tile_part_avx2(const int mr, int64_t kc, const float *const *a, const float *const *b,
                                      __m256 *acc) {
    __m256 s[MR][NR];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < NR; c++) s[r][c] = acc[r * PANEL + c];
    for (int64_t i = 0; i < kc; i += 8) {
        __m256 av[MR];
        for (int r = 0; r < mr; r++) av[r] = _mm256_loadu_ps(a[r] + i);
        for (int c = 0; c < NR; c++) {
            __m256 bv = _mm256_loadu_ps(b[c] + i);
            for (int r = 0; r < mr; r++) s[r][c] = _mm256_fmadd_ps(av[r], bv, s[r][c]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < NR; c++) acc[r * PANEL + c] = s[r][c];
}

BK_AVX2 static void tile_part(int mr, int64_t kc, const float *const *a, const float *const *b, __m256 *acc) {
    switch (mr) {
    case 1: tile_part_avx2(1, kc, a, b, acc); break;
    case 2: tile_part_avx2(2, kc, a, b, acc); break;
    default: tile_part_avx2(3, kc, a, b, acc); break;
    }
}

static size_t blocked_scratch_bytes(void) { return (PANEL * KC + BLOCK_M * PANEL * 8) * sizeof(float); }

BK_AVX2 static void run_float_blocked(const linear_job *j, int64_t r0, int64_t r1, uint8_t *scratch) {
    const int64_t k = j->w->cols, k8 = k & ~(int64_t)7;
    const int32_t type = j->w->type;
    __m256 *acc = (__m256 *)scratch;                           // [BLOCK_M][PANEL]
    float *converted = (float *)(scratch + BLOCK_M * PANEL * 32);  // [PANEL][KC]
    for (int64_t ib = 0; ib < j->m; ib += BLOCK_M) {
        const int64_t mb = j->m - ib < BLOCK_M ? j->m - ib : BLOCK_M;
        for (int64_t p = r0; p < r1; p += PANEL) {
            const int64_t n = r1 - p < PANEL ? r1 - p : PANEL;
            for (int64_t i = 0; i < BLOCK_M * PANEL; i++) acc[i] = _mm256_setzero_ps();
            for (int64_t kb = 0; kb < k8; kb += KC) {
                const int64_t kc = k8 - kb < KC ? k8 - kb : KC;
                const float *rows[PANEL];
                for (int64_t c = 0; c < n; c++) {
                    const void *row = weight_row(j, p + c);
                    if (type == BK_TYPE_F32) { rows[c] = (const float *)row + kb; continue; }
                    if (type == BK_TYPE_F16) bk_f16_to_f32((const uint16_t *)row + kb, converted + c * KC, (size_t)kc);
                    else bk_bf16_to_f32((const uint16_t *)row + kb, converted + c * KC, (size_t)kc);
                    rows[c] = converted + c * KC;
                }
                for (int64_t i0 = 0; i0 < mb; i0 += MR) {
                    const int mr = (int)(mb - i0 < MR ? mb - i0 : MR);
                    const float *a[MR];
                    for (int r = 0; r < mr; r++) a[r] = j->x + (ib + i0 + r) * j->ldx + kb;
                    for (int64_t g = 0; g < n; g += NR) {
                        const float *b[NR];
                        for (int c = 0; c < NR; c++) b[c] = rows[g + c < n ? g + c : n - 1];
                        tile_part(mr, kc, a, b, acc + i0 * PANEL + g);
                    }
                }
            }
            for (int64_t i = 0; i < mb; i++)
                for (int64_t c = 0; c < n; c++) {
                    float s = bk_hsum256(acc[i * PANEL + c]);
                    const float *xi = j->x + (ib + i) * j->ldx;
                    const void *row = weight_row(j, p + c);
                    for (int64_t t = k8; t < k; t++) s = fmaf(xi[t], bk_float_at(type, row, t), s);
                    store(j, ib + i, p + c, s);
                }
        }
    }
}
#endif

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
    size_t most = q32 > k256 ? q32 : k256;
#if BK_X86
    if (most < blocked_scratch_bytes()) most = blocked_scratch_bytes();
#endif
    return round64(most);
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
#if BK_X86
        else if (j->simd && j->m >= BK_GEMM_MIN_ROWS) run_float_blocked(j, r0, r1, panel_of(j, ith));
#endif
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
