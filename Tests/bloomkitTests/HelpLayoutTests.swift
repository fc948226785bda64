import Foundation
import TestSupport
import XCTest

/// Every verb's --help read on an 80-column terminal (COLUMNS=80, which ArgumentParser honours): no line past 80
/// columns, and no ragged wrap — a paragraph line is never followed by a line whose first word would have fitted on
/// it (the sign of help text wrapped by hand and wrapped again by the parser).
final class HelpLayoutTests: XCTestCase {
    static let verbs = ["inspect", "merge", "convert", "quantize", "verify", "generate", "tokenize", "perplexity",
                        "bench", "demo", "pack", "unpack"]

    func testEveryHelpFitsEightyColumnsWithoutRaggedLines() throws {
        let scratch = try TempDir("cli")
        for verb in [nil] + Self.verbs.map(Optional.some) {
            let result = try CLI.run((verb.map { [$0] } ?? []) + ["--help"], environment: ["COLUMNS": "80"],
                                     in: scratch.path)
            XCTAssertEqual(result.status, 0, "\(verb ?? "bloomkit"): \(result.stderr)")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            XCTAssertGreaterThan(lines.count, 3, verb ?? "bloomkit")
            for (i, line) in lines.enumerated() {
                XCTAssertLessThanOrEqual(line.count, 80, "\(verb ?? "bloomkit") help line \(i + 1): \(line)")
                guard i + 1 < lines.count else { continue }
                let next = lines[i + 1]
                let indent = line.prefix { $0 == " " }.count, nextIndent = next.prefix { $0 == " " }.count
                let word = next.dropFirst(nextIndent).prefix { $0 != " " }
                // Same paragraph: same indentation, both text, no list item, example or heading in between.
                guard !line.trimmingCharacters(in: .whitespaces).isEmpty, !word.isEmpty, indent == nextIndent,
                      !line.hasSuffix(":"), !["-", "<", "bloomkit", "#"].contains(where: { word.hasPrefix($0) }),
                      !line.dropFirst(indent).hasPrefix("-") else { continue }
                XCTAssertGreaterThan(line.count + 1 + word.count, 79,  // ArgumentParser wraps before column 80
                                     "\(verb ?? "bloomkit") help line \(i + 1) is wrapped short of '\(word)': \(line)")
            }
        }
    }
}
