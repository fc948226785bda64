import BloomCheckpoint
import BloomCore
import Foundation
import TestSupport
import XCTest

/// Pickles that try to run code or exhaust the reader (Tests/Fixtures/hostile/*.bin, described by its manifest.json,
/// plus pickles made here): every one is refused with its own error code, and none is executed — each payload would
/// create /tmp/bloomkit-canary-<name>, which must not exist after the attempt.
final class HostilePickleTests: XCTestCase {
    /// The hostile fixtures, the error each must give, and text its message must contain.
    static let cases: [(name: String, code: BloomError.Code, mentions: String)] = [
        ("os_system", .pickleForbiddenGlobal, "posix.system"),
        ("builtins_eval", .pickleForbiddenGlobal, "builtins.eval"),
        ("subprocess_popen", .pickleForbiddenGlobal, "subprocess.Popen"),
        ("global_not_allowed", .pickleForbiddenGlobal, "numpy.core.multiarray._reconstruct"),
        ("inst", .pickleForbiddenOpcode, "INST"),
        ("obj", .pickleForbiddenGlobal, "os.system"),        // GLOBAL os.system comes before the OBJ opcode
        ("newobj", .pickleForbiddenGlobal, "subprocess.Popen"),  // likewise before NEWOBJ
        ("storage_2p60", .torchTensor, "1152921504606846976"),
        ("deep_nesting", .limitExceeded, "nested deeper"),
        ("legacy", .torchLegacyFormat, "re-save"),
    ]

    static func canary(_ name: String) -> String { "/tmp/bloomkit-canary-\(name)" }

    func testEveryHostileFixtureIsRefusedAndNothingRuns() throws {
        let manifestPath = try Fixtures.path("hostile/manifest.json")
        let manifest = try JSONParser().parse(String(contentsOfFile: manifestPath, encoding: .utf8))
        let described = Set((manifest["files"]?.object ?? []).map(\.0).filter { $0.hasSuffix(".bin") })
        var checked = 0
        for (name, code, mentions) in Self.cases {
            let path = Fixtures.root + "/hostile/\(name).bin"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            unlink(Self.canary(name))
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = HostileKit.expect(code, file: path, name) { try Checkpoint.open(path) }
            XCTAssertTrue(error?.description.contains(mentions) ?? false, "\(name): \(error?.description ?? "")")
            XCTAssertFalse(FileManager.default.fileExists(atPath: Self.canary(name)), "\(name): the payload ran")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "\(name): the input was modified")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 9, "hostile pickle fixtures are missing")
        // Every pickle the manifest describes is in the table above (a new fixture needs its expected error).
        XCTAssertTrue(described.isSubset(of: Set(Self.cases.map { $0.name + ".bin" })),
                      "untested: \(described.subtracting(Self.cases.map { $0.name + ".bin" }))")
    }

    func testRefusalsSayNothingWasExecutedAndWhere() throws {
        let path = try Fixtures.path("hostile/os_system.bin")
        let error = HostileKit.expect(.pickleForbiddenGlobal, file: path) { try TorchArchive(path: path) }
        let line = error?.description ?? ""
        XCTAssertTrue(line.contains("nothing was executed"), line)
        XCTAssertTrue(line.contains("data.pkl") && line.contains("pickle offset"), line)
    }

    // MARK: pickles made here: each dangerous opcode reached without a forbidden GLOBAL before it

    /// Errors about a whole record or a size name it in the message (`record 'archive/data/9'`, `tensor 'w'`) and
    /// have no offset: `located: false`.
    func expectPickle(_ code: BloomError.Code, _ pickle: [UInt8], storages: [(String, Int)] = [("0", 16)],
                      located: Bool = true, _ what: String, line: UInt = #line) throws {
        let folder = try TempDir()
        let path = try folder.write("p.bin", hostileTorchZip(pickle, storages: storages))
        HostileKit.expect(code, file: path, located: located, what, line: line) { try TorchArchive(path: path) }
    }

    func testCallingOpcodesAreRefusedEvenOnAllowedGlobals() throws {
        var obj = HostilePickle()  // MARK cls args… OBJ
        obj.mark(); obj.global("collections", "OrderedDict"); obj.op(0x6F); obj.stop()
        try expectPickle(.pickleForbiddenOpcode, obj.bytes, "OBJ on an allowed class")
        var newobj = HostilePickle()  // cls args NEWOBJ
        newobj.global("collections", "OrderedDict"); newobj.emptyTuple(); newobj.op(0x81); newobj.stop()
        try expectPickle(.pickleForbiddenOpcode, newobj.bytes, "NEWOBJ on an allowed class")
        var newobjEx = HostilePickle()  // cls args kwargs NEWOBJ_EX
        newobjEx.global("collections", "OrderedDict"); newobjEx.emptyTuple(); newobjEx.emptyDict(); newobjEx.op(0x92)
        newobjEx.stop()
        try expectPickle(.pickleForbiddenOpcode, newobjEx.bytes, "NEWOBJ_EX on an allowed class")
        var inst = HostilePickle()
        inst.mark()
        inst.bytes += [0x69] + Array("collections\nOrderedDict\n".utf8)  // INST names its class inline
        inst.stop()
        try expectPickle(.pickleForbiddenOpcode, inst.bytes, "INST on an allowed class")
    }

    func testOtherWaysToNameOrBuildObjectsAreRefused() throws {
        var stackGlobal = HostilePickle()
        stackGlobal.string("posix"); stackGlobal.string("system"); stackGlobal.op(0x93); stackGlobal.stop()
        try expectPickle(.pickleForbiddenOpcode, stackGlobal.bytes, "STACK_GLOBAL")

        var ext = HostilePickle()
        ext.bytes += [0x82, 1]; ext.stop()
        try expectPickle(.pickleForbiddenOpcode, ext.bytes, "EXT1 (copyreg extension registry)")

        var persid = HostilePickle()
        persid.bytes += [0x50] + Array("0\n".utf8); persid.stop()
        try expectPickle(.pickleForbiddenOpcode, persid.bytes, "text PERSID")

        try expectPickle(.pickleForbiddenOpcode, [0x80, 4, 0x7D, 0x2E], "protocol 4")

        var build = HostilePickle()
        build.global("torch._utils", "_rebuild_tensor_v2"); build.emptyDict(); build.op(0x62); build.stop()
        try expectPickle(.pickleMalformed, build.bytes, "BUILD (__setstate__) on a global")

        var storageCall = HostilePickle()
        storageCall.global("torch", "FloatStorage"); storageCall.emptyTuple(); storageCall.reduce(); storageCall.stop()
        try expectPickle(.pickleMalformed, storageCall.bytes, "calling a storage class")

        var dunder = HostilePickle()
        dunder.global("torch", "__builtins__"); dunder.stop()
        try expectPickle(.pickleForbiddenGlobal, dunder.bytes, "a torch attribute that is not a storage class")

        var longLine = HostilePickle()
        longLine.bytes += [0x63] + Array(String(repeating: "m", count: 300).utf8) + [0x0A] + Array("x\n".utf8)
        try expectPickle(.pickleMalformed, longLine.bytes, "a GLOBAL line of 300 bytes")
    }

    func testMalformedMachinesAreRefused() throws {
        var get = HostilePickle()
        get.bytes += [0x68, 7]; get.stop()
        try expectPickle(.pickleMalformed, get.bytes, "BINGET of a memo slot never set")

        try expectPickle(.pickleMalformed, [0x80, 2, 0x2E], "STOP on an empty stack")
        try expectPickle(.truncated, [0x80, 2, 0x7D], "no STOP")
        try expectPickle(.truncated, [0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F], "BINUNICODE of 2 GiB in 7 bytes")
        try expectPickle(.pickleMalformed, [0x80, 2, 0x8A, 9] + [UInt8](repeating: 1, count: 9) + [0x2E],
                         "LONG1 of 9 bytes")

        var list = HostilePickle()
        list.op(0x5D); list.op(0x71); list.op(0); list.op(0x68); list.op(0); list.op(0x61); list.stop()
        try expectPickle(.pickleMalformed, list.bytes, "a list appended to itself")

        var dict = HostilePickle()
        dict.emptyDict(); dict.op(0x71); dict.op(0); dict.string("self"); dict.op(0x68); dict.op(0); dict.setItem();
        dict.stop()
        try expectPickle(.pickleMalformed, dict.bytes, "a dict inserted into itself")

        var notDict = HostilePickle()
        notDict.op(0x5D); notDict.stop()
        try expectPickle(.pickleMalformed, notDict.bytes, "a list, not a state dict")

        var intKey = HostilePickle()
        intKey.emptyDict(); intKey.int(1); intKey.tensor(HostileTensor()); intKey.setItem(); intKey.stop()
        try expectPickle(.pickleMalformed, intKey.bytes, "an int key")

        var notTensor = HostilePickle()
        notTensor.emptyDict(); notTensor.string("w"); notTensor.int(3); notTensor.setItem(); notTensor.stop()
        try expectPickle(.pickleMalformed, notTensor.bytes, "a value that is not a tensor")
    }

    func testTensorRecordsThatLieAreRefused() throws {
        try expectPickle(.torchTensor, HostilePickle.stateDict([HostileTensor(shape: [4, 4], stride: [4, 1])]),
                         "shape past the storage")
        try expectPickle(.torchTensor, HostilePickle.stateDict([HostileTensor(offset: 3, shape: [2], stride: [1])]),
                         "offset + shape past the storage")
        try expectPickle(.torchTensor, HostilePickle.stateDict([HostileTensor(shape: [2, 2], stride: [1, 1 << 40])]),
                         "a stride far past the storage")
        try expectPickle(.overflow, HostilePickle.stateDict([HostileTensor(shape: [1 << 31, 1 << 31, 1 << 31],
                                                                           stride: [1, 1, 1])]),
                         located: false, "an element count that overflows")
        try expectPickle(.torchTensor, HostilePickle.stateDict([HostileTensor(numel: 5)]),
                         "numel disagreeing with data/0")
        try expectPickle(.overflow, HostilePickle.stateDict([HostileTensor(numel: 1 << 62)]), located: false,
                         "2^62 elements claimed, 16 bytes stored (never allocated)")
        try expectPickle(.torchTensor, HostilePickle.stateDict([
            HostileTensor(name: "a"), HostileTensor(name: "b", storageClass: "HalfStorage", numel: 8),
        ]), "one storage read as two dtypes")
        try expectPickle(.torchMissingRecord, HostilePickle.stateDict([HostileTensor(key: "9")]), located: false,
                         "a storage with no record")
        try expectPickle(.pickleMalformed, HostilePickle.stateDict([HostileTensor(key: "../0")]),
                         "a storage key leaving data/")
        try expectPickle(.pickleMalformed, HostilePickle.stateDict([HostileTensor(shape: [2, 2], stride: [2])]),
                         "sizes and strides of different ranks")
        try expectPickle(.pickleMalformed, HostilePickle.stateDict([HostileTensor(hooks: true)]), "backward hooks")
        try expectPickle(.torchTensor, HostilePickle.stateDict([HostileTensor(metadata: "conj")]), "conj/neg metadata")
    }

    func testDeepPicklesMadeHereStopAtTheLimitWithoutRecursing() throws {
        var tuples = HostilePickle()
        for _ in 0..<200_000 { tuples.mark() }
        tuples.emptyTuple()
        for _ in 0..<200_000 { tuples.tuple() }
        tuples.stop()
        try expectPickle(.limitExceeded, tuples.bytes, "200000 nested tuples")

        var one = HostilePickle()
        one.emptyTuple()
        for _ in 0..<100_000 { one.op(0x85) }  // TUPLE1
        one.stop()
        try expectPickle(.limitExceeded, one.bytes, "100000 nested TUPLE1")

        var marks = HostilePickle()
        for _ in 0..<(1 << 20) + 1 { marks.mark() }
        try expectPickle(.limitExceeded, marks.bytes, "more open MARKs than the limit")
    }
}
