import BloomCheckpoint
import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomConvert

final class InspectTests: XCTestCase {
    /// Every key of `expected` is in `actual` with an equal value (objects recursively, arrays element by element).
    private func assertSubset(_ expected: JSONValue, _ actual: JSONValue?, _ where_: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        switch expected {
        case .object(let pairs):
            guard let actual, actual.object != nil else { return XCTFail("\(where_): missing object", file: file,
                                                                         line: line) }
            for (key, value) in pairs { assertSubset(value, actual[key], where_ + "." + key, file: file, line: line) }
        case .array(let items):
            guard let other = actual?.array, other.count == items.count else {
                return XCTFail("\(where_): \(actual?.array?.count ?? -1) items, expected \(items.count)", file: file,
                               line: line)
            }
            for (k, (a, b)) in zip(items, other).enumerated() { assertSubset(a, b, where_ + "[\(k)]", file: file,
                                                                             line: line) }
        default:
            XCTAssertEqual(actual, expected, where_, file: file, line: line)
        }
    }

    /// `inspect --json` agrees with what safetensors/torch/PEFT reported for every fixture (expected/inspect/*.json).
    func testJSONMatchesTheReferenceForEveryFixture() throws {
        let folder = Fixtures.root + "/expected/inspect"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder), "expected/inspect fixtures are not present")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 8)
        for name in names {
            let expected = try JSONParser().parse(try String(contentsOfFile: folder + "/" + name, encoding: .utf8))
            let relative = try XCTUnwrap(expected["path"]?.string, name)
            let report = try InspectReport.open(Fixtures.root + "/" + relative)
            let actual = report.json()
            // Through the writer and back, as the command prints it.
            let printed = try JSONParser().parse(JSONWriter.string(actual, pretty: true))
            XCTAssertEqual(printed, actual, name)
            for (key, value) in try XCTUnwrap(expected.object) where key != "path" {
                assertSubset(value, actual[key], name + ":" + key)
            }
            XCTAssertNotNil(actual["format"], name)
            XCTAssertNotNil(actual["metadata"], name)
            let tensors = try XCTUnwrap(actual["tensors"]?.array)
            XCTAssertGreaterThan(tensors.count, 0, name)
            XCTAssertEqual(actual["parameters"]?.int, report.parameterCount, name)
        }
    }

    /// Tied heads stored twice count once in parameters and bytes; the table lists every stored name.
    func testHumanReportListsEveryTensorAndTheArchitecture() throws {
        let path = Fixtures.root + "/models/tiny-b/bin-f32-lmhead"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "fixture not present")
        let report = try InspectReport.open(path)
        let text = report.text()
        let embeddings = try XCTUnwrap(report.checkpoint.tensor(named: "transformer.word_embeddings.weight"))
        XCTAssertEqual(report.sharedTensorCount, 1)
        XCTAssertEqual(report.parameterCount,
                       report.checkpoint.tensors.reduce(0) { $0 + $1.elementCount } - embeddings.elementCount)
        let config = try XCTUnwrap(report.bloomConfig)
        XCTAssertTrue(text.contains("BLOOM, \(config.layerCount) layers, hidden \(config.hiddenSize), " +
                                    "\(config.headCount) heads"), text)
        XCTAssertTrue(text.contains("stored lm_head"))
        let rows = text.split(separator: "\n").drop { !$0.hasPrefix("NAME") }.dropFirst()
        XCTAssertEqual(rows.count, report.checkpoint.tensors.count)
        for (row, tensor) in zip(rows, report.checkpoint.tensors) {
            let cells = row.split(separator: " ", omittingEmptySubsequences: true)
            XCTAssertEqual(String(cells[0]), tensor.name)
            XCTAssertEqual(String(cells[1]), tensor.dtype.rawValue)
            XCTAssertTrue(row.contains("[" + tensor.shape.map(String.init).joined(separator: ", ") + "]"))
        }
    }

    func testAdapterReportAndRefusals() throws {
        let path = Fixtures.root + "/adapters/lora-2023-a"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "fixture not present")
        let text = try InspectReport.open(path).text()
        XCTAssertTrue(text.contains("LoRA r 16, alpha 32"), text)
        XCTAssertTrue(text.contains("2023-merged-linear (enable_lora [true, false, true])"), text)

        let gguf = Fixtures.root + "/expected/gguf/sample.gguf"
        if FileManager.default.fileExists(atPath: gguf) {
            XCTAssertThrowsError(try InspectReport.open(gguf)) { XCTAssertEqual(($0 as? BloomError)?.code,
                                                                                .inspectUnsupported) }
        }
        let empty = try TempDir("inspect")
        XCTAssertThrowsError(try InspectReport.open(empty.path)) {
            XCTAssertEqual(($0 as? BloomError)?.code, .missingFile)
        }
    }
}
