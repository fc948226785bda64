// ggml block quantization (Q8_0, Q4_0, Q4_1): bit-exact with ggml's *_ref quantizers. Owned by the quantization work.
#ifndef BLOOMKIT_QUANT_H
#define BLOOMKIT_QUANT_H
#include <stddef.h>
#include <stdint.h>
#endif
