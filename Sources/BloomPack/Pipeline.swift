import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ordered parallel work: items are processed `batch` at a time on `threads` worker threads, and consumed in order
/// on the calling thread while the next batch is being worked on. At most two batches are in flight, so an item may
/// keep its buffers in slot `item % (2 * batch)`; worker `w` (0..<threads) may use per-worker scratch.
enum Pipeline {
    /// - Parameters:
    ///   - work: runs on a worker thread: `(item, worker)`; must not throw (record errors in the item's slot).
    ///   - consume: runs on the calling thread, in item order; an error stops the pipeline (after in-flight work ends).
    static func run(count: Int, threads: Int, batch: Int, work: @escaping @Sendable (Int, Int) -> Void,
                    consume: (Int) throws -> Void) throws {
        guard count > 0 else { return }
        let batch = max(1, batch)
        var current = launch(0..<min(batch, count), threads: threads, work: work)
        while true {
            current.group.wait()
            let upper = min(current.range.upperBound + batch, count)
            let upcoming = current.range.upperBound < upper
                ? launch(current.range.upperBound..<upper, threads: threads, work: work) : nil
            defer { upcoming?.group.wait() }
            for i in current.range { try consume(i) }
            guard let upcoming else { return }
            current = upcoming
        }
    }

    private final class Counter: @unchecked Sendable {
        private var next: Int
        private let end: Int
        private var lock = pthread_mutex_t()
        init(_ range: Range<Int>) {
            next = range.lowerBound
            end = range.upperBound
            pthread_mutex_init(&lock, nil)
        }
        deinit { pthread_mutex_destroy(&lock) }
        func take() -> Int? {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            guard next < end else { return nil }
            next += 1
            return next - 1
        }
    }

    private static func launch(_ range: Range<Int>, threads: Int, work: @escaping @Sendable (Int, Int) -> Void)
        -> (range: Range<Int>, group: DispatchGroup) {
        let group = DispatchGroup()
        let counter = Counter(range)
        for w in 0..<max(1, min(threads, range.count)) {
            DispatchQueue.global().async(group: group) {
                while let i = counter.take() { work(i, w) }
            }
        }
        return (range, group)
    }
}

/// A fixed-size byte buffer owned by one slot or worker (reused across items).
final class ByteBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = max(count, 1)
        pointer = .allocate(byteCount: self.count, alignment: 64)
    }
    deinit { pointer.deallocate() }
    func bytes(_ n: Int) -> UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: n) }
}
