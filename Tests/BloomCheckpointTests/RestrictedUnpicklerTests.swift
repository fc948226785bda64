import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomCheckpoint

final class RestrictedUnpicklerTests: XCTestCase {
    private func unpickle(_ bytes: [UInt8]) throws -> [(name: String, tensor: TorchTensorRecord)] {
        try bytes.withUnsafeBytes { try RestrictedUnpickler.stateDict(from: $0) }
    }

    /// What `pickle.dumps(Evil(), protocol=2)` writes for `__reduce__ = (os.system, ("touch CANARY",))` on Linux.
    private func systemCall(_ command: String, module: String = "posix", name: String = "system") -> [UInt8] {
        var w = PickleWriter()
        w.global(module, name)
        w.bytes += [0x71, 0]
        w.string(command)
        w.bytes += [0x71, 1, 0x85, 0x71, 2, 0x52, 0x71, 3, 0x2E]
        return w.bytes
    }

    func testOsSystemPickleIsRefusedWithoutRunningIt() throws {
        let dir = try TempDir()
        let canary = dir.path + "/CANARY"
        for (module, name) in [("posix", "system"), ("os", "system"), ("builtins", "eval"), ("__builtin__", "exec"),
                               ("subprocess", "check_call"), ("torch", "load"), ("collections", "Counter")] {
            let pickle = systemCall("touch " + canary, module: module, name: name)
            let error = assertBloomError(.pickleForbiddenGlobal, "\(module).\(name)") { try unpickle(pickle) }
            XCTAssertTrue(error?.message.contains("'\(module).\(name)'") ?? false, error?.message ?? "")
            // The same pickle inside a torch archive, through the public entry point.
            let archive = try dir.write("evil.bin", torchArchive(pickle: pickle, storages: []))
            let outer = assertBloomError(.pickleForbiddenGlobal) { try Checkpoint.open(archive) }
            XCTAssertEqual(outer?.path, archive)
            XCTAssertTrue(outer?.location?.contains("data.pkl") ?? false)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: canary), "the payload ran")
    }

    /// Every file of the fixture generator's hostile/ folder is refused with its specific code, and no payload ran.
    func testFixtureHostileFilesAreRefused() throws {
        let folder = try Fixtures.path("hostile")
        let manifest = try JSONParser().parse(try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8))
        let expected: [String: BloomError.Code] = [
            "os_system.bin": .pickleForbiddenGlobal, "builtins_eval.bin": .pickleForbiddenGlobal,
            "subprocess_popen.bin": .pickleForbiddenGlobal, "global_not_allowed.bin": .pickleForbiddenGlobal,
            "newobj.bin": .pickleForbiddenGlobal, "obj.bin": .pickleForbiddenGlobal, "inst.bin": .pickleForbiddenOpcode,
            "storage_2p60.bin": .torchTensor, "deep_nesting.bin": .limitExceeded,
            "legacy.bin": .torchLegacyFormat,
            "truncated.safetensors": .safetensorsIncompleteBuffer, "overlap.safetensors": .safetensorsOffsets,
            "gap.safetensors": .safetensorsOffsets, "header_too_large.safetensors": .safetensorsHeaderTooLarge,
            "header_past_eof.safetensors": .safetensorsHeaderLength, "bad_json.safetensors": .safetensorsHeader,
            "bad_dtype.safetensors": .safetensorsHeader, "shape_mismatch.safetensors": .safetensorsTensorSize,
            "offset_overflow.safetensors": .safetensorsHeader, "duplicate_key.safetensors": .safetensorsHeader,
            "metadata_not_string.safetensors": .safetensorsHeader,
        ]
        let names = try XCTUnwrap(manifest["files"]?.object).map(\.0)
        XCTAssertGreaterThan(names.count, 10)
        for name in names {
            let path = folder + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let code = try XCTUnwrap(expected[name], "no expected code for hostile/\(name)")
            let error = assertBloomError(code, name) { try Checkpoint.open(path) }
            XCTAssertEqual(error?.path, path, name)
            let stem = (name as NSString).deletingPathExtension
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/bloomkit-canary-" + stem),
                           "the payload of \(name) ran")
        }
    }

    func testForbiddenOpcodesAndProtocols() throws {
        let cases: [(String, [UInt8])] = [
            ("INST", [0x80, 2] + Array("ios\nsystem\n".utf8) + [0x2E]),
            ("OBJ", [0x80, 2, 0x28, 0x6F, 0x2E]),
            ("NEWOBJ", [0x80, 2, 0x29, 0x29, 0x81, 0x2E]),
            ("STACK_GLOBAL", [0x80, 2, 0x93, 0x2E]),
            ("FRAME", [0x80, 2, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, 0x2E]),
            ("REDUCE on an ordinary string (via STRING)", [0x80, 2, 0x53] + Array("'x'\n".utf8) + [0x2E]),
            ("EXT1", [0x80, 2, 0x82, 1, 0x2E]),
            ("protocol 4", [0x80, 4, 0x7D, 0x2E]),
        ]
        for (what, bytes) in cases {
            assertBloomError(.pickleForbiddenOpcode, what) { try unpickle(bytes) }
        }
    }

    func testMalformedAndBoundlessPicklesAreRefused() throws {
        var deep: [UInt8] = [0x80, 2, 0x4E]
        deep += [UInt8](repeating: 0x85, count: 100)  // ((((None,),),)…) 100 levels
        deep += [0x2E]
        var selfNested: [UInt8] = [0x80, 2, 0x7D, 0x71, 0]  // d = {}; d['a'] = d
        selfNested += [0x58, 1, 0, 0, 0, 0x61, 0x68, 0, 0x73, 0x2E]
        var mutatedAfterNesting: [UInt8] = [0x80, 2, 0x7D, 0x71, 0, 0x85]  // t = ({},)  then d['a'] = 1 via BINGET
        mutatedAfterNesting += [0x68, 0, 0x58, 1, 0, 0, 0, 0x61, 0x4B, 1, 0x73, 0x2E]
        let cases: [(String, [UInt8], BloomError.Code)] = [
            ("nesting past the bound", deep, .limitExceeded),
            ("a dict inside itself", selfNested, .pickleMalformed),
            ("a dict changed after it was nested", mutatedAfterNesting, .pickleMalformed),
            ("stack underflow", [0x80, 2, 0x52, 0x2E], .pickleMalformed),
            ("BINGET of an unset slot", [0x80, 2, 0x68, 9, 0x2E], .pickleMalformed),
            ("no STOP", [0x80, 2, 0x7D], .truncated),
            ("string past the end", [0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x61], .truncated),
            ("LONG1 over 64 bits", [0x80, 2, 0x8A, 9] + [UInt8](repeating: 1, count: 9) + [0x2E], .pickleMalformed),
            ("SETITEMS without MARK", [0x80, 2, 0x7D, 0x75, 0x2E], .pickleMalformed),
            ("values left on the stack", [0x80, 2, 0x7D, 0x7D, 0x2E], .pickleMalformed),
            ("a list, not a state dict", [0x80, 2, 0x5D, 0x2E], .pickleMalformed),
            ("a non-tensor value", [0x80, 2, 0x7D, 0x58, 1, 0, 0, 0, 0x61, 0x4B, 1, 0x73, 0x2E], .pickleMalformed),
            ("GLOBAL with a newline-less name", [0x80, 2, 0x63] + Array("collections".utf8), .truncated),
            ("REDUCE of a storage class", [0x80, 2, 0x63] + Array("torch\nFloatStorage\n".utf8) + [0x29, 0x52, 0x2E],
             .pickleMalformed),
            ("persistent id that is not a storage", [0x80, 2, 0x58, 1, 0, 0, 0, 0x61, 0x51, 0x2E], .pickleMalformed),
        ]
        for (what, bytes, code) in cases {
            assertBloomError(code, what) { try unpickle(bytes) }
        }
    }

    func testStateDictShapesOffsetsAndParameters() throws {
        var w = PickleWriter()
        w.op(0x7D)  // a plain dict, as PEFT's adapter_model.bin has
        w.string("w")
        w.global("torch._utils", "_rebuild_parameter")
        w.global("torch._utils", "_rebuild_tensor_v2")
        w.mark(); w.mark(); w.string("storage"); w.global("torch", "BFloat16Storage"); w.string("3"); w.string("cuda:0")
        w.bytes += [0x8A, 5, 0, 0, 0, 0, 1]  // LONG1 2^32 elements: past 32 bits
        w.op(0x74); w.op(0x51)
        w.int(70000); w.tuple([2, 3]); w.tuple([3, 1]); w.op(0x88); w.emptyOrderedDict(); w.op(0x74); w.op(0x52)
        w.op(0x88); w.emptyOrderedDict(); w.op(0x87); w.op(0x52)  // _rebuild_parameter(tensor, True, OrderedDict())
        w.op(0x73); w.op(0x2E)
        let result = try unpickle(w.bytes)
        XCTAssertEqual(result.map(\.name), ["w"])
        let t = try XCTUnwrap(result.first?.tensor)
        XCTAssertEqual(t.dtype, .BF16)
        XCTAssertEqual(t.storageKey, "3")
        XCTAssertEqual(t.storageElements, 1 << 32)
        XCTAssertEqual(t.storageOffset, 70000)
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.strides, [3, 1])
    }
}
