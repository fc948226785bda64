import BloomArch
import BloomCore
import BloomGGUF
import BloomQuant
import Foundation

/// Streams planned tensors into a GGUF writer: row chunks are read (re-laid for QKV), encoded and measured by
/// `threads` workers at once, then written in order. Memory: threads × (chunk f32 + encoded bytes).
enum ConvertStream {
    /// A batch of chunk buffers shared by the workers (each worker touches only its own slot).
    private final class Slots: @unchecked Sendable {
        let floats: UnsafeMutableBufferPointer<Float>
        let decoded: UnsafeMutableBufferPointer<Float>?
        let bytes: UnsafeMutableRawBufferPointer
        let chunkElements: Int
        let chunkBytes: Int
        let errors: UnsafeMutableBufferPointer<QuantizationError>
        let failures: UnsafeMutableBufferPointer<(any Error)?>

        init(count: Int, chunkElements: Int, chunkBytes: Int, measure: Bool) {
            self.chunkElements = chunkElements
            self.chunkBytes = chunkBytes
            floats = .allocate(capacity: count * chunkElements)
            decoded = measure ? .allocate(capacity: count * chunkElements) : nil
            bytes = .allocate(byteCount: count * chunkBytes, alignment: 64)
            errors = .allocate(capacity: count)
            errors.initialize(repeating: QuantizationError())
            failures = .allocate(capacity: count)
            failures.initialize(repeating: nil)
        }

        deinit {
            floats.deallocate()
            decoded?.deallocate()
            bytes.deallocate()
            errors.deallocate()
            _ = failures.deinitialize()
            failures.deallocate()
        }
    }

    /// Writes one tensor's bytes. Returns its encoding error (empty unless `measure`).
    static func write(_ t: PlannedTensor, to writer: GGUFWriter, threads: Int, chunkElements: Int, measure: Bool,
                      progress: (_ bytes: Int) -> Void) throws -> QuantizationError {
        let source = t.source
        let rowLength = source.rowLength
        let rows = source.rowCount
        guard rows > 0, rowLength > 0 else { return QuantizationError() }
        let bytesPerRow = t.info.byteCount / rows
        // Chunks of a 1-D tensor are parts of its one ggml row: encode them as rows of single values (F32 only).
        let codecRowLength = source.shape.count <= 1 ? 1 : t.info.rowLength
        let chunkRows = max(1, min(rows, chunkElements / rowLength))
        let chunkCount = (rows + chunkRows - 1) / chunkRows
        let workers = max(1, min(threads, chunkCount))
        let slots = Slots(count: workers, chunkElements: chunkRows * rowLength, chunkBytes: chunkRows * bytesPerRow,
                          measure: measure && t.info.type != .F32)
        var total = QuantizationError()
        var chunk = 0
        while chunk < chunkCount {
            let batch = min(workers, chunkCount - chunk)
            let first = chunk
            DispatchQueue.concurrentPerform(iterations: batch) { k in
                let start = (first + k) * chunkRows
                let count = min(chunkRows, rows - start)
                let n = count * rowLength
                let floats = UnsafeMutableBufferPointer(rebasing: slots.floats[(k * slots.chunkElements)..<(k * slots.chunkElements + n)])
                let bytes = UnsafeMutableRawBufferPointer(rebasing: slots.bytes[(k * slots.chunkBytes)..<(k * slots.chunkBytes + count * bytesPerRow)])
                do {
                    try readRows(t, start: start, count: count, into: floats)
                    try ConvertCodec.encode(t.info.type, UnsafeBufferPointer(floats), rowLength: codecRowLength, into: bytes)
                    if let decodedAll = slots.decoded {
                        let decoded = UnsafeMutableBufferPointer(rebasing: decodedAll[(k * slots.chunkElements)..<(k * slots.chunkElements + n)])
                        try ConvertCodec.decode(t.info.type, UnsafeRawBufferPointer(bytes), rowLength: codecRowLength, into: decoded)
                        slots.errors[k] = QuantizationError.measure(original: UnsafeBufferPointer(floats), roundTrip: UnsafeBufferPointer(decoded))
                    }
                } catch {
                    slots.failures[k] = error
                }
            }
            for k in 0..<batch {
                if let failure = slots.failures[k] { throw failure }
                let count = min(chunkRows, rows - (first + k) * chunkRows)
                try writer.write(UnsafeRawBufferPointer(rebasing: slots.bytes[(k * slots.chunkBytes)..<(k * slots.chunkBytes + count * bytesPerRow)]))
                total.merge(slots.errors[k])
                slots.errors[k] = QuantizationError()
                progress(count * bytesPerRow)
            }
            chunk += batch
        }
        return total
    }

    /// Rows `[start, start+count)` in GGUF order: straight from the source, or gathered head by head for QKV.
    private static func readRows(_ t: PlannedTensor, start: Int, count: Int, into dst: UnsafeMutableBufferPointer<Float>) throws {
        guard let qkv = t.qkv else { return try t.source.readRows(start, count, dst) }
        let rowLength = t.source.rowLength
        for run in qkv.hfRuns(ggufRows: start, count: count) {
            let at = (run.gguf - start) * rowLength
            try t.source.readRows(run.hf, run.length, UnsafeMutableBufferPointer(rebasing: dst[at..<(at + run.length * rowLength)]))
        }
    }
}
