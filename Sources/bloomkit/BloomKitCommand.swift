import ArgumentParser
import BloomCore
import Foundation

/// The entry point: ArgumentParser's own `main()`, except that bad usage exits with status 2 (ArgumentParser uses
/// EX_USAGE, 64): 1 is bad input, 2 bad usage.
@main
enum BloomKitMain {
    static func main() {
        do {
            var command = try BloomKitCommand.parseAsRoot()
            try command.run()
        } catch {
            if BloomKitCommand.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((BloomKitCommand.fullMessage(for: error) + "\n").utf8))
                exit(2)
            }
            BloomKitCommand.exit(withError: error)
        }
    }
}

struct BloomKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bloomkit",
        abstract: "BLOOM models from Hugging Face checkpoints to one GGUF file, and a lean CPU runtime to run it.",
        discussion: """
        Typical flow:
          bloomkit inspect models/bloom-7b1                      # what is in a checkpoint or adapter
          bloomkit merge models/bloom-7b1 adapters/alpacoom -o merged/   # LoRA into base weights (HF folder)
          bloomkit convert models/bloom-7b1 --lora adapters/alpacoom --type q4_0 -o alpacoom-q4_0.gguf
          bloomkit generate alpacoom-q4_0.gguf --instruction "Tell me about alpacas"
        """,
        version: "0.1.0",
        subcommands: [
            InspectCommand.self, MergeCommand.self, ConvertCommand.self, QuantizeCommand.self, VerifyCommand.self,
            GenerateCommand.self, TokenizeCommand.self, PerplexityCommand.self, ImatrixCommand.self, BenchCommand.self,
            DemoCommand.self,
            PackCommand.self, UnpackCommand.self,
        ]
    )
}

/// Flags every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "On errors, print the cause chain too.")
    var verbose = false
}

/// Runs a subcommand body: library errors become one `error: …` line on stderr and exit status 1
/// (bad input); ArgumentParser's validation errors keep their exit status 2 (bad usage).
func runReportingErrors(_ common: CommonOptions, _ body: () throws -> Void) throws {
    AtomicFile.installSignalCleanup()
    do {
        try body()
    } catch let error as BloomError {
        FileHandle.standardError.write(Data(("error: " + (common.verbose ? error.verboseDescription : error.description) + "\n").utf8))
        throw ExitCode(1)
    }
}
