// ggml block quantization: Q8_0, Q4_0, Q4_1 (below), Q5_0, Q5_1 and the K-quants (further down).
//
// Bytes are those of ggml's quantize_row_{q8_0,q4_0,q4_1}_ref and of gguf-py 0.19 (gguf/quants.py, the fixture
// oracle) for every finite input:
//   - scales are IEEE fp16 rounded to nearest even; the inverse scale id comes from the fp32 d, before rounding;
//   - Q4_0 and Q4_1 compute x*id + 8.5f (Q4_1: (x-min)*id + 0.5f) as a product and a sum each rounded to f32:
//     no fused multiply-add. gguf-py 0.19 does this, and so does ggml's C ref wherever the compiler does not
//     contract it into an FMA (llama.cpp's ggml-base, built with its own CMake here, does not). Older gguf-py
//     emulated the fused form (float64 product + 8.5); a value landing exactly on a rounding boundary can differ.
// Where gguf-py and ggml's C ref disagree, gguf-py wins, except for signed zeros in Q4_1:
//   - a NaN in a block propagates as numpy's max/min/argmax do: d (and Q4_1's m) become NaN, every quant 0;
//   - Q4_0's signed maximum is the first element of largest |x| (numpy argmax), so an all-zero block whose first
//     element is -0.0 gets d = +0 (ggml's C: -0, as it starts from max = +0.0f);
//   - Q4_1's min and max are the block's own values (±Inf included; ggml's C starts from ±FLT_MAX); when the min
//     (max) is zero, its sign is that of the first zero, as in ggml's C (numpy's reduction order varies).
// A product that is not finite (Inf*0, NaN) becomes quant 0 (numpy's float-to-int cast on x86-64; ggml's C gets
// the same from cvttss2si). Blocks are independent: a NaN or Inf only affects its own block.
//
// Block pointers are `void *` with no alignment requirement (GGUF data from a file may sit at any offset);
// k is the number of floats, a multiple of 32 (a trailing partial block is ignored).
#ifndef BLOOMKIT_QUANT_H
#define BLOOMKIT_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "bk_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Quantizes k floats (k/32 blocks) into blocks at y. AVX2/FMA/F16C when the CPU has them, else the *_ref loop;
/// both give the same bytes.
void bk_quantize_row_q8_0(const float *x, void *y, size_t k);
void bk_quantize_row_q4_0(const float *x, void *y, size_t k);
void bk_quantize_row_q4_1(const float *x, void *y, size_t k);

/// Scalar reference quantizers: they define the bytes.
void bk_quantize_row_q8_0_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q4_0_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q4_1_ref(const float *x, void *y, size_t k);

/// Dequantizes k/32 blocks at x into k floats (each value one f32 product, Q4_1 a product then a sum: no FMA,
/// as gguf-py). SIMD when available, same values as the *_ref loop.
void bk_dequantize_row_q8_0(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_0(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_1(const void *x, float *y, size_t k);

void bk_dequantize_row_q8_0_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_0_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_1_ref(const void *x, float *y, size_t k);

// Q5_0, Q5_1 and the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: the bytes of ggml's quantize_row_*_ref as
// llama-quantize runs them without an importance matrix, for every input, NaN and Inf included (tests pin this against
// Formats/test-vectors/ggml-quants.json, made by ggml-quants.py from ggml's own ggml-quants.c):
//   - llama-quantize's quantizers live in ggml-base, compiled without -march=native: no FMA. Every product and sum
//     is rounded to f32 on its own (FP_CONTRACT OFF here, and the SIMD twins use no fused multiply-add); the
//     searches run in ggml's order of operations; rounding is ggml's nearest_int (half to even);
//   - scales are fp16 as ggml's scalar conversion: round to nearest even, NaN -> 0x7E00 with its sign;
//   - float-to-integer casts of Q5_0/Q5_1 behave as x86-64's cvttss2si (NaN and out-of-range -> INT32_MIN, then
//     the low 8 bits);
//   - a NaN input is the default quiet NaN (±0x7FC00000, what arithmetic produces); a NaN with another payload
//     reaches nearest_int, whose result then depends on operand order inside ggml's build (it may differ).
// k is a multiple of 32 (Q5_0, Q5_1) or 256 (K-quants); a trailing partial block is ignored. The dispatched entries
// keep no state: they may run on any number of threads at once.
void bk_quantize_row_q5_0(const float *x, void *y, size_t k);
void bk_quantize_row_q5_1(const float *x, void *y, size_t k);
void bk_quantize_row_q2_K(const float *x, void *y, size_t k);
void bk_quantize_row_q3_K(const float *x, void *y, size_t k);
void bk_quantize_row_q4_K(const float *x, void *y, size_t k);
void bk_quantize_row_q5_K(const float *x, void *y, size_t k);
void bk_quantize_row_q6_K(const float *x, void *y, size_t k);

void bk_quantize_row_q5_0_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q5_1_ref(const float *x, void *y, size_t k);

/// Importance-weighted quantization of one row of n floats (n a multiple of 32; of 256 for the K-quants) with
/// importance[n] (an imatrix entry: mean squared activation per column): ggml's quantize_row_<type>_impl with
/// quant_weights, the bytes llama-quantize --imatrix writes (bk_quant_weighted.c; tests pin them against
/// Formats/test-vectors/ggml-quants-weighted.json).
void bk_quantize_row_q4_0_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q4_1_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q5_0_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q5_1_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q2_K_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q3_K_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q4_K_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q5_K_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q6_K_weighted_ref(const float *x, void *y, size_t n, const float *importance);
void bk_quantize_row_q2_K_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q3_K_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q4_K_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q5_K_ref(const float *x, void *y, size_t k);
void bk_quantize_row_q6_K_ref(const float *x, void *y, size_t k);

/// Values of ggml's dequantize_row_* (same f32 products and sums, same order; no FMA).
void bk_dequantize_row_q5_0(const void *x, float *y, size_t k);
void bk_dequantize_row_q5_1(const void *x, float *y, size_t k);
void bk_dequantize_row_q2_K(const void *x, float *y, size_t k);
void bk_dequantize_row_q3_K(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_K(const void *x, float *y, size_t k);
void bk_dequantize_row_q5_K(const void *x, float *y, size_t k);
void bk_dequantize_row_q6_K(const void *x, float *y, size_t k);

void bk_dequantize_row_q5_0_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q5_1_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q2_K_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q3_K_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q4_K_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q5_K_ref(const void *x, float *y, size_t k);
void bk_dequantize_row_q6_K_ref(const void *x, float *y, size_t k);

/// Running totals of the difference between original values x and their round trip y.
/// Pairs where x or y is not finite are counted in `nonfinite` and left out of the sums and the maximum.
typedef struct {
    double sum_sq_err;  // Σ (x - y)²
    double sum_sq_ref;  // Σ x²
    double max_abs;     // max |x - y|
    uint64_t count;     // finite pairs
    uint64_t nonfinite; // pairs with a NaN or Inf on either side
} bk_quant_error;

/// Adds n pairs to acc (f64 arithmetic; SIMD when available, which sums in a different order than the *_ref loop).
void bk_quant_error_accumulate(const float *x, const float *y, size_t n, bk_quant_error *acc);
void bk_quant_error_accumulate_ref(const float *x, const float *y, size_t n, bk_quant_error *acc);

#ifdef __cplusplus
}
#endif
#endif
