import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Outputs are atomic: a temporary file in the destination folder, renamed when complete. `convert`, `quantize` and
/// `merge` are killed (SIGKILL) at several points of their write — when the temporary file reaches given sizes, not
/// after given times — and interrupted (SIGINT, SIGTERM); a full disk is simulated (BLOOMKIT_INJECT_ENOSPC_AFTER).
/// Nothing may exist under the final name before a run completes, temporaries must be gone after the next run (SIGKILL)
/// or at once (SIGINT/SIGTERM), and inputs are never modified.
final class InterruptionTests: XCTestCase {
    var scratch: TempDir!
    var model = ""
    var inputs: [String: Data] = [:]

    override func setUpWithError() throws {
        scratch = try TempDir("cli")
        model = try scratch.folder("model")
        try Inputs.bigModel(in: model)
        for name in TempDir.names(model) {
            inputs[name] = try Data(contentsOf: URL(fileURLWithPath: model + "/" + name))
        }
    }

    override func tearDownWithError() throws {
        for (name, bytes) in inputs {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model + "/" + name)), bytes,
                           "input \(name) was modified")
        }
        XCTAssertEqual(TempDir.names(model), inputs.keys.sorted(), "files appeared in the input folder")
        scratch = nil
    }

    /// Starts `arguments`, waits until a temporary file in `folder` holds at least `bytes`, and sends `signal`.
    /// Returns the result and whether the signal was sent (false when the run ended first).
    func interrupt(_ arguments: [String], folder: String, atBytes bytes: Int, with signal: Int32,
                   environment: [String: String] = [:]) throws -> (CLI.Result, sent: Bool) {
        let run = try CLI.Running(arguments, environment: environment, in: scratch.path)
        let marker = ".bloomkit-tmp-\(run.pid)"
        var sent = false
        while run.process.isRunning {
            let temporaries = TempDir.names(folder).filter { $0.hasSuffix(marker) }
            let size = temporaries.reduce(0) { total, name in
                total + ((try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? Int) ?? 0)
            }
            if !temporaries.isEmpty, size >= bytes {
                kill(run.pid, signal)
                sent = true
                break
            }
            usleep(200)
        }
        return (run.wait(), sent)
    }

    func testConvertKilledAtSeveralPointsLeavesNothingUnderTheFinalName() throws {
        let out = try scratch.folder("out")
        let gguf = out + "/model.gguf"
        let arguments = ["convert", model, "-o", gguf, "--type", "f32", "--threads", "1", "--quiet"]
        var kills = 0
        for point in [0, 1 << 20, 16 << 20, 40 << 20] {  // the f32 file is about 54 MB
            let (result, sent) = try interrupt(arguments, folder: out, atBytes: point, with: SIGKILL)
            if sent {
                kills += 1
                XCTAssertEqual(result.signal, SIGKILL, "killed at \(point) bytes")
                XCTAssertFalse(FileManager.default.fileExists(atPath: gguf),
                               "killed at \(point) bytes: a file under the final name")
                // SIGKILL cannot be caught: the temporary stays until the next run (which removes it below).
                XCTAssertEqual(TempDir.temporaries(out).count, 1, "\(TempDir.names(out))")
            } else {
                XCTAssertEqual(result.status, 0, "finished before \(point) bytes: \(result.stderr)")
                try FileManager.default.removeItem(atPath: gguf)
            }
        }
        XCTAssertGreaterThanOrEqual(kills, 2, "the conversion finished before most kill points")
        // The next run removes the temporaries the killed ones left, and completes.
        let result = try CLI.run(arguments, in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(TempDir.names(out), ["model.gguf"], "stray files after the next run")
        XCTAssertEqual(try CLI.run(["verify", gguf, "--quiet"], in: scratch.path).status, 0)
    }

    func testSIGINTAndSIGTERMRemoveTheTemporaryAtOnce() throws {
        let out = try scratch.folder("out")
        let gguf = out + "/model.gguf"
        for signal in [SIGINT, SIGTERM] {
            let (result, sent) = try interrupt(["convert", model, "-o", gguf, "--type", "f32", "--threads", "1",
                                                "--quiet"],
                                               folder: out, atBytes: 4 << 20, with: signal)
            try XCTSkipUnless(sent, "the conversion finished before it could be interrupted")
            XCTAssertEqual(result.signal, signal,
                           "the process should die of the signal (status \(String(describing: result.status)))")
            XCTAssertEqual(TempDir.names(out), [], "signal \(signal): left \(TempDir.names(out)) without another run")
        }
    }

    func testAFullDiskGivesAClearErrorAndNoPartialOutput() throws {
        let out = try scratch.folder("out")
        let gguf = out + "/model.gguf"
        let result = try CLI.run(["convert", model, "-o", gguf, "--type", "q8_0", "--quiet"],
                                 environment: ["BLOOMKIT_INJECT_ENOSPC_AFTER": "1000000"], in: scratch.path)
        assertBadInput(result, mentions: [gguf, "no space left"], "ENOSPC after 1 MB")
        XCTAssertEqual(TempDir.names(out), [], "partial output after a full disk")

        let merged = scratch.path + "/merged"
        let adapter = try scratch.folder("adapter")
        try Inputs.adapter(in: adapter)
        let mergeResult = try CLI.run(["merge", model, adapter, "-o", merged, "--quiet"],
                                      environment: ["BLOOMKIT_INJECT_ENOSPC_AFTER": "2000000"], in: scratch.path)
        assertBadInput(mergeResult, mentions: ["no space left"], "merge with ENOSPC after 2 MB")
        XCTAssertEqual(TempDir.names(merged), [], "merge left files after a full disk")

        // unpack's workers write their chunks at their offsets, from several threads
        let bkz = scratch.path + "/model.bkz"
        XCTAssertEqual(try CLI.run(["pack", model, "-o", bkz, "--quiet"], in: scratch.path).status, 0)
        let unpacked = out + "/unpacked"
        let unpackResult = try CLI.run(["unpack", bkz, "-o", unpacked, "--threads", "2", "--quiet"],
                                       environment: ["BLOOMKIT_INJECT_ENOSPC_AFTER": "100000"], in: scratch.path)
        assertBadInput(unpackResult, mentions: ["no space left"], "unpack with ENOSPC after 100 kB")
        XCTAssertEqual(TempDir.names(out), [], "unpack left files after a full disk")
    }

    func testQuantizeKilledOrInterruptedLeavesNothing() throws {
        let out = try scratch.folder("out")
        let source = out + "/f32.gguf"
        XCTAssertEqual(try CLI.run(["convert", model, "-o", source, "--type", "f32", "--quiet"],
                                   in: scratch.path).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: source))
        let target = out + "/q4.gguf"
        let arguments = ["quantize", source, "-o", target, "--type", "q4_0", "--threads", "1", "--quiet"]
        for (signal, point) in [(SIGKILL, 2 << 20), (SIGINT, 2 << 20)] {
            let (result, sent) = try interrupt(arguments, folder: out, atBytes: point, with: signal)
            guard sent else { XCTAssertEqual(result.status,
                                             0); try? FileManager.default.removeItem(atPath: target); continue }
            XCTAssertEqual(result.signal, signal)
            XCTAssertFalse(FileManager.default.fileExists(atPath: target))
            if signal == SIGINT { XCTAssertEqual(TempDir.temporaries(out), [], "SIGINT left a temporary") }
        }
        XCTAssertEqual(try CLI.run(arguments, in: scratch.path).status, 0)
        XCTAssertEqual(TempDir.names(out), ["f32.gguf", "q4.gguf"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: source)), before, "quantize modified its input")
    }

    func testMergeKilledLeavesNoModelAndTheNextRunCleansUp() throws {
        let adapter = try scratch.folder("adapter")
        try Inputs.adapter(in: adapter)
        let adapterBytes = try Data(contentsOf: URL(fileURLWithPath: adapter + "/adapter_model.safetensors"))
        let merged = scratch.path + "/merged"
        let arguments = ["merge", model, adapter, "-o", merged, "--max-shard-size", "10MB", "--quiet"]
        var kills = 0
        for (signal, point) in [(SIGKILL, 0), (SIGKILL, 8 << 20), (SIGKILL, 24 << 20), (SIGINT, 4 << 20)] {
            try FileManager.default.createDirectory(atPath: merged, withIntermediateDirectories: true)
            let (result, sent) = try interrupt(arguments, folder: merged, atBytes: point, with: signal)
            if sent {
                kills += 1
                XCTAssertEqual(result.signal, signal)
                let finals = TempDir.names(merged).filter { !$0.contains(".bloomkit-tmp-") }
                XCTAssertEqual(finals, [], "interrupted at \(point) bytes: final files \(finals)")
                if signal == SIGKILL {
                    XCTAssertFalse(TempDir.temporaries(merged).isEmpty, "SIGKILL at \(point): no temporary left?")
                }
                if signal == SIGINT { XCTAssertEqual(TempDir.names(merged), [], "SIGINT left temporaries") }
            } else {
                XCTAssertEqual(result.status, 0, result.stderr)
                try FileManager.default.removeItem(atPath: merged)
            }
        }
        XCTAssertGreaterThanOrEqual(kills, 2, "the merge finished before most interruption points")
        let result = try CLI.run(arguments, in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(TempDir.temporaries(merged), [], "stray temporaries after the next run")
        XCTAssertTrue(TempDir.names(merged).contains("config.json"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: adapter + "/adapter_model.safetensors")), adapterBytes)
    }
}
