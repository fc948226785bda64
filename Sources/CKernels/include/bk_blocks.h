// ggml's block layouts (ggml-common.h), held once: the quantizers (bk_quant.h) and the runtime's products
// (bk_matmul.h) share these structs. Halves are IEEE fp16 bit patterns; every struct is packed by its natural
// alignment (2), and data from a file may sit at any offset: read blocks through memcpy or unaligned loads.
#ifndef BLOOMKIT_BLOCKS_H
#define BLOOMKIT_BLOCKS_H

#include <stdint.h>

/// Elements per block of the legacy types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).
#define BK_QK 32
/// Elements per super-block of the K-quants.
#define BK_QK_K 256
/// Bytes of the packed 6-bit scales and mins of Q4_K and Q5_K (and of Q3_K's 6-bit scales).
#define BK_K_SCALE_SIZE 12

/// Q8_0: y[j] = qs[j] * d.
typedef struct {
    uint16_t d;        // fp16 scale = max|x| / 127
    int8_t qs[BK_QK];  // round-half-away(x * (1/d))
} block_q8_0;

/// Q4_0: y[j] = ((qs[j] & 0xF) - 8) * d, y[j+16] = ((qs[j] >> 4) - 8) * d.
typedef struct {
    uint16_t d;            // fp16 scale = (signed value of largest |x|) / -8
    uint8_t qs[BK_QK / 2]; // element j in the low nibble of byte j, element j+16 in the high nibble
} block_q4_0;

/// Q4_1: y = q * d + m, nibbles packed as in Q4_0.
typedef struct {
    uint16_t d;            // fp16 scale = (max - min) / 15
    uint16_t m;            // fp16 min
    uint8_t qs[BK_QK / 2];
} block_q4_1;

/// Q5_0: y = (q - 16) * d; q's low 4 bits packed as Q4_0, bit 4 of element j in bit j of qh (little-endian u32).
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[BK_QK / 2];
} block_q5_0;

/// Q5_1: y = q * d + m; q packed as in Q5_0.
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[BK_QK / 2];
} block_q5_1;

/// Q2_K: 16 sub-blocks of 16; y = d*(sc&0xF)*q - dmin*(sc>>4), q 2 bits.
typedef struct {
    uint8_t scales[BK_QK_K / 16]; // low nibble scale, high nibble min, 4 bits each
    uint8_t qs[BK_QK_K / 4];      // 2-bit quants
    uint16_t d;                   // fp16 super-block scale of the scales
    uint16_t dmin;                // fp16 super-block scale of the mins
} block_q2_K;

/// Q3_K: 16 sub-blocks of 16; y = d*(sc-32)*(q - (hmask bit ? 0 : 4)), q 2 low bits in qs.
typedef struct {
    uint8_t hmask[BK_QK_K / 8];        // high bit of each quant
    uint8_t qs[BK_QK_K / 4];           // low 2 bits
    uint8_t scales[BK_K_SCALE_SIZE];   // 16 scales of 6 bits, packed
    uint16_t d;                        // fp16 super-block scale
} block_q3_K;

/// Q4_K: 8 sub-blocks of 32; y = d*sc*q - dmin*m, sc and m 6 bits each (packed in scales), q 4 bits.
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[BK_K_SCALE_SIZE];
    uint8_t qs[BK_QK_K / 2];
} block_q4_K;

/// Q5_K: as Q4_K with a fifth bit per quant in qh.
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[BK_K_SCALE_SIZE];
    uint8_t qh[BK_QK_K / 8];
    uint8_t qs[BK_QK_K / 2];
} block_q5_K;

/// Q6_K: 16 sub-blocks of 16; y = d*scales[is]*(q - 32), q 6 bits (4 in ql, 2 in qh).
typedef struct {
    uint8_t ql[BK_QK_K / 2];
    uint8_t qh[BK_QK_K / 4];
    int8_t scales[BK_QK_K / 16];
    uint16_t d;
} block_q6_K;

/// Q8_K: ggml's activation super-block for the K-quant dot products (never stored in files).
typedef struct {
    float d;
    int8_t qs[BK_QK_K];
    int16_t bsums[BK_QK_K / 16]; // sums of each group of 16 quants
} block_q8_K;

_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 must be 20 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 must be 22 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 must be 24 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K must be 84 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K must be 110 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K must be 144 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K must be 176 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K must be 210 bytes (ggml-common.h)");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K must be 292 bytes (ggml-common.h)");

#endif
