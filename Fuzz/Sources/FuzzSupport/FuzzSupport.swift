// Shared by every fuzz target: a scratch folder for parsers that take a path, the invariants every parser must keep on
// hostile input, and a tiny stored-zip writer (to wrap fuzzed pickles the way torch.save does).
//
// A target "crashes" (libFuzzer saves the input) when a parser traps, when ASan sees a bad access, or when one of the
// invariants below is broken: an error that is not a BloomError, an error message on more than one line, an error from
// a file reader that does not name the file, or a tensor view outside its storage.
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

/// libFuzzer's callback. Also exported under its C name: the linker pulls libFuzzer's own main() object, which refers
/// to it.
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
        if let slash = name.lastIndex(of: "/") {
            try? FileManager.default.createDirectory(atPath: folder + "/" + name[..<slash],
                                                     withIntermediateDirectories: true)
        }
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

    /// Writes `bytes` to `folder/name` (parent folders created) and returns the path.
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
        if line.contains(where: { $0.isNewline }) {
            fail("error message spans several lines: \(line.debugDescription)")
        }
        if namesFile, error.path == nil { fail("error does not name the file: \(line)") }
    } catch {
        fail("a parser threw \(type(of: error)), not a BloomError: \(error)")
    }
}

/// Checks that a view lies inside its storage and reads every byte (ASan sees heap storages; a mapping past its end
/// faults).
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

/// A safetensors file of F32 tensors (values cycling through 0…7 / 8), names and shapes as given.
public func safetensorsF32(_ tensors: [(name: String, shape: [Int])]) -> [UInt8] {
    var header: [(String, JSONValue)] = []
    var data: [UInt8] = []
    for (name, shape) in tensors {
        let begin = data.count
        for i in 0..<shape.reduce(1, *) {
            withUnsafeBytes(of: (Float(i % 8) / 8).bitPattern.littleEndian) { data += $0 }
        }
        header.append((name, .object([("dtype", .string("F32")), ("shape", .array(shape.map { .int($0) })),
                                      ("data_offsets", .array([.int(begin), .int(data.count)]))])))
    }
    let text = Array(JSONWriter.string(.object(header)).utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(text.count).littleEndian) { out += $0 }
    return out + text + data
}
