import ArgumentParser
import BloomCore

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "perplexity", abstract: "(being built)")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try runReportingErrors(common) {
            throw BloomError(.unsupported, "'perplexity' is not built yet")
        }
    }
}
