#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output file written atomically: bytes go to a temporary file next to the destination
/// (`.NAME.bloomkit-tmp-PID`), which `commit()` fsyncs and renames into place. Until then nothing exists under
/// the final name. On an error, `deinit`/`abort()` removes the temporary; on SIGINT or SIGTERM the handler
/// installed by `AtomicFile.installSignalCleanup()` removes every open temporary before the process dies;
/// after SIGKILL the next `AtomicFile` for the same folder removes temporaries whose process is gone.
public final class AtomicFile {
    public let destination: String
    public let temporaryPath: String
    public private(set) var bytesWritten: Int = 0
    private var fd: Int32
    private var finished = false
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private var slot: Int?
    /// Fault injection for tests: after this many bytes, writes fail as a full disk would (ENOSPC).
    /// Read once from the environment variable BLOOMKIT_INJECT_ENOSPC_AFTER.
    nonisolated(unsafe) static var injectedFailureAfter: Int? = {
        guard let v = getenv("BLOOMKIT_INJECT_ENOSPC_AFTER") else { return nil }
        return Int(String(cString: v))
    }()

    public static let temporaryMarker = ".bloomkit-tmp-"

    /// Creates the temporary file, after the output door's checks (`OutputPlan.check`): refuses a destination that
    /// is a folder, a device, a FIFO or one of this process's inputs. Writes are gathered into `bufferSize` bytes.
    public init(destination: String, bufferSize: Int = 8 << 20) throws {
        self.destination = destination
        try OutputPlan.check(destination)
        let (dir, name) = AtomicFile.split(destination)
        AtomicFile.removeStaleTemporaries(in: dir)
        temporaryPath = (dir == "" ? "" : dir + "/") + OutputPlan.temporaryName(for: name, pid: getpid())
        unlink(temporaryPath)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            // Named by the output the user gave, not the temporary name they never saw.
            throw BloomError(.io,
                             "cannot create a temporary file next to the output: \(String(cString: strerror(errno)))",
                             path: destination)
        }
        buffer = .allocate(byteCount: max(bufferSize, 1), alignment: 64)
        pthread_mutex_init(&physicalLock, nil)
        slot = AtomicFile.register(temporaryPath)
    }

    deinit {
        if !finished { abort() }
        buffer.deallocate()
        pthread_mutex_destroy(&physicalLock)
    }

    /// Appends bytes (buffered; large writes go straight through).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw BloomError(.io, "write after commit or abort", path: destination) }
        if buffered + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try put(bytes, at: nil)
        } else if bytes.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + bytes.count)]).copyMemory(from: bytes)
            buffered += bytes.count
        }
        bytesWritten += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends `count` zero bytes (alignment padding).
    public func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: min(count, 1 << 16))
        var left = count
        while left > 0 {
            let n = min(left, zeros.count)
            try zeros.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= n
        }
    }

    /// Writes `bytes` at `offset`, unbuffered: safe to call from several threads at once (each on its own range),
    /// for writers that place decoded chunks in parallel (`unpack`'s workers). Not while buffered bytes wait.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        guard !finished, buffered == 0 else {
            throw BloomError(.io, "positional write after commit, or while buffered bytes wait", path: destination)
        }
        try put(bytes, at: offset)
    }

    /// Asks the kernel to start writing bytes before `offset` to the device now, in the background, and to drop the
    /// ones it has written: `commit`'s sync then waits for the last few MB, not for the whole file. Sequential
    /// writes call it themselves; a writer placing bytes by offset calls it once everything below `offset` is placed.
    public func writeBehind(through offset: Int) {
        guard offset - behind.last >= AtomicFile.writeBehindStep else { return }
        #if os(Linux)
        // Starts writeback of the range's dirty pages (without waiting) and drops its clean ones: the range begins
        // at the previous call's start, whose pages are written by now.
        _ = posix_fadvise(fd, off_t(behind.previous), off_t(offset - behind.previous), POSIX_FADV_DONTNEED)
        #endif
        behind = (behind.last, offset)
    }
    /// The offsets of the last two `writeBehind` calls that acted.
    private var behind = (previous: 0, last: 0)
    /// 560M-shaped F16 .bkz (943 MB) packed to disk, 2026-12-06: without it the final fsync took 1.28 s of a
    /// 2.3 s pack.
    static let writeBehindStep = 32 << 20

    /// Overwrites bytes already written at `offset` (e.g. a header sized after the data).
    public func overwrite(at offset: Int, _ bytes: UnsafeRawBufferPointer) throws {
        try flush()
        try put(bytes, at: offset)
    }

    /// Flushes, fsyncs, checks the destination again (an input opened since, a device put there), renames into
    /// place and fsyncs the folder. On an error the temporary is removed and the destination left as it is.
    public func commit() throws {
        guard !finished else { return }
        do {
            try OutputPlan.check(destination)
        } catch {
            abort()
            throw error
        }
        try flush()
        guard fsync(fd) == 0 else { throw ioError("cannot sync") }
        close(fd)
        fd = -1
        guard rename(temporaryPath, destination) == 0 else {
            let e = ioError("cannot rename into place")
            abort()
            throw e
        }
        finished = true
        AtomicFile.unregister(slot)
        let (dir, _) = AtomicFile.split(destination)
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Removes the temporary file; nothing is left under the final name.
    public func abort() {
        guard !finished else { return }
        finished = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        AtomicFile.unregister(slot)
    }

    /// Writes what is buffered.
    private func flush() throws {
        guard buffered > 0 else { return }
        let n = buffered
        buffered = 0
        try put(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: nil)
    }

    private var physicalBytes = 0
    private var physicalLock = pthread_mutex_t()

    /// Writes all of `bytes` at `offset` (positional, from any thread) or, for nil, at the file's position.
    private func put(_ bytes: UnsafeRawBufferPointer, at offset: Int?) throws {
        var done = 0
        while done < bytes.count {
            let want = try allowance(bytes.count - done)
            let from = bytes.baseAddress! + done
            let n = offset.map { pwrite(fd, from, want, off_t($0 + done)) } ?? Glibc.write(fd, from, want)
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("cannot write")
            }
            done += n
        }
        if offset == nil { writeBehind(through: physicalBytes) }
    }

    /// How many of `want` bytes the next write may take: all of them, or under fault injection what is left before
    /// the simulated full disk (ENOSPC once nothing is). Counts them, under a lock: positional writes come from
    /// several threads.
    private func allowance(_ want: Int) throws -> Int {
        pthread_mutex_lock(&physicalLock)
        defer { pthread_mutex_unlock(&physicalLock) }
        var n = want
        if let limit = AtomicFile.injectedFailureAfter {
            guard physicalBytes < limit else {
                errno = ENOSPC
                throw ioError("cannot write")
            }
            n = min(want, limit - physicalBytes)
        }
        physicalBytes += n
        return n
    }

    private func ioError(_ what: String) -> BloomError {
        let reason = errno == ENOSPC ? "no space left on the device" : String(cString: strerror(errno))
        return BloomError(.io, "\(what) after \(physicalBytes) bytes: \(reason)", path: destination)
    }

    static func split(_ path: String) -> (dir: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    /// Removes `.NAME.bloomkit-tmp-PID` files in `dir` whose process no longer exists (left by a SIGKILL).
    public static func removeStaleTemporaries(in dir: String) {
        guard let d = opendir(dir.isEmpty ? "." : dir) else { return }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasPrefix("."), let r = name.range(of: temporaryMarker, options: .backwards),
                  let pid = Int32(name[r.upperBound...]) else { continue }
            if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                unlink((dir.isEmpty ? "" : dir + "/") + name)
            }
        }
    }

    // MARK: signal cleanup (async-signal-safe: a fixed table of C strings, unlink, re-raise)

    private static let slotCount = 64
    nonisolated(unsafe) private static var slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: slotCount)
        p.initialize(repeating: nil, count: slotCount)
        return p
    }()
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    nonisolated(unsafe) private static var lockReady: Bool = {
        pthread_mutex_init(&lock, nil)
        return true
    }()

    private static func register(_ path: String) -> Int? {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        for k in 0..<slotCount where slots[k] == nil {
            slots[k] = strdup(path)
            return k
        }
        return nil
    }

    private static func unregister(_ slot: Int?) {
        guard let slot else { return }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let p = slots[slot]
        slots[slot] = nil
        free(p)
    }

    /// Installs SIGINT/SIGTERM handlers that remove every open temporary file, then die of the same signal.
    public static func installSignalCleanup() {
        _ = lockReady
        _ = slots
        let handler: @convention(c) (Int32) -> Void = { sig in
            for k in 0..<AtomicFile.slotCount {
                if let p = AtomicFile.slots[k] { unlink(p) }
            }
            signal(sig, SIG_DFL)
            raise(sig)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }
}
