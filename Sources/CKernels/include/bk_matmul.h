// Runtime kernels: dot products and matrix products over F32/F16/Q8_0/Q4_0/Q4_1 weights. Owned by the runtime work.
#ifndef BLOOMKIT_MATMUL_H
#define BLOOMKIT_MATMUL_H
#include <stddef.h>
#include <stdint.h>
#endif
