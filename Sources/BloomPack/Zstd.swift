import BloomCore
import CZstd

/// One zstd compression context (one per worker thread; contexts are not shared).
final class ZstdCompressor {
    private let cctx: OpaquePointer

    /// - Parameters:
    ///   - level: zstd's level (1…19; negative levels are zstd's fast modes).
    ///   - literalsOnly: no match search, only zstd's Huffman coding of literals. Byte planes of weights are
    ///     i.i.d.-like: a match there costs more bits than the literals it replaces (BF16 exponent plane of
    ///     normal(0, 0.02) weights: 1.471× at level 1 with matches, 1.509× with literals only), and the search
    ///     costs time.
    init(level: Int, literalsOnly: Bool = false) throws {
        guard let c = ZSTD_createCCtx() else { throw BloomError(.bkzZstd, "cannot create a zstd compression context") }
        cctx = c
        try set(ZSTD_c_compressionLevel, Int32(clamping: level))
        try set(ZSTD_c_checksumFlag, 0)  // our own xxh64 covers the decoded bytes
        try set(ZSTD_c_contentSizeFlag, 1)
        // zstd older than 1.5.4 cannot skip the match search: planes are then coded at `level` (a slightly lower
        // ratio on float planes, same format).
        if literalsOnly { _ = bk_zstd_literals_only(cctx) }
    }

    deinit { ZSTD_freeCCtx(cctx) }

    private func set(_ p: ZSTD_cParameter, _ v: Int32) throws {
        let r = ZSTD_CCtx_setParameter(cctx, p, v)
        if ZSTD_isError(r) != 0 {
            throw BloomError(.bkzZstd, "zstd parameter: \(String(cString: ZSTD_getErrorName(r)))")
        }
    }

    static func bound(_ n: Int) -> Int { ZSTD_compressBound(n) }

    /// Compresses `src` into one frame in `dst` (at least `bound(src.count)` bytes); returns the frame's length.
    func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        let r = ZSTD_compress2(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
        if ZSTD_isError(r) != 0 { throw BloomError(.bkzZstd, "zstd: \(String(cString: ZSTD_getErrorName(r)))") }
        return r
    }
}

/// One zstd decompression context (one per worker thread).
final class ZstdDecompressor {
    private let dctx: OpaquePointer

    init() throws {
        guard let d = ZSTD_createDCtx() else {
            throw BloomError(.bkzZstd, "cannot create a zstd decompression context")
        }
        dctx = d
        // Why: frames are decoded in one call into a buffer of the size the index records, so the window needs no
        // memory of its own; a frame asking for a larger window than a chunk can need is refused.
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 27)
    }

    deinit { ZSTD_freeDCtx(dctx) }

    /// Decodes `frame` into exactly `dst.count` bytes. A frame that declares or decodes to any other size
    /// (a frame bomb among them) is an error; nothing is ever written past `dst`.
    func decompress(_ frame: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                    what: @autoclosure () -> String) throws {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if declared == ZSTD_CONTENTSIZE_ERROR {
            throw BloomError(.bkzBadFrame, "\(what()) is not a zstd frame")
        }
        if declared != ZSTD_CONTENTSIZE_UNKNOWN, declared != UInt64(dst.count) {
            throw BloomError(.bkzBadFrame,
                             "\(what()) declares \(declared) decoded bytes, the index records \(dst.count)")
        }
        let r = ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, frame.baseAddress, frame.count)
        if ZSTD_isError(r) != 0 {
            throw BloomError(.bkzBadFrame, "\(what()) does not decode: \(String(cString: ZSTD_getErrorName(r)))")
        }
        guard r == dst.count else {
            throw BloomError(.bkzBadFrame, "\(what()) decodes to \(r) bytes, the index records \(dst.count)")
        }
    }
}

