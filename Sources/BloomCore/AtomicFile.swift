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
    /// Writes go to the device without the page cache (`O_DIRECT`): whole aligned blocks from `buffer`.
    private var direct = false
    /// O_DIRECT's alignment of buffer addresses, sizes and file offsets (the largest logical block in use).
    static let directAlignment = 4096
    /// Linux's O_DIRECT (Glibc's module leaves it out: it needs _GNU_SOURCE); nil where bloomkit does not know it.
    static let directFlag: Int32? = {
        #if os(Linux) && (arch(x86_64) || arch(i386))
        return 0o40000
        #elseif os(Linux) && (arch(arm64) || arch(arm))
        return 0o200000
        #else
        return nil
        #endif
    }()

    /// Fault injection for tests: after this many bytes, writes fail as a full disk would (ENOSPC).
    /// Read once from the environment variable BLOOMKIT_INJECT_ENOSPC_AFTER.
    nonisolated(unsafe) static var injectedFailureAfter: Int? = {
        guard let v = getenv("BLOOMKIT_INJECT_ENOSPC_AFTER") else { return nil }
        return Int(String(cString: v))
    }()

    public static let temporaryMarker = ".bloomkit-tmp-"

    /// Creates the temporary file, after the output door's checks (`OutputPlan.check`): refuses a destination that
    /// is a folder, a device, a FIFO or one of this process's inputs.
    /// - Parameter direct: write around the page cache (`O_DIRECT`, where the file system takes it; otherwise the
    ///   ordinary path): for large outputs written once (unpack), the kernel neither copies every byte into its
    ///   cache nor has it all to flush at `commit`. Bytes are gathered into `bufferSize` (rounded up to whole
    ///   blocks) and written in whole aligned blocks; the last partial block goes through the cache.
    public init(destination: String, bufferSize: Int = 8 << 20, direct: Bool = false) throws {
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
        let align = AtomicFile.directAlignment
        buffer = .allocate(byteCount: max(bufferSize + align - 1, align) / align * align, alignment: align)
        slot = AtomicFile.register(temporaryPath)
        // Injected write failures cut writes at arbitrary sizes, which O_DIRECT refuses: they take the cache path.
        if direct, AtomicFile.injectedFailureAfter == nil, let flag = AtomicFile.directFlag {
            let flags = fcntl(fd, F_GETFL)
            self.direct = flags >= 0 && fcntl(fd, F_SETFL, flags | flag) == 0
        }
    }

    deinit {
        if !finished { abort() }
        buffer.deallocate()
    }

    /// Appends bytes (buffered; large writes go straight through).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw BloomError(.io, "write after commit or abort", path: destination) }
        if direct {
            var rest = bytes
            while !rest.isEmpty {
                let n = min(buffer.count - buffered, rest.count)
                UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
                buffered += n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                if buffered == buffer.count { try flush() }
            }
            bytesWritten += bytes.count
            return
        }
        if buffered + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try writeAll(bytes)
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

    /// Overwrites bytes already written at `offset` (e.g. a header sized after the data).
    public func overwrite(at offset: Int, _ bytes: UnsafeRawBufferPointer) throws {
        try flush()
        try leaveDirect()  // offsets and sizes of any alignment
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("cannot write")
            }
            done += n
        }
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

    /// Writes what is buffered. Direct: whole blocks straight to the device; a partial last block (only `commit`
    /// and `overwrite` flush one, which end direct writing) after leaving O_DIRECT.
    private func flush() throws {
        guard buffered > 0 else { return }
        let n = buffered
        buffered = 0
        guard direct else { return try writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        let whole = n / AtomicFile.directAlignment * AtomicFile.directAlignment
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<whole]))
        guard whole < n else { return }
        try leaveDirect()
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[whole..<n]))
    }

    /// Whether writes now bypass the page cache (for tests: the file system took O_DIRECT).
    var writesDirectly: Bool { direct }

    /// Back to writes through the page cache (any size, any offset).
    private func leaveDirect() throws {
        guard direct, let flag = AtomicFile.directFlag else { return }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~flag) == 0 else { throw ioError("cannot leave O_DIRECT") }
        direct = false
    }

    private var physicalBytes = 0

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            var want = bytes.count - done
            if let limit = AtomicFile.injectedFailureAfter {
                if physicalBytes >= limit { errno = ENOSPC; throw ioError("cannot write") }
                want = min(want, limit - physicalBytes)
            }
            let n = Glibc.write(fd, bytes.baseAddress! + done, want)
            if n < 0 {
                if errno == EINTR { continue }
                // A file system that took the O_DIRECT flag but refuses its writes: the rest goes through the cache.
                if errno == EINVAL && direct {
                    try leaveDirect()
                    continue
                }
                throw ioError("cannot write")
            }
            done += n
            physicalBytes += n
        }
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
