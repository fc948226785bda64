#if canImport(Glibc)
import Glibc
#endif

/// A tensor as the pipelines consume it: Hugging Face name, stored dtype and shape, and a way to read rows as f32.
/// Readers produce these straight from views; the LoRA merge produces them with the delta applied on the fly,
/// so `merge` and `convert --lora` stream the same way (row chunks, never the whole model).
public struct SourceTensor: Sendable {
    /// Name as in the checkpoint (e.g. `transformer.h.0.self_attention.query_key_value.weight`).
    public let name: String
    /// The stored dtype (what `--dtype auto` keeps).
    public let dtype: DType
    /// Outermost first, as PyTorch prints it.
    public let shape: [Int]
    /// Reads rows `[start, start+count)` of the tensor viewed as `[shape[0], product(shape[1...])]` into `dst`
    /// (which holds exactly `count * rowLength` floats). A 1-D tensor has rows of length 1; a scalar is one row.
    public let readRows: @Sendable (_ start: Int, _ count: Int, _ dst: UnsafeMutableBufferPointer<Float>) throws -> Void

    public init(name: String, dtype: DType, shape: [Int],
                readRows: @escaping @Sendable (Int, Int, UnsafeMutableBufferPointer<Float>) throws -> Void) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.readRows = readRows
    }

    /// Straight from a view (F32/F16/BF16), no copy until rows are read.
    public init(_ view: TensorView) {
        let rowLength = view.shape.count <= 1 ? 1 : view.shape.dropFirst().reduce(1, *)
        self.init(name: view.name, dtype: view.dtype, shape: view.shape) { start, count, dst in
            try view.readFloats(into: dst, elementOffset: start * rowLength)
        }
    }

    /// From a view whose mapped pages are handed back to the kernel as rows are read (MADV_PAGEOUT, a hint: the
    /// contents stay and fault back in if read again). Streaming a model through this keeps resident memory near one
    /// chunk instead of growing with the file; heap storage (inflated entries) is left as it is.
    public static func releasingPages(_ view: TensorView) -> SourceTensor {
        let plain = SourceTensor(view)
        let rowBytes = plain.rowCount > 0 ? view.byteCount / plain.rowCount : 0
        return SourceTensor(name: plain.name, dtype: plain.dtype, shape: plain.shape) { start, count, dst in
            try plain.readRows(start, count, dst)
            guard let base = view.bytes.baseAddress else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let from = (Int(bitPattern: base) + start * rowBytes) / page * page
            let to = (Int(bitPattern: base) + (start + count) * rowBytes) / page * page
            if to > from, let p = UnsafeMutableRawPointer(bitPattern: from) { _ = madvise(p, to - from, MADV_PAGEOUT) }
        }
    }

    public var rowCount: Int { shape.isEmpty ? 1 : shape[0] }
    public var rowLength: Int { shape.count <= 1 ? 1 : shape.dropFirst().reduce(1, *) }
    public var elementCount: Int { shape.reduce(1, *) }

    /// All elements as f32 (for small tensors: norms, biases, test fixtures).
    public func floats() throws -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        try out.withUnsafeMutableBufferPointer { try readRows(0, rowCount, $0) }
        return out
    }
}
