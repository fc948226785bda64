// Byte planes of packed float tensors (Formats/bkz.md, "Codecs") joined back into elements: what unpack and every
// reader of a .bkz run on each decoded chunk. The planes' layout is the format's; the Swift split (BytePlanes) is
// the inverse, tested against these on every bit pattern.
#ifndef BLOOMKIT_PLANES_H
#define BLOOMKIT_PLANES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// n 2-byte elements (f16, bf16) from plane e (bits 14…7) and plane m (sign << 7 | bits 6…0): out holds 2·n
/// bytes.
void bk_join_planes2(const uint8_t *e, const uint8_t *m, uint8_t *out, size_t n);
/// n 4-byte elements (f32) from planes e (bits 30…23), m (sign << 7 | bits 22…16), b1 (bits 15…8), b0 (bits 7…0):
/// out holds 4·n bytes.
void bk_join_planes4(const uint8_t *e, const uint8_t *m, const uint8_t *b1, const uint8_t *b0, uint8_t *out,
                     size_t n);

void bk_join_planes2_ref(const uint8_t *e, const uint8_t *m, uint8_t *out, size_t n);
void bk_join_planes4_ref(const uint8_t *e, const uint8_t *m, const uint8_t *b1, const uint8_t *b0, uint8_t *out,
                         size_t n);

#ifdef __cplusplus
}
#endif
#endif
