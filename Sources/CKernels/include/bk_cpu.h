// The one run-time CPU dispatch: every dispatched kernel (conversions, quantizers, products) asks bk_simd_level()
// which path to take, so bk_set_simd_limit caps them all.
#ifndef BLOOMKIT_CPU_H
#define BLOOMKIT_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

/// What the kernels use: BK_SIMD_NONE runs the scalar twins; AVX2 (with FMA and F16C) everything else; AVX-512 VNNI
/// only the 8-bit matrix-matrix products (same results: integer sums are exact).
enum { BK_SIMD_NONE = 0, BK_SIMD_AVX2 = 1, BK_SIMD_AVX512_VNNI = 2 };
/// The level in use: the CPU's, capped by bk_set_simd_limit.
int bk_simd_level(void);
/// Caps the level (tests compare the paths; benchmarks measure them). Affects calls made after it returns.
void bk_set_simd_limit(int level);

#ifdef __cplusplus
}
#endif
#endif
