import ArgumentParser
import BloomCore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "(being built)")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try runReportingErrors(common) {
            throw BloomError(.unsupported, "'demo' is not built yet")
        }
    }
}
