import BloomCore
import BloomGGUF

/// A gguf-split set's tensors, each a view into its own part's mapping (the set keeps every part mapped).
extension GGUFSplitSet: WeightSource {
    var tensorNames: [String] { tensors.map(\.name) }
    var storage: AnyObject { self }

    func rawTensor(named name: String) -> (type: GGMLType, ne: [Int], bytes: UnsafeRawBufferPointer)? {
        guard let t = tensor(named: name) else { return nil }
        return (t.type, t.ne, t.bytes)
    }
}
