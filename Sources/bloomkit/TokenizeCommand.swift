import ArgumentParser
import BloomCore

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "(being built)")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try runReportingErrors(common) {
            throw BloomError(.unsupported, "'tokenize' is not built yet")
        }
    }
}
