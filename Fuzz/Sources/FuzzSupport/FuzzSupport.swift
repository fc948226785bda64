// Shared by every fuzz target: a scratch folder for parsers that take a path, the invariants every parser must keep on
// hostile input, and a tiny stored-zip writer (to wrap fuzzed pickles the way torch.save does).
//
// A target "crashes" (libFuzzer saves the input) when a parser traps, when ASan sees a bad access, or when one of the
// invariants below is broken: an error that is not a BloomError, an error message on more than one line, an error from a
// file reader that does not name the file, or a tensor view outside its storage.
import BloomCore
import CFuzzerDriver
import Foundation

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var oneInput: ((UnsafeRawBufferPointer) -> Void)?

/// Runs libFuzzer with the process's arguments, calling `body` once per input; never returns.
public func runFuzzer(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
    oneInput = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) })
}

/// libFuzzer's callback. Also exported under its C name: the linker pulls libFuzzer's own main() object, which refers to it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    oneInput?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// A per-process folder (in /dev/shm when there is one: no disk writes per execution), removed at exit.
public enum Scratch {
    public static let folder: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = base + "/bloomkit-fuzz-\(getpid())"
        mkdir(path, 0o700)
        atexit {
            _ = try? FileManager.default.removeItem(atPath: Scratch.folder)
        }
        return path
    }()

    /// Writes `bytes` to `folder/name` (replacing it) and returns the path.
    @discardableResult
    public static func write(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
        let path = folder + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fail("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else { fail("cannot write \(path)") }
            done += n
        }
        return path
    }

    @discardableResult
    public static func write(_ name: String, _ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { write(name, $0) }
    }
}

/// Stops the process so libFuzzer records the input as a crash.
public func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("FUZZ INVARIANT BROKEN: \(message)\n".utf8))
    abort()
}

/// Runs a parser on one input. Success is fine; an error must be a `BloomError` whose line is one line and, when the
/// parser was given a file (`namesFile`), names it.
public func expectCleanFailure(namesFile: Bool = true, _ body: () throws -> Void) {
    do {
        try body()
    } catch let error as BloomError {
        let line = error.description
        if line.contains(where: { $0.isNewline }) { fail("error message spans several lines: \(line.debugDescription)") }
        if namesFile, error.path == nil { fail("error does not name the file: \(line)") }
    } catch {
        fail("a parser threw \(type(of: error)), not a BloomError: \(error)")
    }
}

/// Checks that a view lies inside its storage and reads every byte (ASan sees heap storages; a mapping past its end faults).
public func touch(_ view: TensorView) {
    guard view.range.lowerBound >= 0, view.range.upperBound <= view.storage.count else {
        fail("tensor '\(view.name)' range \(view.range) is outside its storage of \(view.storage.count) bytes")
    }
    var sum: UInt8 = 0
    for b in view.bytes { sum &+= b }
    blackHole(sum)
    if view.dtype.isFloatingPointWeight, view.elementCount <= 1 << 16 {
        expectCleanFailure(namesFile: false) { blackHole(try view.floats().count) }
    }
}

@inline(never)
public func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// A zip archive of stored entries, laid out as torch.save writes it (local headers, data, central directory, EOCD).
/// CRCs are left 0: bloomkit checks CRCs of deflated entries only.
public func storedZip(_ entries: [(name: String, data: [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    func u16(_ v: Int) { out.append(UInt8(v & 0xFF)); out.append(UInt8((v >> 8) & 0xFF)) }
    func u32(_ v: Int) { for k in 0..<4 { out.append(UInt8((v >> (8 * k)) & 0xFF)) } }
    var offsets: [Int] = []
    for (name, data) in entries {
        offsets.append(out.count)
        u32(0x04034b50); u16(20); u16(0); u16(0); u16(0); u16(0); u32(0); u32(data.count); u32(data.count)
        u16(name.utf8.count); u16(0)
        out += Array(name.utf8)
        out += data
    }
    let cdStart = out.count
    for ((name, data), offset) in zip(entries, offsets) {
        u32(0x02014b50); u16(20); u16(20); u16(0); u16(0); u16(0); u16(0); u32(0); u32(data.count); u32(data.count)
        u16(name.utf8.count); u16(0); u16(0); u16(0); u16(0); u32(0); u32(offset)
        out += Array(name.utf8)
    }
    let cdSize = out.count - cdStart
    u32(0x06054b50); u16(0); u16(0); u16(entries.count); u16(entries.count); u32(cdSize); u32(cdStart); u16(0)
    return out
}

/// A small valid safetensors file: `a` F32 [2] and `b` F16 [2, 2] (for the shard index target).
public func tinySafetensors() -> [UInt8] {
    let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]}}"#
    var out: [UInt8] = []
    let n = header.utf8.count
    for k in 0..<8 { out.append(UInt8((n >> (8 * k)) & 0xFF)) }
    out += Array(header.utf8)
    out += [UInt8](repeating: 0x3C, count: 16)
    return out
}
