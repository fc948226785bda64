import Foundation
import XCTest
@testable import BloomCore

#if canImport(Glibc)
import Glibc
#endif

/// The input and output doors (issue 11): special files are refused before they can block, outputs never replace an
/// input, a device or a FIFO, long names work, sizes parse without trapping.
final class HostileDoorTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "bloomkit-doors-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = dir + "/" + name
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    private func fifo(_ name: String) -> String {
        let path = dir + "/" + name
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        return path
    }

    /// Runs `body` on another thread; fails (and unblocks a FIFO reader by opening it for writing) if it takes
    /// longer than 10 s — what a blocking open of a FIFO did before the input door.
    private func withinTenSeconds(unblocking fifo: String? = nil, _ body: @escaping @Sendable () throws -> Void,
                                  line: UInt = #line) {
        let done = DispatchSemaphore(value: 0)
        Thread { try? body(); done.signal() }.start()
        if done.wait(timeout: .now() + 10) == .timedOut {
            XCTFail("blocked for 10 s", line: line)
            if let fifo {
                let fd = open(fifo, O_WRONLY | O_NONBLOCK)
                if fd >= 0 { close(fd) }
            }
            _ = done.wait(timeout: .now() + 10)
        }
    }

    private func code(_ body: () throws -> Void) -> BloomError.Code? {
        do { try body() } catch let e as BloomError { return e.code } catch { return nil }
        return nil
    }

    // MARK: input door

    func testFIFOInputsAreRefusedWithoutBlocking() {
        let path = fifo("model.safetensors")
        withinTenSeconds(unblocking: path) {
            XCTAssertThrowsError(try MappedFile(path: path)) { error in
                XCTAssertEqual((error as? BloomError)?.code, .io)
                XCTAssertTrue("\(error)".contains("FIFO"), "\(error)")
                XCTAssertEqual((error as? BloomError)?.path, path)
            }
        }
        let json = fifo("config.json")
        withinTenSeconds(unblocking: json) {
            XCTAssertThrowsError(try JSONFile.read(json)) { XCTAssertTrue("\($0)".contains("a FIFO"), "\($0)") }
        }
    }

    func testDevicesAndFoldersAreRefusedAsInputs() {
        for path in ["/dev/zero", "/dev/null"] where FileManager.default.fileExists(atPath: path) {
            XCTAssertThrowsError(try MappedFile(path: path)) {
                XCTAssertTrue("\($0)".contains("character device"), "\($0)")
            }
        }
        XCTAssertThrowsError(try JSONFile.read(dir)) { XCTAssertTrue("\($0)".contains("a folder"), "\($0)") }
        let link = dir + "/zero.json"
        XCTAssertEqual(symlink("/dev/zero", link), 0)
        XCTAssertThrowsError(try JSONFile.read(link)) { XCTAssertTrue("\($0)".contains("character device"), "\($0)") }
    }

    func testJSONFilePastTheLimitIsRefusedBeforeReading() throws {
        let path = dir + "/tokenizer.json"
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(ftruncate(fd, off_t(JSONFile.maxBytes + 1)), 0)  // sparse: no data, a huge size
        close(fd)
        XCTAssertThrowsError(try JSONFile.read(path)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .limitExceeded)
            XCTAssertEqual((error as? BloomError)?.path, path)
            XCTAssertTrue("\(error)".contains("\(JSONFile.maxBytes)"), "\(error)")
        }
        XCTAssertEqual(try JSONFile.read(write("small.json", Array(#"{"a":1}"#.utf8)))["a"]?.int, 1)
    }

    func testJSONPastTheValueBudgetIsRefusedWhileParsing() throws {
        // 2 bytes per value: under the byte limit, past the value budget (the tree would take 35 times the text).
        let n = JSONParser.defaultMaxValues
        let text = "[" + String(repeating: "0,", count: n) + "0]"
        XCTAssertThrowsError(try JSONParser().parse(text)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .limitExceeded)
            XCTAssertTrue("\(error)".contains("\(n) values"), "\(error)")
        }
        XCTAssertEqual(try JSONParser().parse("[" + String(repeating: "0,", count: n - 2) + "0]").array?.count, n - 1)
    }

    // MARK: output door

    func testOutputThatIsAnInputIsRefusedByPathSymlinkAndHardLink() throws {
        let input = write("model.safetensors", [1, 2, 3, 4])
        let link = dir + "/link.gguf", hard = dir + "/hard.gguf"
        XCTAssertEqual(symlink(input, link), 0)
        XCTAssertEqual(Glibc.link(input, hard), 0)
        let mapped = try MappedFile(path: input)
        for output in [input, link, hard] {
            XCTAssertThrowsError(try AtomicFile(destination: output)) { error in
                XCTAssertEqual((error as? BloomError)?.code, .invalidArgument, output)
                XCTAssertTrue("\(error)".contains("one of the inputs"), "\(error)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), Data([1, 2, 3, 4]))
        XCTAssertEqual(Scratch.temporaries(dir), [])
        // Once no longer mapped (a library user done reading it), a weight file may be written again.
        withExtendedLifetime(mapped) {}
    }

    func testAFileNoLongerMappedMayBeWrittenAgain() throws {
        let path = write("x.gguf", [1])
        do { _ = try MappedFile(path: path) }
        let out = try AtomicFile(destination: path)
        try out.write([2])
        try out.commit()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data([2]))
    }

    func testInputOpenedAfterTheOutputStartedStopsTheCommit() throws {
        let target = write("config.json", Array("{}".utf8))
        let out = try AtomicFile(destination: target)
        try out.write([9, 9])
        _ = try JSONFile.read(target)
        XCTAssertThrowsError(try out.commit()) { XCTAssertTrue("\($0)".contains("one of the inputs"), "\($0)") }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "{}")
        XCTAssertEqual(Scratch.temporaries(dir), [])
    }

    func testDevicesAndFIFOsAreNeverReplaced() throws {
        let devNull = "/dev/null"
        var before = stat()
        XCTAssertEqual(stat(devNull, &before), 0)
        let link = dir + "/null.gguf"
        XCTAssertEqual(symlink(devNull, link), 0)
        let pipe = fifo("out.gguf")
        for output in [devNull, link, pipe] {
            XCTAssertThrowsError(try AtomicFile(destination: output)) { error in
                XCTAssertEqual((error as? BloomError)?.code, .invalidArgument, output)
                XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
            }
        }
        var after = stat()
        XCTAssertEqual(stat(devNull, &after), 0)
        XCTAssertEqual(after.st_mode & S_IFMT, S_IFCHR)
        XCTAssertEqual(after.st_ino, before.st_ino)
        var l = stat()
        XCTAssertEqual(lstat(link, &l), 0)
        XCTAssertEqual(l.st_mode & S_IFMT, S_IFLNK, "the symlink is left as it is")
        XCTAssertEqual(lstat(pipe, &l), 0)
        XCTAssertEqual(l.st_mode & S_IFMT, S_IFIFO)
    }

    func testLongOutputNamesKeepTheTemporaryWithinNameMax() throws {
        let name = String(repeating: "é", count: 120) + "model.gguf"  // 250 bytes
        XCTAssertEqual(name.utf8.count, 250)
        let out = try AtomicFile(destination: dir + "/" + name)
        XCTAssertLessThanOrEqual(AtomicFile.split(out.temporaryPath).name.utf8.count, OutputPlan.nameMax)
        try out.write([7])
        try out.commit()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)), Data([7]))
        let other = String(repeating: "é", count: 120) + "other.gguf"
        XCTAssertNotEqual(OutputPlan.temporaryName(for: name, pid: 1), OutputPlan.temporaryName(for: other, pid: 1))
        // A temporary left by a dead process under a shortened name is still found and removed.
        let stale = dir + "/" + OutputPlan.temporaryName(for: name, pid: 999_999)
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data([0])))
        AtomicFile.removeStaleTemporaries(in: dir)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertThrowsError(try AtomicFile(destination: dir + "/" + String(repeating: "a", count: 256))) {
            XCTAssertTrue("\($0)".contains("255"), "\($0)")
        }
    }

    // MARK: sizes

    func testByteCountParseRefusesHugeAndNonFiniteSizes() {
        for text in ["1e30GB", "infTB", "INF", "nanGB", "-1GB", "9223372036854775807", "1e300", "99999999999TiB"] {
            XCTAssertNil(ByteCount.parse(text), text)
        }
        XCTAssertEqual(ByteCount.parse("5GB"), 5_000_000_000)
        XCTAssertEqual(ByteCount.parse("2GiB"), 2 << 30)
        XCTAssertEqual(ByteCount.parse("1024"), 1024)
    }
}

private enum Scratch {
    static func temporaries(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            $0.contains(AtomicFile.temporaryMarker)
        }
    }
}
