// Private: the 8-bit matrix-matrix kernels of bk_matmul_gemm8.c (used by bk_linear in bk_matmul_gemm.c).
#ifndef BLOOMKIT_MATMUL_GEMM8_H
#define BLOOMKIT_MATMUL_GEMM8_H
#include "bk_matmul_simd.h"

/// Weight rows per panel (a multiple of 16).
#define PANEL_ROWS 32

/// Bytes of one block of a panel (every block of a row group has the same size).
size_t bk_gemm8_panel_block_bytes(void);
/// Repacks rows [r0, r0+nrows) of a block-type weight (nrows ≤ PANEL_ROWS; missing rows become zeros) into `panel`
/// (cols/32 · bk_gemm8_panel_block_bytes() bytes).
void bk_gemm8_repack(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel);
void bk_gemm8_repack_ref(const bk_weight *w, int64_t r0, int64_t nrows, uint8_t *panel);
/// out[t·ldo + r] for t < mr (≤ 4) activation rows (x + t·xs blocks) and r < PANEL_ROWS panel rows (rows ≥ nrows of
/// a partial panel hold garbage-free zeros' products and are not to be used).
void bk_gemm8_panel(int32_t type, int64_t nb, const uint8_t *panel, int nrows, const bk_block_q8x *x, int64_t xs,
                    int mr, float *out, int64_t ldo);
void bk_gemm8_panel_ref(int32_t type, int64_t nb, const uint8_t *panel, int nrows, const bk_block_q8x *x, int64_t xs,
                        int mr, float *out, int64_t ldo);
#endif
