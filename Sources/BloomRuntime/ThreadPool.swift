import BloomCore
import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The persistent worker threads every kernel of one model instance shares (`bk_pool`): created once, reused for
/// every product of every token.
public final class ThreadPool: @unchecked Sendable {
    let pool: OpaquePointer
    /// Threads, the calling one included.
    public let threadCount: Int

    /// - Parameter threads: worker count including the caller; nil means every online core.
    /// - Throws: `.resources` if a thread cannot be started.
    public init(threads: Int? = nil) throws {
        let n = max(1, min(256, threads ?? ThreadPool.onlineCores))
        guard let p = bk_pool_create(Int32(n)) else { throw BloomError(.resources, "cannot start \(n) threads") }
        pool = p
        threadCount = Int(bk_pool_size(p))
    }

    deinit { bk_pool_destroy(pool) }

    /// Cores the process may run on.
    public static var onlineCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// A 64-byte aligned f32 buffer the forward pass reuses (never reallocated inside the token loop).
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// - Parameter zeroed: fill with zeros (caches are written before they are read and stay untouched, so their
    ///   pages are only committed as the context grows).
    /// - Throws: `.resources` if the memory cannot be had.
    init(count: Int, zeroed: Bool = true) throws {
        self.count = max(count, 1)
        let bytes = try Checked.multiply(self.count, MemoryLayout<Float>.stride, "buffer size")
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw BloomError(.resources, "cannot allocate \(ByteCount.format(bytes)) for activations or the KV cache")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: self.count)
        if zeroed { pointer.initialize(repeating: 0, count: self.count) }
    }

    deinit { free(pointer) }
}

/// Aligned raw scratch memory for the kernels.
final class Scratch {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    /// - Throws: `.resources` if the memory cannot be had.
    init(byteCount: Int) throws {
        self.byteCount = max(64, (byteCount + 63) & ~63)
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, self.byteCount) == 0, let raw else {
            throw BloomError(.resources, "cannot allocate \(ByteCount.format(self.byteCount)) of kernel scratch memory")
        }
        pointer = raw
    }

    deinit { free(pointer) }
}
