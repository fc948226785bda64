import BloomCore
import CKernels
import Dispatch
import Foundation
import Synchronization

/// Rows of f32 values to and from ggml's storage types: F32, F16, BF16, the 32-element blocks Q8_0, Q4_0, Q4_1,
/// Q5_0, Q5_1 and the 256-element K-quants Q2_K…Q6_K, with the bytes of ggml's reference quantizers (rules and the
/// few deliberate differences: bk_quant.h). A new type is one row of `codecs` plus its kernels.
///
/// A row is `rowLength` consecutive values (ggml's ne[0], the last PyTorch dimension); rows are contiguous in both
/// the f32 and the quantized buffers. Work is split into chunks of whole rows that do not depend on the thread
/// count, and spread over `threads` workers, so the bytes and the error figures are the same for any thread count.
public enum Quantizer {
    typealias Encode = @Sendable (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void
    typealias Decode = @Sendable (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int) -> Void
    typealias ChunkEncode = @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void

    /// Every type the quantizer handles, one row each: n values (whole blocks) to the type's bytes and back.
    /// Block sizes come from `GGMLType.blockLayout`.
    static let codecs: [(type: GGMLType, encode: Encode, decode: Decode)] = [
        (.F32, { Precision.fromFloat(.F32, $0!, $1!, $2) }, { Precision.toFloat(.F32, $0!, $1!, $2) }),
        (.F16, { Precision.fromFloat(.F16, $0!, $1!, $2) }, { Precision.toFloat(.F16, $0!, $1!, $2) }),
        (.BF16, { Precision.fromFloat(.BF16, $0!, $1!, $2) }, { Precision.toFloat(.BF16, $0!, $1!, $2) }),
        (.Q8_0, bk_quantize_row_q8_0, bk_dequantize_row_q8_0),
        (.Q4_0, bk_quantize_row_q4_0, bk_dequantize_row_q4_0),
        (.Q4_1, bk_quantize_row_q4_1, bk_dequantize_row_q4_1),
        (.Q5_0, bk_quantize_row_q5_0, bk_dequantize_row_q5_0),
        (.Q5_1, bk_quantize_row_q5_1, bk_dequantize_row_q5_1),
        (.Q2_K, bk_quantize_row_q2_K, bk_dequantize_row_q2_K),
        (.Q3_K, bk_quantize_row_q3_K, bk_dequantize_row_q3_K),
        (.Q4_K, bk_quantize_row_q4_K, bk_dequantize_row_q4_K),
        (.Q5_K, bk_quantize_row_q5_K, bk_dequantize_row_q5_K),
        (.Q6_K, bk_quantize_row_q6_K, bk_dequantize_row_q6_K),
    ]

    /// The types `quantize` writes and `dequantize` reads.
    public static let supportedTypes: [GGMLType] = codecs.map(\.type)

    /// Workers used when the caller does not say: one per core.
    public static var defaultThreadCount: Int { Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Values per chunk of work: large enough to make dispatch negligible, small enough that a chunk's input,
    /// output and round trip stay in a core's L2 cache.
    public static let chunkValues = 1 << 15

    /// Bytes of one row of `rowLength` values stored as `type`.
    /// - Throws: `quantShape` when `rowLength` is negative or not a whole number of `type`'s blocks;
    ///   `overflow` when the size does not fit an Int.
    public static func bytesPerRow(_ type: GGMLType, rowLength: Int) throws -> Int {
        let (blockValues, blockBytes) = type.blockLayout
        guard rowLength >= 0, rowLength % blockValues == 0 else {
            throw BloomError(.quantShape, "row length \(rowLength) is not a multiple of \(type.name)'s block"
                             + " of \(blockValues) values")
        }
        return try Checked.multiply(rowLength / blockValues, blockBytes,
                                    "bytes of a \(type.name) row of \(rowLength) values")
    }

    /// Quantizes (or converts) whole rows of f32 values into `dst`.
    /// - Parameters:
    ///   - type: one of `supportedTypes`.
    ///   - src: `rowCount × rowLength` values, row after row.
    ///   - rowLength: values per row; a multiple of 32 for the block types.
    ///   - dst: exactly `rowCount × bytesPerRow(type, rowLength)` bytes, any alignment.
    ///   - threads: workers (1 runs on the calling thread).
    /// - Throws: `quantUnsupportedType`, or `quantShape` when the row length or a buffer size does not fit.
    public static func quantize(_ type: GGMLType, rows src: UnsafeBufferPointer<Float>, rowLength: Int,
                                into dst: UnsafeMutableRawBufferPointer, threads: Int = defaultThreadCount) throws {
        _ = try quantize(type, rows: src, rowLength: rowLength, into: dst, measuringError: false, threads: threads)
    }

    /// Quantizes as `quantize(_:rows:rowLength:into:threads:)`, then dequantizes each chunk while it is in cache
    /// and measures the round trip against `src`.
    /// - Returns: the error over all values (merged in chunk order).
    public static func quantizeMeasuringError(_ type: GGMLType, rows src: UnsafeBufferPointer<Float>, rowLength: Int,
                                              into dst: UnsafeMutableRawBufferPointer,
                                              threads: Int = defaultThreadCount) throws -> QuantizationError {
        try quantize(type, rows: src, rowLength: rowLength, into: dst, measuringError: true, threads: threads)
            ?? QuantizationError()
    }

    /// Quantizes a whole tensor as it streams from its source, handing its bytes to `write` in order: each worker
    /// reads a chunk of rows with `tensor.readRows` (f16/bf16 widening, a LoRA delta, a QKV re-layout…) into its own
    /// buffer and quantizes it there, so no f32 copy of the tensor is ever made. Memory: about `threads` chunks of
    /// f32 values and their bytes.
    /// - Parameters:
    ///   - tensor: rows of `tensor.rowLength` values (ggml's ne[0]); `readRows` is called from several threads.
    ///   - measuringError: also dequantize each chunk and measure the round trip.
    ///   - chunkValues: values per chunk of whole rows (at least one row); the bytes do not depend on it.
    ///   - write: receives the tensor's bytes in order, on the calling thread, `rowCount × bytesPerRow` in all.
    /// - Returns: the error when `measuringError`, else nil.
    /// - Throws: the first error of `readRows` (in row order) or of `write`, `quantUnsupportedType`, `quantShape`.
    @discardableResult
    public static func quantize(_ type: GGMLType, tensor: SourceTensor, measuringError: Bool = false,
                                threads: Int = defaultThreadCount, chunkValues: Int = chunkValues,
                                write: (UnsafeRawBufferPointer) throws -> Void) throws -> QuantizationError? {
        try quantizeStream(type, tensor: tensor, measuringError: measuringError, threads: threads,
                           chunkValues: chunkValues, encode: nil, write: write)
    }

    /// The streamed quantization, with `encode` (n values of whole rows at x to bytes at y) in place of the type's
    /// codec when given (the importance-weighted rows).
    static func quantizeStream(_ type: GGMLType, tensor: SourceTensor, measuringError: Bool, threads: Int,
                               chunkValues: Int, encode: ChunkEncode?,
                               write: (UnsafeRawBufferPointer) throws -> Void) throws -> QuantizationError? {
        let rowLength = tensor.rowLength
        let count = try Checked.multiply(tensor.rowCount, rowLength, "value count of '\(tensor.name)'")
        let byteCount = try Checked.multiply(tensor.rowCount, bytesPerRow(type, rowLength: rowLength),
                                             "bytes of '\(tensor.name)'")
        let rowBytes = try checkRows(type, valueCount: count, rowLength: rowLength, byteCount: byteCount)
        let chunks = RowChunks(rowCount: tensor.rowCount, rowLength: rowLength, chunkValues: chunkValues)
        guard count > 0 else { return measuringError ? QuantizationError() : nil }
        let round = Swift.min(Swift.max(1, threads), chunks.chunkCount)
        let slotBytes = chunks.rowsPerChunk * rowBytes
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: round * slotBytes, alignment: 64)
        defer { out.deallocate() }
        let base = out.baseAddress!
        let read = tensor.readRows
        return try chunks.run(threads: threads, scratchValues: chunks.chunkValues * (measuringError ? 2 : 1),
                              measuring: measuringError, roundChunks: round) { chunk, slot, scratch, error in
            let (firstRow, rows) = chunks.rows(of: chunk)
            let input = UnsafeMutableBufferPointer(rebasing: scratch[0..<(rows * rowLength)])
            try read(firstRow, rows, input)
            quantizeChunk(type, input.baseAddress!, base + slot * slotBytes, rows * rowLength, encode: encode,
                          roundTrip: measuringError ? scratch.baseAddress! + chunks.chunkValues : nil, &error)
        } emit: { chunk, slot in
            let bytes = chunks.rows(of: chunk).count * rowBytes
            try write(UnsafeRawBufferPointer(start: base + slot * slotBytes, count: bytes))
        }
    }

    /// Turns whole rows stored as `type` back into f32 values.
    /// - Parameters:
    ///   - src: exactly `rowCount × bytesPerRow(type, rowLength)` bytes, any alignment (a mapped file's bytes).
    ///   - dst: `rowCount × rowLength` values.
    /// - Throws: `quantUnsupportedType`, or `quantShape` when the row length or a buffer size does not fit.
    public static func dequantize(_ type: GGMLType, rows src: UnsafeRawBufferPointer, rowLength: Int,
                                  into dst: UnsafeMutableBufferPointer<Float>,
                                  threads: Int = defaultThreadCount) throws {
        let rowBytes = try checkRows(type, valueCount: dst.count, rowLength: rowLength, byteCount: src.count)
        let chunks = RowChunks(rowCount: rowLength == 0 ? 0 : dst.count / rowLength, rowLength: rowLength)
        guard let x = src.baseAddress, let y = dst.baseAddress, chunks.chunkCount > 0 else { return }
        _ = try chunks.run(threads: threads, scratchValues: 0, measuring: false) { chunk, _, _, _ in
            let (firstRow, rows) = chunks.rows(of: chunk)
            dequantizeValues(type, x + firstRow * rowBytes, y + firstRow * rowLength, rows * rowLength)
        }
    }

    private static func quantize(_ type: GGMLType, rows src: UnsafeBufferPointer<Float>, rowLength: Int,
                                 into dst: UnsafeMutableRawBufferPointer, measuringError: Bool,
                                 threads: Int) throws -> QuantizationError? {
        let rowBytes = try checkRows(type, valueCount: src.count, rowLength: rowLength, byteCount: dst.count)
        let chunks = RowChunks(rowCount: rowLength == 0 ? 0 : src.count / rowLength, rowLength: rowLength)
        guard let x = src.baseAddress, let out = dst.baseAddress, chunks.chunkCount > 0 else {
            return measuringError ? QuantizationError() : nil
        }
        return try chunks.run(threads: threads, scratchValues: measuringError ? chunks.chunkValues : 0,
                              measuring: measuringError) { chunk, _, scratch, error in
            let (firstRow, rows) = chunks.rows(of: chunk)
            quantizeChunk(type, x + firstRow * rowLength, out + firstRow * rowBytes, rows * rowLength,
                          roundTrip: measuringError ? scratch.baseAddress! : nil, &error)
        }
    }

    /// Checks the type, the row length and both buffer sizes; returns the bytes per row.
    private static func checkRows(_ type: GGMLType, valueCount: Int, rowLength: Int, byteCount: Int) throws -> Int {
        guard supportedTypes.contains(type) else {
            throw BloomError(.quantUnsupportedType, "ggml type \(type.name) is not one the quantizer handles ("
                             + supportedTypes.map(\.name).joined(separator: ", ") + ")")
        }
        let rowBytes = try bytesPerRow(type, rowLength: rowLength)
        if rowLength == 0 {
            guard valueCount == 0, byteCount == 0 else {
                throw BloomError(.quantShape, "row length 0 with \(valueCount) values and \(byteCount) bytes")
            }
            return 0
        }
        guard valueCount % rowLength == 0 else {
            throw BloomError(.quantShape, "\(valueCount) values are not a whole number of rows of \(rowLength)")
        }
        let needed = try Checked.multiply(valueCount / rowLength, rowBytes,
                                          "bytes of \(valueCount / rowLength) \(type.name) rows")
        guard byteCount == needed else {
            throw BloomError(.quantShape, "\(valueCount / rowLength) rows of \(rowLength) values as \(type.name) take"
                             + " \(needed) bytes, the buffer has \(byteCount)")
        }
        return rowBytes
    }

    /// Quantizes n values at x into y; given a buffer for the round trip, dequantizes them there and adds the
    /// difference to `error` while the chunk is still in cache.
    private static func quantizeChunk(_ type: GGMLType, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                                      _ n: Int, encode: ChunkEncode? = nil, roundTrip: UnsafeMutablePointer<Float>?,
                                      _ error: inout QuantizationError) {
        if let encode { encode(x, y, n) } else { quantizeValues(type, x, y, n) }
        guard let roundTrip else { return }
        dequantizeValues(type, UnsafeRawPointer(y), roundTrip, n)
        error.add(x, roundTrip, n)
    }

    /// n values (a whole number of blocks) to `type` at y.
    static func quantizeValues(_ type: GGMLType, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ n: Int) {
        codec(type).encode(x, y, n)
    }

    /// n values stored as `type` at x to f32 at y.
    static func dequantizeValues(_ type: GGMLType, _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        codec(type).decode(x, y, n)
    }

    private static func codec(_ type: GGMLType) -> (type: GGMLType, encode: Encode, decode: Decode) {
        guard let row = codecs.first(where: { $0.type == type }) else {
            preconditionFailure("no codec for \(type.name)")  // checkRows admits supportedTypes only
        }
        return row
    }
}

/// The one chunked engine: rows cut into chunks of whole rows (independent of the thread count), and the workers
/// that take them in turn. Every quantization path (in-memory rows, streamed tensors, dequantization) runs here.
struct RowChunks: Sendable {
    let rowCount: Int
    let rowLength: Int
    let rowsPerChunk: Int
    let chunkCount: Int

    init(rowCount: Int, rowLength: Int, chunkValues: Int = Quantizer.chunkValues) {
        self.rowCount = rowCount
        self.rowLength = rowLength
        rowsPerChunk = Swift.max(1, chunkValues / Swift.max(1, rowLength))
        chunkCount = (rowCount + rowsPerChunk - 1) / rowsPerChunk
    }

    /// Values in the largest chunk.
    var chunkValues: Int { Swift.min(rowsPerChunk, rowCount) * rowLength }

    func rows(of chunk: Int) -> (first: Int, count: Int) {
        let first = chunk * rowsPerChunk
        return (first, Swift.min(rowsPerChunk, rowCount - first))
    }

    typealias Body = (_ chunk: Int, _ slot: Int, _ scratch: UnsafeMutableBufferPointer<Float>,
                      _ error: inout QuantizationError) throws -> Void

    /// Runs `body` once per chunk on up to `threads` workers, each with its own scratch of `scratchValues` floats.
    /// Chunks go in rounds of `roundChunks` (default: one round of every chunk): `slot` is the chunk's place in its
    /// round, and after each round `emit` gets its chunks in order on the calling thread (output written in order).
    /// Stops after a failure and rethrows the error of the lowest chunk that failed.
    /// - Returns: the chunks' errors merged in chunk order when `measuring`, else nil.
    func run(threads: Int, scratchValues: Int, measuring: Bool, roundChunks: Int? = nil, _ body: Body,
             emit: (_ chunk: Int, _ slot: Int) throws -> Void = { _, _ in }) throws -> QuantizationError? {
        let workers = Swift.min(Swift.max(1, threads), chunkCount)
        let round = Swift.max(1, Swift.min(roundChunks ?? chunkCount, chunkCount))
        var total = QuantizationError()
        try withoutActuallyEscaping(body) { body in
            let job = ChunkJob(slots: round, workers: workers, scratchValues: scratchValues, measuring: measuring,
                               body: body)
            var first = 0
            while first < chunkCount {
                let count = Swift.min(round, chunkCount - first)
                job.start(first: first, count: count)
                if workers == 1 || count == 1 {
                    job.work(worker: 0)
                } else {
                    DispatchQueue.concurrentPerform(iterations: Swift.min(workers, count)) { job.work(worker: $0) }
                }
                try job.finish(into: &total)
                for k in 0..<count { try emit(first + k, k) }
                first += count
            }
        }
        return measuring ? total : nil
    }
}

/// The state workers share while they take the chunks of a round in turn. Unchecked: each slot of `errors` and
/// `failures` (and the rows and output it covers) belongs to the one worker that took the chunk, each scratch
/// buffer to the worker of its number; the counter is atomic; rounds are started and finished on the calling thread
/// while no worker runs.
private final class ChunkJob: @unchecked Sendable {
    let scratchValues: Int
    /// One buffer per worker for the whole run (fresh buffers each round were fresh pages each round: page faults).
    let scratch: UnsafeMutableBufferPointer<Float>
    let measuring: Bool
    let body: RowChunks.Body
    let errors: UnsafeMutableBufferPointer<QuantizationError>
    let failures: UnsafeMutableBufferPointer<(any Error)?>
    let next = Atomic<Int>(0)
    let failed = Atomic<Bool>(false)
    private(set) var first = 0
    private(set) var count = 0

    init(slots: Int, workers: Int, scratchValues: Int, measuring: Bool, body: @escaping RowChunks.Body) {
        self.scratchValues = scratchValues
        scratch = .allocate(capacity: workers * scratchValues)
        self.measuring = measuring
        self.body = body
        errors = .allocate(capacity: slots)
        errors.initialize(repeating: QuantizationError())
        failures = .allocate(capacity: slots)
        failures.initialize(repeating: nil)
    }

    deinit {
        scratch.deallocate()
        errors.deallocate()
        failures.deinitialize()
        failures.deallocate()
    }

    func start(first: Int, count: Int) {
        self.first = first
        self.count = count
        next.store(0, ordering: .relaxed)
    }

    /// Worker number `worker`: takes the round's next chunk until none is left or one has failed.
    func work(worker: Int) {
        let start = worker * scratchValues
        let scratch = UnsafeMutableBufferPointer(rebasing: scratch[start..<(start + scratchValues)])
        while !failed.load(ordering: .relaxed) {
            let slot = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard slot < count else { return }
            var error = QuantizationError()
            do {
                try body(first + slot, slot, scratch, &error)
                errors[slot] = error
            } catch {
                failures[slot] = error
                failed.store(true, ordering: .relaxed)
            }
        }
    }

    /// Rethrows the round's first failure, else merges its errors (in chunk order) into `total`.
    func finish(into total: inout QuantizationError) throws {
        if let failure = failures[0..<count].lazy.compactMap({ $0 }).first { throw failure }
        if measuring { for k in 0..<count { total.merge(errors[k]) } }
    }
}
