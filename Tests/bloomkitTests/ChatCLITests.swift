import Foundation
import TestSupport
import XCTest

/// `bloomkit chat`: instructions from piped input answered as `generate --instruction` answers them, /reset, /set,
/// history cut to the context; and through a pseudo-terminal, Ctrl-C stopping an answer but not the chat.
final class ChatCLITests: XCTestCase {
    var scratch: TempDir!
    var gguf = ""

    override func setUpWithError() throws {
        scratch = try TempDir("cli")
        gguf = try CLI.tinyGGUF(in: scratch.path)
    }
    override func tearDown() { scratch = nil }

    /// `bloomkit chat gguf arguments…` with `input` on its standard input.
    func chat(_ input: String, _ arguments: [String]) throws -> CLI.Result {
        let file = scratch.path + "/input.txt"
        try Data(input.utf8).write(to: URL(fileURLWithPath: file))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["chat", gguf] + arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        let out = scratch.path + "/out.txt", err = scratch.path + "/err.txt"
        for path in [out, err] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        return CLI.Result(status: process.terminationStatus, signal: nil,
                          stdout: try String(contentsOfFile: out, encoding: .utf8),
                          stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    func generate(_ arguments: [String]) throws -> String {
        let result = try CLI.run(["generate", gguf] + arguments, in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    func testPipedInstructionsAnswerAsGenerateDoes() throws {
        let greedy = try generate(["--instruction", "Say hi", "-n", "6"])
        let sampled = try generate(["--instruction", "Say hi", "-n", "6", "--temp", "0.9", "-s", "3"])
        XCTAssertNotEqual(greedy, sampled)
        let script = "Say hi\n/reset\nSay hi\n/set temperature 0.9\n/set seed 3\n/reset\nSay hi\n/quit\nSay hi\n"
        let result = try chat(script, ["-n", "6"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // First turns after /reset see no history: the same prompt as generate's, the same answer.
        XCTAssertEqual(result.stdout, greedy + greedy + sampled, result.stderr)
        XCTAssertTrue(result.stderr.contains("(history cleared)"), result.stderr)
        // Sampling options on the command line work as in generate.
        XCTAssertEqual(try chat("Say hi\n", ["-n", "6", "--temp", "0.9", "-s", "3"]).stdout, sampled)
    }

    func testHistoryIsCutToTheContextAndSaysSo() throws {
        // The template holds 28 tokens with "Say hi": two turns fit in 70, a third drops the first.
        let result = try chat("Say hi\nSay hi again\nSay hi once more\n", ["-n", "6", "-c", "70"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr.components(separatedBy: "history truncated: dropped the 1 oldest").count, 2,
                       result.stderr)
        XCTAssertTrue(result.stderr.contains("context of 70 tokens"), result.stderr)
        // An instruction longer than the context is refused, and the chat goes on.
        let long = try chat("Say hi\n/set max-tokens 2\nSay hi\n", ["-n", "6", "-c", "20"])
        XCTAssertEqual(long.status, 0, long.stderr)
        XCTAssertTrue(long.stderr.contains("error: the instruction takes 28 tokens; the context holds 20"), long.stderr)
    }

    func testBadCommandsAreReportedAndTheChatGoesOn() throws {
        let result = try chat("/frob\n/set top-k x\n/set nothing 1\n/set temperature -1\n/show\n", ["-n", "4"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        XCTAssertEqual(errors.count, 4, result.stderr)
        XCTAssertTrue(result.stderr.contains("temperature 0.0, top-k 50"), result.stderr)
        XCTAssertEqual(try CLI.run(["chat", gguf, "-n", "0"], in: scratch.path).status, 2)
    }

    /// Through `script` (a pseudo-terminal): a long answer, Ctrl-C, then a command the chat still reads.
    func testCtrlCStopsTheAnswerNotTheChat() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("no script(1)") }
        // Random weights: greedy decoding runs to -n without meeting EOS, long past the Ctrl-C.
        let folder = try scratch.folder("random")
        try Inputs.bigModel(in: folder, hidden: 256, layers: 2)
        let model = scratch.path + "/random.gguf"
        let converted = try CLI.run(["convert", folder, "-o", model, "--quiet"], in: scratch.path)
        XCTAssertEqual(converted.status, 0, converted.stderr)
        // exec: script(1) starts the command through $SHELL (or /bin/sh where that is unset); a shell left waiting in
        // the terminal's foreground group gets the Ctrl-C too and exits 130 after bloomkit's clean exit.
        let command = "exec '\(CLI.binary)' chat '\(model)' -n 20000 -c 20100 -t 1"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qfec", command, "/dev/null"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let collected = LockedData()
        output.fileHandleForReading.readabilityHandler = { collected.append($0.availableData) }
        func waitFor(_ text: String, seconds: Double) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if collected.text.contains(text) { return true }
                usleep(50_000)
            }
            return false
        }
        XCTAssertTrue(waitFor("> ", seconds: 20), collected.text)
        input.fileHandleForWriting.write(Data("Say hi\n".utf8))
        usleep(1_500_000)  // the answer streams
        input.fileHandleForWriting.write(Data([0x03]))  // Ctrl-C, turned into SIGINT by the terminal
        XCTAssertTrue(waitFor("(answer stopped)", seconds: 20), collected.text)
        input.fileHandleForWriting.write(Data("/show\n".utf8))
        XCTAssertTrue(waitFor("temperature 0.0", seconds: 20), collected.text)
        input.fileHandleForWriting.write(Data("/quit\n".utf8))
        let end = Date().addingTimeInterval(20)
        while process.isRunning && Date() < end { usleep(50_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(process.terminationStatus, 0, collected.text)
    }
}

/// Bytes appended from a reading thread, read from the test's.
final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
