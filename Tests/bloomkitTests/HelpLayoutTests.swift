import Foundation
import TestSupport
import XCTest

/// Every verb's --help read on an 80-column terminal (COLUMNS=80, which ArgumentParser honours): no line past 80
/// columns, and no ragged wrap — a paragraph line is never followed by a line whose first word would have fitted on
/// it (the sign of help text wrapped by hand and wrapped again by the parser); tables (columns two spaces apart) and
/// examples are laid out by hand.
final class HelpLayoutTests: XCTestCase {
    static let verbs = ["inspect", "merge", "convert", "quantize", "verify", "generate", "tokenize", "perplexity",
                        "bench", "demo", "pack", "unpack", "chat"]

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
                      !line.dropFirst(indent).hasPrefix("-"),
                      !line.dropFirst(indent).contains("  ") else { continue }  // table rows are laid out by hand
                XCTAssertGreaterThan(line.count + 1 + word.count, 79,  // ArgumentParser wraps before column 80
                                     "\(verb ?? "bloomkit") help line \(i + 1) is wrapped short of '\(word)': \(line)")
            }
        }
    }
}

/// The bash completion script ArgumentParser generates offers the type names after --type and GGUF files (and
/// folders) for model arguments, run in bash as the shell runs it.
final class CompletionTests: XCTestCase {
    func testBashCompletionOffersTypesAndGGUFFiles() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/bash") else { throw XCTSkip("no bash") }
        let scratch = try TempDir("cli")
        let script = scratch.path + "/bloomkit.bash"
        let generated = try CLI.run(["--generate-completion-script", "bash"], in: scratch.path)
        XCTAssertEqual(generated.status, 0, generated.stderr)
        try Data(generated.stdout.utf8).write(to: URL(fileURLWithPath: script))
        for name in ["model.gguf", "notes.txt"] {
            _ = FileManager.default.createFile(atPath: scratch.path + "/" + name, contents: Data())
        }
        // COMP_WORDS and the function's arguments as bash sets them for `bloomkit quantize model.gguf --type q4<TAB>`.
        func complete(_ words: [String], previous: String) throws -> [String] {
            let program = """
            source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); \
            COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); \
            _bloomkit bloomkit "${COMP_WORDS[COMP_CWORD]}" "\(previous)"; printf '%s\\n' "${COMPREPLY[@]}"
            """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", program, "bash", script] + words
            process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = (CLI.binary as NSString).deletingLastPathComponent + ":" + (environment["PATH"] ?? "")
            process.environment = environment
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        // The names come from quantize --help's type list, in llama-quantize's spelling and in lowercase.
        let help = try CLI.run(["quantize", "--help"], environment: ["COLUMNS": "200"], in: scratch.path).stdout
        let listed = help.split(separator: "\n").compactMap { line -> String? in
            let word = line.trimmingCharacters(in: .whitespaces).prefix { $0 != " " }
            return word.hasPrefix("Q4") ? String(word) : nil
        }
        XCTAssertTrue(listed.contains("Q4_0") && listed.contains("Q4_K_M"), help)
        XCTAssertEqual(try complete(["bloomkit", "quantize", "model.gguf", "--type", "Q4"],
                                    previous: "--type").sorted(),
                       listed.sorted())
        XCTAssertEqual(try complete(["bloomkit", "convert", "src", "--type", "q4"], previous: "--type").sorted(),
                       listed.map { $0.lowercased() }.sorted())
        XCTAssertEqual(try complete(["bloomkit", "generate", ""], previous: "generate"), ["model.gguf"])
    }
}
