// Runtime kernels for the BLOOM forward pass: a persistent thread pool, linear layers over F32/F16/BF16 weights and
// ggml's block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), LayerNorm, GELU, softmax and
// causal ALiBi attention. Owned by the runtime work.
//
// Every SIMD routine has a scalar *_ref twin that defines its result bit for bit: the twin performs the same IEEE
// operations in the same order (8 partial sums, lane k%8, reduced as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))), so tests
// compare them with ==. AVX2/FMA/F16C paths (and AVX-512 VNNI for 8-bit matrix products) are chosen at run time
// (bk_simd_level); elsewhere the twins run.
//
// Numerics: float weights (F32/F16/BF16) are computed in f32 from the exact weight values. Block weights meet
// activations quantized to 8 bits in exact integer dot products, as ggml's CPU backend does: the 32-element types
// (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) with 32-value blocks and an f32 scale (bk_block_q8x, ggml's Q8_0/Q8_1), row by row
// below BK_GEMM_MIN_ROWS activation rows and in repacked 8-bit panels from there on; the K-quants with 256-value
// super-blocks (block_q8_K, ggml's Q8_K) the same way (row by row, then panels of unpacked quants and scales), both
// giving the row dots' results bit for bit.
// Each output element is computed by one thread, in an order that does not depend on the thread count.
#ifndef BLOOMKIT_MATMUL_H
#define BLOOMKIT_MATMUL_H
#include <stddef.h>
#include <stdint.h>
#include "bk_blocks.h"
#include "bk_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- thread pool ---------------------------------------------------------------------------------------------------

/// A persistent pool: `n_threads - 1` workers plus the calling thread. Workers spin briefly between jobs, then sleep.
typedef struct bk_pool bk_pool;
/// A job: the caller and the workers that join in time run fn(ctx, ith, nth), ith in [0, nth) (0: the caller).
/// A job must hand out its work dynamically (an atomic counter): a worker may not join at all. ith selects scratch.
typedef void (*bk_task_fn)(void *ctx, int ith, int nth);

/// Returns NULL if a thread cannot be started. n_threads is clamped to [1, 256].
bk_pool *bk_pool_create(int n_threads);
void bk_pool_destroy(bk_pool *pool);
int bk_pool_size(const bk_pool *pool);
/// Runs fn on the caller and every worker that joins before the caller finishes its share; returns when all are done.
/// Not reentrant.
void bk_pool_run(bk_pool *pool, bk_task_fn fn, void *ctx);

// ---- weights -------------------------------------------------------------------------------------------------------

/// ggml type ids the kernels accept.
enum {
    BK_TYPE_F32 = 0, BK_TYPE_F16 = 1, BK_TYPE_Q4_0 = 2, BK_TYPE_Q4_1 = 3, BK_TYPE_Q5_0 = 6, BK_TYPE_Q5_1 = 7,
    BK_TYPE_Q8_0 = 8, BK_TYPE_Q2_K = 10, BK_TYPE_Q3_K = 11, BK_TYPE_Q4_K = 12, BK_TYPE_Q5_K = 13, BK_TYPE_Q6_K = 14,
    BK_TYPE_BF16 = 30
};

/// A weight matrix as ggml stores it: `rows` rows of `cols` elements (ne[0] = cols), rows contiguous.
typedef struct {
    const void *data;
    int32_t type;
    int64_t rows;  // output features (ne[1])
    int64_t cols;  // input features (ne[0]); a whole number of blocks (32 or 256 elements) for block types
} bk_weight;

/// Bytes of one row of `cols` elements of `type`; 0 if the type is not supported or cols is not a whole number of
/// blocks.
size_t bk_row_bytes(int32_t type, int64_t cols);
/// Elements per block of `type` (1 for float types, 32 or 256 for block types); 0 if the type is not supported.
int64_t bk_block_elements(int32_t type);

/// Row `row` of `w` as f32 (an embedding lookup). Exact.
void bk_dequantize_row(const bk_weight *w, int64_t row, float *dst);
void bk_dequantize_row_ref(const bk_weight *w, int64_t row, float *dst);

// ---- 8-bit activation blocks ---------------------------------------------------------------------------------------

/// 32 activations as x ≈ d·qs, the way ggml's CPU backend quantizes them for its Q8_0/Q8_1 dot products:
/// qs = round-to-nearest-even(x · 127/max|x|), d = max|x|/127 rounded to f16 (kept here as f32),
/// sum = Σ qs (Q4_0's offset) and s = d·sum rounded to f16 with d before its rounding (Q8_1's s, for Q4_1).
typedef struct {
    float d;
    float s;
    int32_t sum;
    int8_t qs[32];
} bk_block_q8x;

/// Quantizes k values (k a multiple of 32) into k/32 blocks.
void bk_quantize_q8x(const float *x, bk_block_q8x *y, int64_t k);
void bk_quantize_q8x_ref(const float *x, bk_block_q8x *y, int64_t k);

/// ggml's quantize_row_q8_K_ref (k a multiple of 256): m = the first value of largest |x|,
/// q = min(127, RNE(x·(-127/m))), d = 1/(-127/m) (f32), bsums = Σ of each 16 quants; an all-zero block is all zeros
/// (NaN values give q = -128).
void bk_quantize_q8K(const float *x, block_q8_K *y, int64_t k);
void bk_quantize_q8K_ref(const float *x, block_q8_K *y, int64_t k);

/// Bytes of one row of k activations quantized for weights of `type` (bk_block_q8x or block_q8_K blocks); 0 for
/// float types.
size_t bk_activation_row_bytes(int32_t type, int64_t k);
/// Quantizes one row of k activations the way weights of `type` meet them (bk_quantize_q8x or bk_quantize_q8K).
void bk_quantize_activations(int32_t type, const float *x, void *y, int64_t k);
void bk_quantize_activations_ref(int32_t type, const float *x, void *y, int64_t k);

/// Dot products of `nrows` block-type weight rows (`k` elements; row r at w + r·w_stride bytes) with `nc` (1…4)
/// activation rows quantized for the type (column c at x + c·x_stride bytes): out[c·ldo + r].
/// The result for a row and column does not depend on nrows or nc.
void bk_dot_rows(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                 size_t x_stride, int nc, float *out, int64_t ldo);
void bk_dot_rows_ref(int32_t type, int64_t k, const void *w, size_t w_stride, int64_t nrows, const void *x,
                     size_t x_stride, int nc, float *out, int64_t ldo);

/// The 8-lane f32 dot product (attention's scores; the float tiles of bk_linear for two or more activation rows), as
/// its scalar definition.
float bk_dot_f32_ref(const float *a, const float *b, int64_t k);

// ---- linear layers -------------------------------------------------------------------------------------------------

/// Activation rows from which block weights go through the matrix-matrix path (f32 panels) instead of 8-bit dots.
#ifndef BK_GEMM_MIN_ROWS
#define BK_GEMM_MIN_ROWS 8
#endif

enum {
    BK_EPILOGUE_GELU = 1,       // y = gelu(x·Wᵀ + b)
    BK_EPILOGUE_ACCUMULATE = 2, // y = y + (x·Wᵀ + b)   (a residual added in place)
};

/// Scratch bytes bk_linear needs for up to `m_max` activation rows of up to `k_max` columns on `n_threads` threads.
size_t bk_linear_scratch_bytes(int n_threads, int64_t m_max, int64_t k_max);

/// y[i][r] = epilogue(Σ_j x[i][j]·W[r][j] + bias[r]) for i < m, r < w->rows. x is m×cols (row stride ldx floats),
/// y is m×rows (row stride ldy). bias may be NULL. scratch: bk_linear_scratch_bytes(pool size, m, cols) bytes,
/// 64-aligned. Float weights: with m = 1 every output is summed in 4 chains of 8 lanes (bk_matmul_gemm.c, ROW_ORDER),
/// with more rows in one chain of 8 lanes; neither result depends on the thread count.
void bk_linear(bk_pool *pool, const bk_weight *w, const float *bias, const float *x, int64_t ldx, int64_t m,
               float *y, int64_t ldy, int flags, void *scratch);
/// Single-threaded scalar twin of bk_linear (same results).
void bk_linear_ref(const bk_weight *w, const float *bias, const float *x, int64_t ldx, int64_t m,
                   float *y, int64_t ldy, int flags);

// ---- element-wise and row kernels ----------------------------------------------------------------------------------

/// e^x for a vector (Cephes polynomial, ≤ 2 ulp on [-87, 88]; below -87 gives 0, above 88 gives e^88).
void bk_exp(const float *x, float *y, int64_t n);
void bk_exp_ref(const float *x, float *y, int64_t n);

/// BLOOM's GELU (tanh form) x·0.5·(1+tanh(0.79788456·x·(1+0.044715·x²))), evaluated as x / (1 + e^(-2u)).
void bk_gelu(const float *x, float *y, int64_t n);
void bk_gelu_ref(const float *x, float *y, int64_t n);

/// The largest of n values (-inf for n = 0).
float bk_max(const float *x, int64_t n);
float bk_max_ref(const float *x, int64_t n);

/// Σ e^(x_i - shift) (log-softmax: shift = bk_max, then log of the sum).
float bk_sum_exp(const float *x, int64_t n, float shift);
float bk_sum_exp_ref(const float *x, int64_t n, float shift);

/// y = (x - mean) / sqrt(var + eps) · w + b over n values (biased variance, two passes). y may equal x.
void bk_layernorm(const float *x, const float *w, const float *b, float eps, int64_t n, float *y);
void bk_layernorm_ref(const float *x, const float *w, const float *b, float eps, int64_t n, float *y);

/// LayerNorm of m rows (strides ldx, ldy), split over the pool.
void bk_layernorm_rows(bk_pool *pool, const float *x, int64_t ldx, const float *w, const float *b, float eps,
                       int64_t n, int64_t m, float *y, int64_t ldy);

// ---- attention -----------------------------------------------------------------------------------------------------

/// ALiBi slopes for n_head heads (HF build_alibi_tensor / ggml soft_max_ext with max_bias 8), in f32.
void bk_alibi_slopes(int n_head, float *slopes);

/// Causal multi-head attention with ALiBi over a KV cache. The cache holds `slots` independent sequences (beams);
/// K and V of slot s, head h, position t sit at cache + s*slot_stride + h*head_stride + t*head_dim.
/// Row i (i < m) is a query of slot slots[i] (slot 0 if slots is NULL) at position positions[i]; it attends to
/// positions 0…positions[i] of its slot: score(t) = (q·k_t)·scale + slope_h·t; out = Σ softmax(score)_t v_t.
/// q: m rows of n_head*head_dim (stride ldq); out: m rows (stride ldo). scratch: bk_attention_scratch_bytes.
typedef struct {
    int n_head;
    int head_dim;
    float scale;
    const float *slopes;
    const float *k_cache;
    const float *v_cache;
    int64_t head_stride;
    int64_t slot_stride;
} bk_attention_desc;

size_t bk_attention_scratch_bytes(int n_threads, int64_t max_positions, int head_dim);
void bk_attention(bk_pool *pool, const bk_attention_desc *d, const float *q, int64_t ldq, int64_t m,
                  const int64_t *positions, const int32_t *slots, float *out, int64_t ldo, void *scratch);
/// One query row of head h in slot `slot` (the twin the tests compare with; scores must hold pos+1 floats).
void bk_attention_row(const bk_attention_desc *d, int slot, int h, const float *q, int64_t pos, float *scores,
                      float *out);
void bk_attention_row_ref(const bk_attention_desc *d, int slot, int h, const float *q, int64_t pos, float *scores,
                          float *out);

#ifdef __cplusplus
}
#endif
#endif
