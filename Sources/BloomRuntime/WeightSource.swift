import BloomArch
import BloomCore
import BloomGGUF
import CKernels

/// Where the loader reads a model from: metadata and named tensors whose bytes stay valid while `storage` lives.
/// (A GGUF file; tests may provide others.)
protocol WeightSource {
    var path: String { get }
    var metadata: GGUFMetadata { get }
    /// Every tensor name, in file order.
    var tensorNames: [String] { get }
    /// The ggml type, `ne` (innermost first) and bytes of a tensor, or nil if there is none by that name.
    func rawTensor(named name: String) -> (type: GGMLType, ne: [Int], bytes: UnsafeRawBufferPointer)?
    /// The object that keeps the bytes mapped.
    var storage: AnyObject { get }
}

extension GGUFFile: WeightSource {
    var tensorNames: [String] { tensors.map(\.name) }
    var storage: AnyObject { self }

    func rawTensor(named name: String) -> (type: GGMLType, ne: [Int], bytes: UnsafeRawBufferPointer)? {
        guard let t = tensor(named: name) else { return nil }
        return (t.type, t.ne, t.bytes)
    }
}

/// Binds tensors the way llama.cpp's `create_tensor` does: each one is required by name with the `ne` the BLOOM
/// profile gives it (BloomTensorNames.expected) and a type the kernels compute with; matrices may be block types,
/// norms and biases must be F32; a tensor the profile does not list is an error.
struct WeightLoader<Source: WeightSource> {
    let source: Source
    /// name → required ne, from the one name table.
    private let expected: [String: [Int]]
    private var unread: Set<String>
    let hasSeparateOutput: Bool

    static var matrixTypes: [GGMLType] {
        [.F32, .F16, .BF16, .Q8_0, .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q2_K, .Q3_K, .Q4_K, .Q5_K, .Q6_K]
    }

    init(source: Source, hyperParameters hp: BloomHyperParameters) throws {
        self.source = source
        hasSeparateOutput = source.rawTensor(named: BloomTensorNames.output) != nil
        let list = BloomTensorNames.expected(hp, separateOutput: hasSeparateOutput)
        expected = Dictionary(list.map { ($0.name, $0.ne) }, uniquingKeysWith: { a, _ in a })
        unread = Set(source.tensorNames)
    }

    private mutating func require(_ name: String, types: [GGMLType]) throws -> (type: GGMLType, ne: [Int], bytes: UnsafeRawBufferPointer) {
        guard let ne = expected[name] else { preconditionFailure("'\(name)' is not in BloomTensorNames.expected") }
        guard let t = source.rawTensor(named: name) else {
            throw BloomError(.invalidModel, "tensor '\(name)' is missing", location: name)
        }
        guard t.ne == ne else {
            throw BloomError(.invalidModel, "tensor '\(name)' has ne \(t.ne), expected \(ne)", location: name)
        }
        guard types.contains(t.type) else {
            let names = types.map(\.name).joined(separator: ", ")
            throw BloomError(.invalidModel, "tensor '\(name)' is \(t.type.name); the runtime computes with \(names) here", location: name)
        }
        let rows = ne.dropFirst().reduce(1, *)
        let rowBytes = bk_row_bytes(Int32(t.type.rawValue), Int64(ne[0]))
        guard rowBytes > 0 else {
            let block = t.type.blockLayout.elements
            throw BloomError(.invalidModel, "tensor '\(name)' is \(t.type.name) with rows of \(ne[0]) elements, "
                             + "not a multiple of its \(block)-element blocks", location: name)
        }
        let needed = rowBytes * rows
        guard t.bytes.count == needed, t.bytes.baseAddress != nil else {
            throw BloomError(.invalidModel, "tensor '\(name)' holds \(t.bytes.count) bytes, expected \(needed)", location: name)
        }
        unread.remove(name)
        return t
    }

    mutating func weight(_ name: String) throws -> Weight {
        let t = try require(name, types: Self.matrixTypes)
        let raw = bk_weight(data: t.bytes.baseAddress, type: Int32(t.type.rawValue), rows: Int64(t.ne[1]), cols: Int64(t.ne[0]))
        return Weight(raw: raw, byteCount: t.bytes.count)
    }

    mutating func vector(_ name: String) throws -> UnsafePointer<Float> {
        let t = try require(name, types: [.F32])
        guard let base = t.bytes.baseAddress, Int(bitPattern: base) % 4 == 0 else {
            throw BloomError(.invalidModel, "tensor '\(name)' is not 4-byte aligned in the file", location: name)
        }
        return base.assumingMemoryBound(to: Float.self)
    }

    mutating func linear(_ weightName: String, _ biasName: String) throws -> Linear {
        Linear(weight: try weight(weightName), bias: try vector(biasName))
    }

    mutating func norm(_ weightName: String, _ biasName: String) throws -> Norm {
        let w = try vector(weightName)
        return Norm(weight: w, bias: try vector(biasName), count: expected[weightName]?.first ?? 0)
    }

    /// Refuses tensors the BLOOM profile does not have (llama.cpp: "wrong number of tensors").
    func refuseUnread() throws {
        if let name = source.tensorNames.first(where: { unread.contains($0) }) {
            throw BloomError(.invalidModel, "tensor '\(name)' is not part of a BLOOM model", location: name)
        }
    }
}
