// The experimental part of zstd.h (ZSTD_registerSequenceProducer, zstd ≥ 1.5.4) is used to code byte planes with
// entropy coding only; libzstd exports it from the shared library too.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
