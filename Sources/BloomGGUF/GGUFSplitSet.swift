import BloomCore

/// A model stored as one GGUF file or as a set of parts in llama.cpp's gguf-split layout: files
/// `PREFIX-00001-of-0000N.gguf` … `PREFIX-0000N-of-0000N.gguf`, each a complete GGUF file holding some of the tensors,
/// each with `split.no` (UINT16, 0-based), `split.count` (UINT16, N) and `split.tensors.count` (INT32, tensors in
/// the whole set); the first part holds all other metadata. Opened from the first part (or a plain file), every part
/// mapped and validated; tensors are views into their own part's mapping, so readers see one list of tensors.
public final class GGUFSplitSet: Sendable {
    /// The parts in order; one for a plain file.
    public let parts: [GGUFFile]
    /// Every tensor of the set, in part order then info order.
    public let tensors: [GGUFTensor]
    private let index: [String: Int]

    public static let splitNumberKey = "split.no"               // UINT16
    public static let splitCountKey = "split.count"             // UINT16
    public static let splitTensorCountKey = "split.tensors.count"  // INT32

    /// The first part's path.
    public var path: String { parts[0].path }
    /// The first part's metadata (the set's).
    public var metadata: GGUFMetadata { parts[0].metadata }
    public var isSplit: Bool { parts[0].metadata[Self.splitCountKey] != nil }

    /// `PREFIX-0000I-of-0000N.gguf` (I 1-based, at least five digits each, as llama.cpp's llama_split_path).
    public static func partPath(prefix: String, number: Int, count: Int) -> String {
        func pad(_ n: Int) -> String { String(repeating: "0", count: max(0, 5 - String(n).count)) + String(n) }
        return "\(prefix)-\(pad(number))-of-\(pad(count)).gguf"
    }

    /// Opens a plain GGUF file, or the first part of a split set and then the others.
    /// - Throws: the GGUF reader's errors; `.ggufSplitSet` for a path that is not the first part, a missing part, a
    ///   part whose split keys do not belong to this set, or tensor counts that do not add up; with the part's path.
    public convenience init(path: String) throws {
        try self.init(first: GGUFFile(path: path))
    }

    /// A set from its first part, already open (a plain file, or a file decoded into memory), opening the other
    /// parts beside `first.path`.
    /// - Throws: as `init(path:)`.
    public init(first: GGUFFile) throws {
        let path = first.path
        guard let split = try Self.splitKeys(first) else {
            parts = [first]
            tensors = first.tensors
            index = Dictionary(first.tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
            return
        }
        guard split.number == 0 else {
            throw BloomError(.ggufSplitSet, "this is part \(split.number + 1) of \(split.count) of a split set; "
                                 + "open the first part", path: path)
        }
        let suffix = String(Self.partPath(prefix: "", number: 1, count: split.count))
        guard path.hasSuffix(suffix), path.count > suffix.count else {
            throw BloomError(.ggufSplitSet, "a first part of \(split.count) must be named PREFIX\(suffix)", path: path)
        }
        let prefix = String(path.dropLast(suffix.count))
        var parts = [first]
        for number in 2...max(split.count, 1) where split.count > 1 {
            let partPath = Self.partPath(prefix: prefix, number: number, count: split.count)
            let part: GGUFFile
            do {
                part = try GGUFFile(path: partPath)
            } catch let error as BloomError where error.code == .io {
                throw BloomError(.ggufSplitSet, "part \(number) of \(split.count) cannot be opened: \(error.message)",
                                 path: partPath)
            }
            guard let keys = try Self.splitKeys(part), keys.number == number - 1, keys.count == split.count,
                  keys.tensorCount == split.tensorCount else {
                throw BloomError(.ggufSplitSet, "the file is not part \(number) of \(split.count) of this set "
                                     + "(its split.no, split.count or split.tensors.count differ)", path: partPath)
            }
            parts.append(part)
        }
        let all = parts.flatMap(\.tensors)
        guard all.count == split.tensorCount else {
            throw BloomError(.ggufSplitSet, "the parts hold \(all.count) tensors; split.tensors.count says "
                                 + "\(split.tensorCount)", path: path)
        }
        var index: [String: Int] = [:]
        for (k, t) in all.enumerated() {
            guard index.updateValue(k, forKey: t.name) == nil else {
                throw BloomError(.ggufSplitSet, "tensor '\(t.name)' is in two parts", path: path, location: t.name)
            }
        }
        self.parts = parts
        self.tensors = all
        self.index = index
    }

    /// The tensor named `name`, nil if absent.
    public func tensor(named name: String) -> GGUFTensor? { index[name].map { tensors[$0] } }

    /// A part's split keys, nil for a file without `split.count`.
    static func splitKeys(_ file: GGUFFile) throws -> (number: Int, count: Int, tensorCount: Int)? {
        guard file.metadata[splitCountKey] != nil else { return nil }
        do {
            let count = Int(try file.metadata.uint16(splitCountKey))
            let number = Int(try file.metadata.uint16(splitNumberKey))
            let tensorCount = Int(try file.metadata.int32(splitTensorCountKey))
            guard count >= 1, number < count, tensorCount >= 0 else {
                throw BloomError(.ggufSplitSet, "split.no \(number) and split.count \(count) do not describe a part")
            }
            return (number, count, tensorCount)
        } catch let error as BloomError {
            throw error.at(path: file.path)
        }
    }
}
