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

    init(count: Int) {
        self.count = max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit { pointer.deallocate() }
}

/// Aligned raw scratch memory for the kernels.
final class Scratch {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = max(64, (byteCount + 63) & ~63)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.byteCount, alignment: 64)
    }

    deinit { pointer.deallocate() }
}
