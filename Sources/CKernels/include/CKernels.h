// CKernels: bloomkit's C kernels. Every SIMD routine has a scalar *_ref twin that defines its result;
// tests compare the two on random inputs. SIMD paths are picked at run time (bk_cpu.h: one level, one cap).
#ifndef BLOOMKIT_CKERNELS_H
#define BLOOMKIT_CKERNELS_H

#include "bk_blocks.h"
#include "bk_cpu.h"
#include "bk_convert.h"
#include "bk_quant.h"
#include "bk_matmul.h"
#include "bk_planes.h"

#endif
