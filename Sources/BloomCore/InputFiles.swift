#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The input door and its record of the inputs an output must not replace, by device and inode (and change time, so
/// a reused inode number is not mistaken for an earlier input): every file mapped now (weights, GGUF files: a
/// `MappedFile` alive), and every JSON or text file read since the process started (configs, tokenizers, adapter
/// configs, `--file` texts: parsed and closed, their content is in use all the same). The output door (`OutputPlan`)
/// refuses to replace any of them, whatever path, symlink or hard link leads there. A library user may read a GGUF
/// file, let it go, and write it again; a process cannot replace a file it is reading from.
public enum InputFiles {
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var changeSeconds: Int
        var changeNanoseconds: Int

        init(_ st: stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            changeSeconds = Int(st.st_ctim.tv_sec)
            changeNanoseconds = Int(st.st_ctim.tv_nsec)
        }
    }

    private struct Entry {
        var path: String
        var mapped = 0
        var pinned = false
    }

    nonisolated(unsafe) private static var inputs: [Identity: Entry] = [:]
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    private static let lockReady: Bool = {
        pthread_mutex_init(&lock, nil)
        return true
    }()

    /// Opens `path` for reading through the one door: the path must name a regular file (symlinks followed) — checked
    /// with `stat` before any `open`, so a FIFO or a device is refused without blocking or touching it; the open is
    /// `O_NONBLOCK` (a FIFO swapped in between cannot block either) and `fstat` must show the same regular file.
    /// - Parameters:
    ///   - maxBytes: refuse a larger file before reading any of it.
    ///   - what: what the file is, for messages ("text file", "JSON file").
    /// - Returns: the open descriptor (the caller closes it), the file size and identity; the caller calls
    ///   `release(_:)` with the identity when it no longer uses the file (`MappedFile` does in `deinit`).
    /// - Throws: `.io` for a missing, unreadable or non-regular file; `.limitExceeded` past `maxBytes`.
    static func open(_ path: String, maxBytes: Int? = nil, what: String = "file") throws
        -> (fd: Int32, size: Int, identity: Identity) {
        var before = stat()
        guard stat(path, &before) == 0 else {
            throw BloomError(.io, "cannot open the \(what) for reading: \(String(cString: strerror(errno)))",
                             path: path)
        }
        try requireRegular(before, path: path, what: what)
        if let maxBytes, Int(before.st_size) > maxBytes {
            throw BloomError(.limitExceeded, "the \(what) is \(before.st_size) bytes, past the limit of \(maxBytes)",
                             path: path)
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw BloomError(.io, "cannot open the \(what) for reading: \(String(cString: strerror(errno)))",
                             path: path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = BloomError(.io, "cannot stat the \(what): \(String(cString: strerror(errno)))", path: path)
            close(fd)
            throw e
        }
        do {
            try requireRegular(st, path: path, what: what)
            guard st.st_dev == before.st_dev, st.st_ino == before.st_ino else {
                throw BloomError(.io, "the \(what) was replaced while it was being opened", path: path)
            }
            if let maxBytes, Int(st.st_size) > maxBytes {
                throw BloomError(.limitExceeded, "the \(what) is \(st.st_size) bytes, past the limit of \(maxBytes)",
                                 path: path)
            }
        } catch {
            close(fd)
            throw error
        }
        let identity = Identity(st)
        locked { inputs[identity, default: Entry(path: path)].mapped += 1 }
        return (fd, Int(st.st_size), identity)
    }

    /// The file is no longer mapped (it stays an input if it was pinned).
    static func release(_ identity: Identity) {
        locked {
            guard var entry = inputs[identity] else { return }
            entry.mapped -= 1
            inputs[identity] = entry.mapped > 0 || entry.pinned ? entry : nil
        }
    }

    /// Keeps the file an input for the rest of the process: read whole and closed, its content is still in use.
    static func pin(_ identity: Identity) {
        locked { inputs[identity]?.pinned = true }
    }

    /// The input `st` describes (its path then), if it is one.
    static func input(matching st: stat) -> String? {
        locked { inputs[Identity(st)]?.path }
    }

    private static func locked<T>(_ body: () -> T) -> T {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return body()
    }

    private static func requireRegular(_ st: stat, path: String, what: String) throws {
        let kind = st.st_mode & S_IFMT
        guard kind != S_IFREG else { return }
        throw BloomError(.io, "the \(what) is \(describe(kind)), not a regular file", path: path)
    }

    /// "a FIFO", "a character device", … for messages.
    public static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFDIR: return "a folder"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }
}
