@testable import BloomArch
import XCTest

/// The Alpaca styles and their Jinja form (the rendered text is checked against transformers and jinja2 in
/// bloomkitTests/ChatTemplateCLITests; here, the parts that need no oracle).
final class AlpacaTemplateTests: XCTestCase {
    func testStylesDifferOnlyInBlankLines() {
        let card = AlpacaTemplate.Style.card
        let stanford = AlpacaTemplate.Style.stanford
        XCTAssertEqual(stanford.noInput, AlpacaTemplate.noInput)
        XCTAssertEqual(card.noInput, stanford.noInput.replacingOccurrences(of: "\n\n", with: "\n"))
        XCTAssertEqual(card.withInput, stanford.withInput.replacingOccurrences(of: "\n\n", with: "\n"))
        XCTAssertEqual(AlpacaTemplate.defaultStyle, .card)
    }

    func testChatTemplateIdentifiesItsStyle() {
        for style in AlpacaTemplate.Style.allCases {
            XCTAssertEqual(AlpacaTemplate.Style(chatTemplate: style.chatTemplate), style)
        }
        XCTAssertNil(AlpacaTemplate.Style(chatTemplate: AlpacaTemplate.Style.card.chatTemplate + " "))
    }

    func testJinjaStringLiteralsEscapeQuotesBackslashesAndNewlines() {
        XCTAssertEqual(AlpacaTemplate.jinjaOutput("a'b\\c\n{instruction}!"),
                       "{{ 'a\\'b\\\\c\\n' }}{{ message['content'] }}{{ '!' }}")
        XCTAssertEqual(AlpacaTemplate.jinjaOutput("{instruction}{input}"),
                       "{{ message['content'] }}{{ message['input'] }}")
    }
}
