import Foundation
import TestSupport
import XCTest

/// The Alpaca chat template, end to end: `merge --template STYLE` writes it into tokenizer_config.json, `convert` of
/// the merged folder carries it into the GGUF, and `generate --instruction` builds, for every fixture instruction,
/// exactly the prompt text and token ids that transformers' apply_chat_template (and jinja2) give on the merged folder
/// (Tests/Fixtures/chat-template, made by scripts/make-chat-template-fixtures.sh).
final class ChatTemplateCLITests: XCTestCase {
    struct Expected: Decodable {
        struct Case: Decodable {
            var style: String
            var instruction: String
            var input: String?
            var text: String
            var ids: [Int]
        }
        var templates: [String: String]
        var cases: [Case]
    }

    struct Generated: Decodable {
        var prompt: String
        var prompt_tokens: [Int]
    }

    func testMergeConvertGenerateMatchTransformersChatTemplate() throws {
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("chat-template/expected.json"))))
        let base = try Fixtures.path("models/tiny-b/st-f16")
        let adapter = try Fixtures.path("adapters/alpaca-b")
        let scratch = try TempDir("cli")
        XCTAssertEqual(Set(expected.templates.keys), ["card", "stanford"])
        for (style, template) in expected.templates {
            let merged = scratch.path + "/merged-" + style
            let model = scratch.path + "/\(style).gguf"
            var r = try CLI.run(["merge", base, adapter, "-o", merged, "--template", style, "--quiet"],
                                in: scratch.path)
            XCTAssertEqual(r.status, 0, r.stderr)
            let tokenizerConfig = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: merged + "/tokenizer_config.json"))) as? [String: Any]
            XCTAssertEqual(tokenizerConfig?["chat_template"] as? String, template, style)
            XCTAssertEqual(tokenizerConfig?["eos_token"] as? String, "</s>", "the base's keys are kept")
            r = try CLI.run(["convert", merged, "-o", model, "--type", "f32"], in: scratch.path)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
            XCTAssertNotNil(bytes.range(of: Data(template.utf8)), "\(style): tokenizer.chat_template")
            for c in expected.cases where c.style == style {
                var arguments = ["generate", model, "--instruction", c.instruction, "--max-tokens", "1", "--json"]
                if let input = c.input { arguments += ["--input", input] }
                r = try CLI.run(arguments, in: scratch.path)
                XCTAssertEqual(r.status, 0, r.stderr)
                let generated = try JSONDecoder().decode(Generated.self, from: Data(r.stdout.utf8))
                XCTAssertEqual(generated.prompt, c.text, "\(style): \(c.instruction)")
                XCTAssertEqual(generated.prompt_tokens, c.ids, "\(style): \(c.instruction)")
            }
        }
    }

    /// `convert --template` on a folder without a chat template, and `--chat-template FILE` (stored as it is, with a
    /// warning that generate keeps the Alpaca form).
    func testConvertTemplateOptions() throws {
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("chat-template/expected.json"))))
        let base = try Fixtures.path("models/tiny-b/st-f16")
        let scratch = try TempDir("cli")
        var r = try CLI.run(["convert", base, "-o", scratch.path + "/s.gguf", "--template", "stanford"],
                            in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/s.gguf"))
        XCTAssertNotNil(bytes.range(of: Data(try XCTUnwrap(expected.templates["stanford"]).utf8)))
        XCTAssertNil(bytes.range(of: Data(try XCTUnwrap(expected.templates["card"]).utf8)))

        let custom = "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}<|bot|>"
        try Data(custom.utf8).write(to: URL(fileURLWithPath: scratch.path + "/t.jinja"))
        r = try CLI.run(["convert", base, "-o", scratch.path + "/c.gguf", "--chat-template", scratch.path + "/t.jinja"],
                        in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: the chat template from --chat-template t.jinja"), r.stderr)
        bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/c.gguf"))
        XCTAssertNotNil(bytes.range(of: Data(custom.utf8)))

        r = try CLI.run(["convert", base, "-o", scratch.path + "/x.gguf", "--template", "vicuna"], in: scratch.path)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--template 'vicuna' is not one of card, stanford"), r.stderr)
    }
}
