import BloomCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system questions pack and unpack ask (kept here, small, until BloomCore has one input door).
enum PackPaths {
    /// `stat` (following links), or nil when the path does not exist.
    static func status(_ path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }

    static func isDirectory(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFDIR }
    static func isRegular(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFREG }

    /// Refuses anything but a regular file before it is opened (a FIFO would block `open`, a device never ends).
    static func requireRegularFile(_ path: String) throws {
        guard let st = status(path) else {
            throw BloomError(.io, "cannot read: \(String(cString: strerror(errno)))", path: path)
        }
        guard isRegular(st) else { throw BloomError(.io, "not a regular file", path: path) }
    }

    /// The absolute, link-free spelling of `path`; for a path that does not exist yet, of its folder plus its name.
    static func canonical(_ path: String) -> String {
        if let r = realpath(path, nil) {
            defer { free(r) }
            return String(cString: r)
        }
        let (dir, name) = split(path)
        guard let r = realpath(dir.isEmpty ? "." : dir, nil) else { return path }
        defer { free(r) }
        let d = String(cString: r)
        return (d == "/" ? "" : d) + "/" + name
    }

    static func split(_ path: String) -> (dir: String, name: String) {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return ("", String(p)) }
        let dir = String(p[..<slash])
        return (dir.isEmpty ? "/" : dir, String(p[p.index(after: slash)...]))
    }

    static func join(_ dir: String, _ name: String) -> String { dir.isEmpty ? name : dir + "/" + name }

    /// Regular files under `folder`, recursively, as (path relative to it, path to open), sorted by relative path.
    /// Links to regular files are followed (Hugging Face cache snapshots are links into a blob store); links to
    /// folders are not. bloomkit's own temporaries are skipped; anything else (a FIFO, a device) is refused.
    static func files(under folder: String) throws -> [(relative: String, path: String)] {
        var out: [(String, String)] = []
        func walk(_ rel: String) throws {
            let dir = rel.isEmpty ? folder : folder + "/" + rel
            guard let d = opendir(dir) else {
                throw BloomError(.io, "cannot list: \(String(cString: strerror(errno)))", path: dir)
            }
            var names: [String] = []
            while let entry = readdir(d) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != ".", name != "..", !name.contains(AtomicFile.temporaryMarker) { names.append(name) }
            }
            closedir(d)
            for name in names.sorted() {
                let r = rel.isEmpty ? name : rel + "/" + name
                let full = folder + "/" + r
                var l = stat()
                guard lstat(full, &l) == 0 else { throw BloomError(.io, "cannot stat", path: full) }
                if (l.st_mode & S_IFMT) == S_IFDIR {
                    try walk(r)
                } else if let st = status(full), isRegular(st) {
                    out.append((r, full))
                } else if (l.st_mode & S_IFMT) != S_IFLNK {
                    throw BloomError(.io, "not a regular file (only regular files can be packed)", path: full)
                }
            }
        }
        try walk("")
        return out
    }

    /// Removes a folder tree this process created (a failed unpack's temporary folder).
    static func removeTree(_ path: String) {
        guard let d = opendir(path) else { unlink(path); return }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        closedir(d)
        for name in names {
            let full = path + "/" + name
            var l = stat()
            if lstat(full, &l) == 0, (l.st_mode & S_IFMT) == S_IFDIR { removeTree(full) } else { unlink(full) }
        }
        rmdir(path)
    }
}

extension AtomicFile {
    /// What unpack writes through: positional writes from the decoding workers, through the page cache (no buffer of
    /// its own; `commit` syncs). Measured against `O_DIRECT` blocks written in order from the consuming thread: that
    /// one writing thread was the limit (on a tmpfs, the copy into the cache costs about as much CPU as decoding).
    static func placed(_ destination: String) throws -> AtomicFile {
        try AtomicFile(destination: destination, bufferSize: 0)
    }
}

extension PackPaths {
    /// Whether `path` is the file `other` describes (same device and inode: a hard link or the same name).
    static func sameFile(_ other: stat?, _ path: String) -> Bool {
        guard let other, let st = status(path) else { return false }
        return st.st_dev == other.st_dev && st.st_ino == other.st_ino
    }
}
