import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ordered parallel work: `threads` worker threads take items in order and work on them while the calling thread
/// consumes finished items in order. Workers run up to `2 * batch` items ahead of the consumer (a sliding window:
/// a worker never waits for a whole batch, only for the window to move), so an item may keep its buffers in slot
/// `item % (2 * batch)`; worker `w` (0..<threads) may use per-worker scratch.
enum Pipeline {
    /// - Parameters:
    ///   - work: runs on a worker thread: `(item, worker)`; must not throw (record errors in the item's slot).
    ///   - consume: runs on the calling thread, in item order; an error stops the pipeline (after in-flight work ends).
    static func run(count: Int, threads: Int, batch: Int, work: @escaping @Sendable (Int, Int) -> Void,
                    consume: (Int) throws -> Void) throws {
        guard count > 0 else { return }
        let window = Window(count: count, size: 2 * max(1, batch))
        let group = DispatchGroup()
        for w in 0..<max(1, min(threads, count)) {
            DispatchQueue.global().async(group: group) {
                while let i = window.take() {
                    work(i, w)
                    window.finish(i)
                }
            }
        }
        defer {
            window.stop()
            group.wait()
        }
        for i in 0..<count {
            window.waitFinished(i)
            try consume(i)
            window.consumed(i)
        }
    }

    /// Which items are taken, finished and consumed; workers wait while the window is full, the consumer while its
    /// next item is not finished.
    private final class Window: @unchecked Sendable {
        private let count: Int
        private let size: Int
        private var next = 0
        private var consumedUpTo = 0
        private var finished: [Bool]
        private var stopped = false
        private var lock = pthread_mutex_t()
        private var changed = pthread_cond_t()

        init(count: Int, size: Int) {
            self.count = count
            self.size = size
            finished = [Bool](repeating: false, count: size)
            pthread_mutex_init(&lock, nil)
            pthread_cond_init(&changed, nil)
        }
        deinit {
            pthread_cond_destroy(&changed)
            pthread_mutex_destroy(&lock)
        }

        /// The next item to work on, once its slot is free; nil when every item is taken or the pipeline stopped.
        func take() -> Int? {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            while !stopped, next < count, next >= consumedUpTo + size { pthread_cond_wait(&changed, &lock) }
            guard !stopped, next < count else { return nil }
            next += 1
            return next - 1
        }

        func finish(_ i: Int) {
            pthread_mutex_lock(&lock)
            finished[i % size] = true
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&lock)
        }

        func waitFinished(_ i: Int) {
            pthread_mutex_lock(&lock)
            while !finished[i % size] { pthread_cond_wait(&changed, &lock) }
            pthread_mutex_unlock(&lock)
        }

        func consumed(_ i: Int) {
            pthread_mutex_lock(&lock)
            finished[i % size] = false
            consumedUpTo = i + 1
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&lock)
        }

        func stop() {
            pthread_mutex_lock(&lock)
            stopped = true
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&lock)
        }
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
