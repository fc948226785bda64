import BloomArch
import BloomCore
@testable import BloomConvert
import Foundation
import TestSupport
import XCTest

/// Which template a file carries: an explicit style or file first, then the source folder's own (chat_template.jinja,
/// then tokenizer_config.json's string or "default" named template), then bloomkit's default style.
final class TemplateChoiceTests: XCTestCase {
    var dir: TempDir!
    var folder: String { dir.path }

    override func setUpWithError() throws { dir = try TempDir("template") }
    override func tearDown() { dir = nil }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
    }

    func tokenizerConfig(chatTemplate: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: ["eos_token": "</s>", "chat_template": chatTemplate])
        try write("tokenizer_config.json", String(decoding: data, as: UTF8.self))
    }

    func testNoSourceTemplateGivesTheDefaultStyle() throws {
        let resolved = try TemplateChoice().resolve(folder: folder)
        XCTAssertEqual(resolved, TemplateChoice.Resolved(style: .card))
        XCTAssertEqual(try TemplateChoice(style: .stanford).resolve(folder: nil).chatTemplate,
                       AlpacaTemplate.Style.stanford.chatTemplate)
    }

    func testSourceTemplateOfAKnownStyleKeepsThatStyle() throws {
        try tokenizerConfig(chatTemplate: AlpacaTemplate.Style.stanford.chatTemplate)
        XCTAssertEqual(try TemplateChoice().resolve(folder: folder), TemplateChoice.Resolved(style: .stanford))
        // An explicit style wins over the source's.
        XCTAssertEqual(try TemplateChoice(style: .card).resolve(folder: folder), TemplateChoice.Resolved(style: .card))
    }

    func testNamedTemplateListAndJinjaFile() throws {
        try tokenizerConfig(chatTemplate: [["name": "tool_use", "template": "x"],
                                           ["name": "default", "template": AlpacaTemplate.Style.stanford.chatTemplate]])
        XCTAssertEqual(try TemplateChoice().resolve(folder: folder).style, .stanford)
        try write("chat_template.jinja", "{{ messages[0]['content'] }}")
        let resolved = try TemplateChoice().resolve(folder: folder)
        XCTAssertEqual(resolved.chatTemplate, "{{ messages[0]['content'] }}")
        XCTAssertEqual(resolved.style, .card)
        XCTAssertEqual(resolved.warning?.contains("from chat_template.jinja is not one of bloomkit's Alpaca forms"),
                       true)
    }

    func testMalformedSourceTemplateIsRefusedNamingTheFile() throws {
        try tokenizerConfig(chatTemplate: 3)
        XCTAssertThrowsError(try TemplateChoice().resolve(folder: folder)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .invalidJSON)
            XCTAssertEqual((error as? BloomError)?.path, folder + "/tokenizer_config.json")
        }
        try tokenizerConfig(chatTemplate: [["name": "tool_use", "template": "x"]])
        XCTAssertThrowsError(try TemplateChoice().resolve(folder: folder)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .unsupported)
        }
    }

    func testMergedConfigNamesTheArchitecture() throws {
        let bare = try MergeWriter.config(.object([("model_type", .string("bloom"))]), dtype: nil,
                                          untiedEmbeddings: false)
        XCTAssertEqual(bare["architectures"], .array([.string("BloomForCausalLM")]))
        let named = JSONValue.object([("architectures", .array([.string("BloomModel")]))])
        XCTAssertEqual(try MergeWriter.config(named, dtype: nil, untiedEmbeddings: false)["architectures"],
                       .array([.string("BloomModel")]))
    }
}
