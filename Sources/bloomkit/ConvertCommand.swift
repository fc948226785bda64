import ArgumentParser
import BloomCore

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "convert", abstract: "(being built)")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try runReportingErrors(common) {
            throw BloomError(.unsupported, "'convert' is not built yet")
        }
    }
}
