#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The output door's checks, made by `AtomicFile` when it starts an output and again just before it renames the
/// finished file into place (coreutils `install`/`cp` refusing to overwrite their own source):
/// - the destination, if it exists, is a regular file (symlinks followed): a character device such as `/dev/null`,
///   a FIFO, a socket or a folder is refused and left as it is;
/// - it is not a file this process read (`InputFiles`), compared by device and inode, so no path, symlink or hard
///   link to an input can have it replaced;
/// - its name fits in NAME_MAX, and so does the temporary name (`temporaryName(for:pid:)`).
public enum OutputPlan {
    /// Longest file name (bytes) Linux and macOS file systems take.
    public static let nameMax = 255

    /// - Throws: `.invalidArgument` naming the destination and why it cannot be written.
    public static func check(_ destination: String) throws {
        let name = AtomicFile.split(destination).name
        guard !name.isEmpty, name != ".", name != ".." else {
            throw BloomError(.invalidArgument, "the output names a folder, not a file", path: destination)
        }
        guard name.utf8.count <= nameMax else {
            throw BloomError(.invalidArgument, "the output's name is \(name.utf8.count) bytes, past the \(nameMax) "
                             + "a file name can have", path: destination)
        }
        var st = stat()
        guard stat(destination, &st) == 0 else { return }
        let kind = st.st_mode & S_IFMT
        if kind == S_IFDIR {
            throw BloomError(.invalidArgument, "output is a directory", path: destination)
        }
        guard kind == S_IFREG else {
            throw BloomError(.invalidArgument, "the output is \(InputFiles.describe(kind)), not a regular file; "
                             + "bloomkit writes only regular files and leaves it as it is", path: destination)
        }
        if let input = InputFiles.input(matching: st) {
            let via = input == destination ? "" : " ('\(input)', the same file)"
            throw BloomError(.invalidArgument, "the output is one of the inputs\(via); choose another output",
                             path: destination)
        }
    }

    /// `.NAME.bloomkit-tmp-PID`, next to the destination. A NAME too long for that to fit in NAME_MAX is cut at a
    /// character boundary and followed by a hash of the whole name, so two long names with one prefix stay apart.
    static func temporaryName(for name: String, pid: Int32) -> String {
        let suffix = AtomicFile.temporaryMarker + String(pid)
        let whole = "." + name + suffix
        guard whole.utf8.count > nameMax else { return whole }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let tag = "~" + String(hash, radix: 16)
        let room = nameMax - 1 - tag.utf8.count - suffix.utf8.count
        var kept = ""
        for c in name where kept.utf8.count + c.utf8.count <= room { kept.append(c) }
        return "." + kept + tag + suffix
    }
}
