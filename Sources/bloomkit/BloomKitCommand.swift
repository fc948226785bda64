import ArgumentParser
import BloomCore
import Foundation

/// The entry point: ArgumentParser's own `main()`, except that bad usage exits with status 2 (ArgumentParser uses
/// EX_USAGE, 64): 1 is bad input, 2 bad usage.
@main
enum BloomKitMain {
    static func main() {
        do {
            // First the arguments alone (an unknown option or a missing value named as such), then the usage checks.
            UsageChecks.deferred = true
            _ = try BloomKitCommand.parseAsRoot()
            UsageChecks.deferred = false
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
          # what is in a checkpoint or adapter
          bloomkit inspect models/bloom-7b1
          # LoRA into base weights (a Hugging Face folder)
          bloomkit merge models/bloom-7b1 adapters/alpacoom -o merged/
          # one GGUF file, adapters merged, 4-bit weights
          bloomkit convert models/bloom-7b1 --lora adapters/alpacoom \\
            --type q4_0 -o alpacoom-q4_0.gguf
          bloomkit generate alpacoom-q4_0.gguf --instruction "Tell me about alpacas"
        """,
        version: "0.1.0",
        subcommands: [
            InspectCommand.self, MergeCommand.self, ConvertCommand.self, QuantizeCommand.self, VerifyCommand.self,
            GenerateCommand.self, TokenizeCommand.self, PerplexityCommand.self, ImatrixCommand.self, BenchCommand.self,
            DemoCommand.self, PackCommand.self, UnpackCommand.self, ChatCommand.self,
        ]
    )
}

/// ArgumentParser runs `validate()` before it reports an unknown option, so `generate m.gguf -q x` would say
/// "give either --instruction or --prompt"; the commands' checks wait while `main` parses the arguments alone.
enum UsageChecks {
    nonisolated(unsafe) static var deferred = false
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
        FileHandle.standardError.write(Data(("error: " + (common.verbose ? error.verboseDescription : error.description)
                                             + "\n").utf8))
        throw ExitCode(1)
    }
}
