#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Memory that tensor bytes live in: a mapped file (zero-copy) or a heap buffer (inflated or gathered data).
public final class ByteStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer?
    public let count: Int
    private let owner: AnyObject?
    private let ownsAllocation: Bool
    /// Bytes of a `PROT_NONE` reservation to unmap (header-only storage), else 0.
    private let reserved: Int

    /// A window into a mapped file, keeping the mapping alive.
    public init(mapped file: MappedFile) {
        base = file.base
        count = file.count
        owner = file
        ownsAllocation = false
        reserved = 0
    }

    /// Takes ownership of `buffer` (allocated with `UnsafeMutableRawPointer.allocate`).
    public init(adopting buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress.map { UnsafeRawPointer($0) }
        count = buffer.count
        owner = nil
        ownsAllocation = true
        reserved = 0
    }

    /// `count` bytes of address space that are never read: the storage of a header-only view (`inspect` of a
    /// deflated zip entry it must not inflate). The pages are reserved `PROT_NONE` without backing memory, so they
    /// cost no RAM, and touching one faults instead of returning made-up bytes.
    /// - Throws: `.io` when the address space cannot be reserved.
    public init(unreadable count: Int) throws {
        self.count = count
        owner = nil
        ownsAllocation = false
        reserved = count
        guard count > 0 else {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw BloomError(.io, "cannot reserve \(count) bytes of address space for a header-only view")
        }
        base = UnsafeRawPointer(p)
    }

    /// A heap copy of `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if bytes.count > 0 { buffer.copyMemory(from: bytes) }
        self.init(adopting: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count]))
    }

    deinit {
        if ownsAllocation, let base { UnsafeMutableRawPointer(mutating: base).deallocate() }
        if reserved > 0, let base { munmap(UnsafeMutableRawPointer(mutating: base), reserved) }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// A tensor as a zero-copy view: name, dtype, shape (outermost first, as PyTorch prints it) and a byte range
/// of its storage. Contiguous, row-major, little-endian.
public struct TensorView: Sendable {
    /// The name exactly as stored in the file.
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public let storage: ByteStorage
    /// Byte range inside `storage`.
    public let range: Range<Int>
    /// The file the bytes come from and their absolute offset in it (for `inspect`; the offset of the
    /// entry's data for inflated zip entries).
    public var file: String
    public var fileOffset: Int

    public init(name: String, dtype: DType, shape: [Int], storage: ByteStorage, range: Range<Int>,
                file: String, fileOffset: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.range = range
        self.file = file
        self.fileOffset = fileOffset
    }

    public var byteCount: Int { range.count }
    public var elementCount: Int { shape.reduce(1, *) }
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage.bytes[range])
    }

    /// The elements as f32 (exact for F32/F16/BF16); other dtypes are refused.
    public func floats() throws -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        try out.withUnsafeMutableBufferPointer { try readFloats(into: $0, elementOffset: 0) }
        return out
    }

    /// Reads `dst.count` elements starting at `elementOffset` into `dst` as f32 (a row chunk of a large tensor).
    public func readFloats(into dst: UnsafeMutableBufferPointer<Float>, elementOffset: Int) throws {
        guard let size = dtype.byteSize, dtype.isFloatingPointWeight else {
            throw BloomError(.unsupported, "tensor '\(name)' has dtype \(dtype.rawValue); only F32, F16 and BF16 can be read as floats")
        }
        let n = dst.count
        guard elementOffset >= 0, n <= elementCount, elementOffset <= elementCount - n else {
            throw BloomError(.outOfBounds, "elements [\(elementOffset), \(elementOffset + n)) of tensor '\(name)' are past its \(elementCount) elements")
        }
        guard n > 0, let dstBase = dst.baseAddress, let src = bytes.baseAddress.map({ $0 + elementOffset * size }) else { return }
        Precision.toFloat(dtype, src, dstBase, n)
    }
}
