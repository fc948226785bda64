import ArgumentParser
import BloomCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "(being built)")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try runReportingErrors(common) {
            throw BloomError(.unsupported, "'bench' is not built yet")
        }
    }
}
