import ArgumentParser
import BloomConvert
import BloomCore
import BloomGGUF
import Foundation

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Re-encode the weights of an F32/F16/BF16 GGUF file (like llama-quantize).",
        usage: "bloomkit quantize <input> <output> <type> [<options>]\n"
            + "bloomkit quantize <input> -o <output> --type <type> [<options>]",
        discussion: """
        Usage as llama-quantize's (bloomkit quantize in.gguf out.gguf q4_0) or with options (bloomkit quantize \
        in.gguf -o out.gguf --type q4_0). Quantizable tensors are 2-D weights; norms and biases are copied. Each \
        gets the type llama-quantize gives it for the file type (its mixes: attn_qkv, ffn_down, the head). A \
        quantized source is refused unless --allow-requantize (its error adds to the new one).

        \(TypeOptions.typeHelp)
        """)

    @OptionGroup var common: CommonOptions

    @Argument(help: "The GGUF file to read.", completion: .file(extensions: ["gguf"]))
    var input: String

    @Argument(help: ArgumentHelp("OUTPUT TYPE, llama-quantize's order (instead of -o and --type).",
                                 valueName: "output-and-type"))
    var positional: [String] = []

    @Option(name: [.customShort("o"), .customLong("output")], help: "The GGUF file to write.")
    var outputOption: String?

    @Option(name: .customLong("type"), help: "Target file type (see the list below; case-insensitive).",
            completion: .list(TypeOptions.completionNames))
    var typeOption: String?

    /// -o and --type, or the positional OUTPUT TYPE (validated: one or the other).
    var output: String { outputOption ?? positional.first ?? "" }
    var type: String { typeOption ?? positional.last ?? "" }

    @Flag(name: .customLong("allow-requantize"), help: "Accept tensors that are already quantized.")
    var allowRequantize = false

    @OptionGroup var types: TypeOptions

    @OptionGroup var split: SplitOptions

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        switch (positional.count, outputOption, typeOption) {
        case (0, .some, .some), (2, nil, nil): break
        case (0, _, _): throw ValidationError("give the output and the type: IN OUT TYPE, or IN -o OUT --type TYPE")
        default: throw ValidationError("give OUT TYPE after the input, or -o OUT --type TYPE, not both")
        }
        try types.validate(type: type)
    }

    func run() throws {
        try runReportingErrors(common) {
            var options = ConvertOptions()
            try types.apply(to: &options, type: type)
            try ModelPathHint.requireFile(input)
            try types.applyImportance(to: &options)
            options.split = split.limits
            let report = try GGUFQuantizer.quantize(input: input, output: output, options: options,
                                                    allowRequantize: allowRequantize)
            types.print(report)
        }
    }
}

/// Flags `convert` and `quantize` share: type policy and the report.
struct TypeOptions: ParsableArguments {
    @Option(name: .customLong("tensor-type"),
            help: ArgumentHelp("Type for tensors whose GGUF name matches REGEX (first match wins; may repeat). REGEX "
                               + "is matched in linear time: literals, . [] \\d \\w \\s ^ $ ( | ) * + ? {n,m}; no "
                               + "backreferences or lookaround.", valueName: "REGEX=TYPE"))
    var tensorTypes: [String] = []

    @Option(name: .customLong("embedding-type"), help: ArgumentHelp("Type of token_embd.", valueName: "TYPE"))
    var embeddingType: String?

    @Option(name: .customLong("output-tensor-type"),
            help: ArgumentHelp("Type of the output head (of token_embd when the head is tied to it and no "
                               + "--embedding-type).", valueName: "TYPE"))
    var outputTensorType: String?

    @Flag(help: "No type mix: every quantizable tensor gets the base type (like llama-quantize --pure).")
    var pure = false

    @Flag(help: "Print per-tensor error (RMSE, max abs, SNR dB) and totals (file size, bits per weight).")
    var report = false

    @Flag(help: "Print the report (or the summary) as JSON.")
    var json = false

    @Flag(help: "No progress line.")
    var quiet = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("Importance matrix (bloomkit imatrix, llama-imatrix .gguf or .dat): weights "
                               + "the 4-, 5-bit and K types as llama-quantize --imatrix does.", valueName: "FILE"))
    var imatrix: String?

    /// Unknown type names, malformed --tensor-type and --threads 0 are bad usage (exit 2), caught before anything is
    /// read.
    func validate(type: String) throws {
        var options = ConvertOptions()
        do {
            try apply(to: &options, type: type)
        } catch let error as BloomError {
            throw ValidationError(error.message)
        }
    }

    func apply(to options: inout ConvertOptions, type: String) throws {
        options.type = try FileType.named(type)
        options.overrides.embeddingType = try embeddingType.map(FileType.tensorType(named:))
        options.overrides.outputType = try outputTensorType.map(FileType.tensorType(named:))
        options.overrides.pure = pure
        options.overrides.patterns = try tensorTypes.map { spec in
            guard let eq = spec.lastIndex(of: "=") else {
                throw BloomError(.invalidArgument, "--tensor-type '\(spec)' is not REGEX=TYPE")
            }
            let pattern = String(spec[..<eq])
            do {
                _ = try LinearRegex(pattern)  // a malformed pattern is bad usage, caught before anything is read
            } catch let error as BloomError {
                throw BloomError(.invalidArgument, "--tensor-type \(error.message)")
            }
            return (pattern, try FileType.tensorType(named: String(spec[spec.index(after: eq)...])))
        }
        options.measureError = report
        options.quiet = quiet
        if let threads {
            guard threads > 0 else { throw BloomError(.invalidArgument, "--threads must be at least 1") }
            options.threads = threads
        }
    }

    /// Reads --imatrix into `options` (after `apply`: the file is read only when the command runs).
    /// - Throws: the reader's errors, `.invalidArgument` for a non-finite value (llama-quantize refuses those too).
    func applyImportance(to options: inout ConvertOptions) throws {
        guard let imatrix else { return }
        let matrix = try ImportanceMatrix(path: imatrix)
        if let (name, _) = matrix.entries.first(where: { !$0.value.sums.allSatisfy(\.isFinite) }) {
            throw BloomError(.invalidArgument, "the importance matrix of '\(name)' holds a non-finite value",
                             path: imatrix)
        }
        options.imatrix = (imatrix, matrix)
    }

    /// The file types, one per line, for --help.
    /// What shell completion offers after --type: llama-quantize's names and their lowercase forms.
    static var completionNames: [String] { FileType.all.map(\.name) + FileType.all.map { $0.name.lowercased() } }

    static var typeHelp: String { "Types (--type, case-insensitive):\n\(FileType.helpTable)" }

    /// Prints the warnings on stderr, then the report (table or JSON) with --report, else one summary line
    /// (or a small JSON object).
    func print(_ report: ConvertReport) {
        for warning in report.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        if self.report {
            Swift.print(json ? JSONWriter.string(report.json(), pretty: true) : report.table(),
                        terminator: json ? "\n" : "")
        } else if json {
            Swift.print(JSONWriter.string(.object([
                ("file", .string(report.path)), ("file_size", .int(report.fileSize)),
                ("tensors", .int(report.tensors.count)),
                ("bits_per_weight", .float(report.bitsPerWeight)), ("seconds", .float(report.seconds)),
            ]), pretty: true))
        } else if !quiet {
            let what = report.parts.count > 1 ? "\(report.path) (part 1 of \(report.parts.count))" : report.path
            Swift.print(String(format: "wrote %@: %d tensors, %@, %.3f bits per weight, %.2f s", what,
                               report.tensors.count, ByteCount.format(report.fileSize), report.bitsPerWeight,
                               report.seconds))
        }
    }
}
