import ArgumentParser
import BloomCore
import BloomGGUF
import BloomTokenizer
import Foundation

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show the tokens of a text, as Hugging Face tokenizers gives them for the model's tokenizer.",
        usage: "bloomkit tokenize <model> (<text> | --file <file> | --stdin) [<options>]",
        discussion: """
        MODEL is a GGUF file (its tokenizer.ggml.* metadata), a model folder (its tokenizer.json and special tokens \
        map) or a tokenizer.json file. \
        The human output lists each id, its vocabulary spelling ('Ġ' is a space) and the text it stands for; \
        --ids prints only the ids, as llama-tokenize --ids does: [1, 2, 3]; --json prints \
        {"ids": [...], "pieces": [...]} with the vocabulary spellings as pieces.
        """)

    @OptionGroup var common: CommonOptions
    @Argument(help: "GGUF file, model folder or tokenizer.json.") var model: String
    @Argument(help: "Text to tokenize.") var text: String?
    @Option(name: .long, help: "Read the text from this file (UTF-8) instead.") var file: String?
    @Flag(name: .long, help: "Read the text from standard input instead (as llama-tokenize --stdin).") var stdin = false
    @Flag(name: .long, help: "Print only the ids, as [1, 2, 3] (llama-tokenize --ids).") var ids = false
    @Flag(name: .long, help: "Print {\"ids\": [...], \"pieces\": [...]} on stdout.") var json = false

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard [text != nil, file != nil, stdin].filter({ $0 }).count == 1 else {
            throw ValidationError("give the text once: TEXT, --file FILE or --stdin")
        }
        guard !(ids && json) else { throw ValidationError("--ids and --json are two outputs: give one") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let tokenizer = try Self.loadTokenizer(model)
            let input = try stdin ? Self.readStandardInput() : file.map(TextFile.read) ?? text ?? ""
            let start = ProgressReporter.now()
            let ids = tokenizer.encode(input)
            let seconds = ProgressReporter.now() - start
            if self.ids {
                print("[" + ids.map(String.init).joined(separator: ", ") + "]")
            } else if json {
                Self.printJSON(ids: ids, tokenizer: tokenizer)
            } else {
                let pieces = ids.map { tokenizer.token(for: $0) ?? "" }
                let idWidth = max(2, ids.map { String($0).count }.max() ?? 0)
                let pieceWidth = min(max(5, pieces.map(\.count).max() ?? 0), 32)
                print(pad("id", idWidth, left: true) + "  " + pad("token", pieceWidth, left: false) + "  text")
                for (id, piece) in zip(ids, pieces) {
                    let bytes = tokenizer.bytes(of: id) ?? []
                    print(pad(String(id), idWidth, left: true) + "  " + pad(piece, pieceWidth, left: false) + "  "
                          + Self.quoted(bytes))
                }
            }
            let utf8 = input.utf8.count
            let rate = seconds > 0 ? String(format: ", %.1f MB/s", Double(utf8) / seconds / 1e6) : ""
            FileHandle.standardError.write(Data(("\(ids.count) tokens from \(utf8) bytes in "
                                                 + "\(String(format: "%.1f", seconds * 1000)) ms\(rate)\n").utf8))
        }
    }

    /// `{"ids":[...],"pieces":[...]}` (JSONWriter's compact form), written in pieces of about 64 KB: the output
    /// is a few times the text, never held whole.
    static func printJSON(ids: [TokenID], tokenizer: BloomTokenizer) {
        var out = ""
        func emit(_ s: String) {
            out += s
            if out.utf8.count >= 1 << 16 {
                print(out, terminator: "")
                out = ""
            }
        }
        emit("{\"ids\":[")
        for (k, id) in ids.enumerated() { emit((k > 0 ? "," : "") + String(id)) }
        emit("],\"pieces\":[")
        for (k, id) in ids.enumerated() { emit((k > 0 ? "," : "") + JSONWriter.quote(tokenizer.token(for: id) ?? "")) }
        emit("]}")
        print(out)
    }

    private func pad(_ s: String, _ width: Int, left: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return left ? fill + s : s + fill
    }

    /// Standard input to its end, as UTF-8 text.
    static func readStandardInput() throws -> String {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else {
            throw BloomError(.invalidArgument, "standard input (\(data.count) bytes) is not UTF-8 text")
        }
        return text
    }

    /// A model folder, a tokenizer.json file, or a GGUF file.
    static func loadTokenizer(_ path: String) throws -> BloomTokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw BloomError(.io, "no such file or folder", path: path)
        }
        if isDirectory.boolValue { return try BloomTokenizer(modelFolder: path) }
        if path.hasSuffix(".json") { return try BloomTokenizer(tokenizerJSONPath: path) }
        return try BloomTokenizer(gguf: GGUFFile(path: path))
    }

    /// The bytes of one token as a quoted string: characters escaped like Swift literals, bytes that are not a
    /// whole UTF-8 character as \xHH.
    static func quoted(_ bytes: ArraySlice<UInt8>) -> String {
        var out = "\""
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var position = bytes.startIndex
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                out += scalar.escaped(asASCII: false)
                position += encoded.count
            case .error(let length):
                for b in bytes[position..<position + length] { out += String(format: "\\x%02X", b) }
                position += length
            case .emptyInput:
                break loop
            }
        }
        return out + "\""
    }
}
