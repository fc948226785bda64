// zstd for .bkz files. The experimental part of zstd.h (ZSTD_registerSequenceProducer, zstd >= 1.5.4; libzstd
// exports it from the shared library too) lets byte planes be coded with zstd's entropy coder alone.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#if ZSTD_VERSION_NUMBER >= 10504
/// A sequence producer that finds no match: each block is one run of literals, then the block delimiter.
static inline size_t bk_zstd_no_matches(void *state, ZSTD_Sequence *out, size_t capacity, const void *src,
                                        size_t size, const void *dict, size_t dictSize, int level,
                                        size_t windowSize) {
    (void)state; (void)src; (void)dict; (void)dictSize; (void)level; (void)windowSize;
    if (capacity < 1) return ZSTD_SEQUENCE_PRODUCER_ERROR;
    out[0].offset = 0;
    out[0].litLength = (unsigned)size;
    out[0].matchLength = 0;
    out[0].rep = 0;
    return 1;
}
#endif

/// Makes `cctx` code literals only (no match search). Returns 0 when this zstd is older than 1.5.4 and cannot.
static inline int bk_zstd_literals_only(ZSTD_CCtx *cctx) {
#if ZSTD_VERSION_NUMBER >= 10504
    ZSTD_registerSequenceProducer(cctx, NULL, bk_zstd_no_matches);
    return 1;
#else
    (void)cctx;
    return 0;
#endif
}
