import ArgumentParser
import BloomCore

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "quantize", abstract: "(being built)")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try runReportingErrors(common) {
            throw BloomError(.unsupported, "'quantize' is not built yet")
        }
    }
}
