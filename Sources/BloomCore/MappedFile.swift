#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped read-only into memory. Tensors are views into it and keep it alive; it is unmapped when the
/// last view goes away. The file is opened `O_RDONLY` and mapped `PROT_READ`/`MAP_PRIVATE`: inputs are never modified.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    /// Start of the mapping (nil for an empty file).
    public let base: UnsafeRawPointer?
    /// The input door's record of the file (an output may not replace it while it is mapped); nil for memory.
    let identity: InputFiles.Identity?

    /// Maps the file at `path`, opened through the input door (`InputFiles.open`: a regular file, checked before it
    /// is opened, never a FIFO or a device).
    /// - Parameters:
    ///   - maxBytes: refuse a larger file before mapping it.
    ///   - what: what the file is, for messages.
    public init(path: String, maxBytes: Int? = nil, what: String = "file") throws {
        self.path = path
        let (fd, size, identity) = try InputFiles.open(path, maxBytes: maxBytes, what: what)
        defer { close(fd) }
        self.identity = identity
        count = size
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            InputFiles.release(identity)
            throw BloomError(.io, "cannot map \(count) bytes: \(String(cString: strerror(errno)))", path: path)
        }
        base = UnsafeRawPointer(p)
    }

    /// `count` bytes of anonymous memory, filled by `fill` and then made read-only: a file decoded into memory (a
    /// packed GGUF file) that readers take as they take a mapped one. The memory is private to the process and
    /// counts in its resident size.
    /// - Parameters:
    ///   - path: where the bytes come from, for messages.
    ///   - fill: writes all `count` bytes.
    /// - Throws: `.io` when the memory cannot be mapped; whatever `fill` throws (the memory is then released).
    public init(anonymous count: Int, path: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        self.path = path
        self.count = count
        identity = nil
        guard count > 0 else {
            base = nil
            try fill(UnsafeMutableRawBufferPointer(start: nil, count: 0))
            return
        }
        let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw BloomError(.io, "cannot map \(count) bytes of memory: \(String(cString: strerror(errno)))",
                             path: path)
        }
        do {
            try fill(UnsafeMutableRawBufferPointer(start: p, count: count))
        } catch {
            munmap(p, count)
            throw error
        }
        _ = mprotect(p, count, PROT_READ)
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
        if let identity { InputFiles.release(identity) }
    }

    /// All bytes of the file.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// The bytes `[offset, offset+length)`, or an error naming the range and the file size.
    public func slice(offset: Int, length: Int,
                      what: @autoclosure () -> String = "range") throws -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else {
            throw BloomError(.outOfBounds,
                             "\(what()) [\(offset), \(offset &+ length)) ends past the file's \(count) bytes",
                             path: path)
        }
        return UnsafeRawBufferPointer(start: base.map { $0 + offset }, count: length)
    }

    public enum Advice { case sequential, random, willNeed, dontNeed }

    /// Page-cache hints for a range (best effort; errors are ignored).
    public func advise(_ advice: Advice, offset: Int = 0, length: Int? = nil) {
        guard let base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset / page) * page
        let end = min(count, offset + (length ?? (count - offset)))
        guard end > start else { return }
        let flag: Int32
        switch advice {
        case .sequential: flag = MADV_SEQUENTIAL
        case .random: flag = MADV_RANDOM
        case .willNeed: flag = MADV_WILLNEED
        case .dontNeed: flag = MADV_DONTNEED
        }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, flag)
    }
}
