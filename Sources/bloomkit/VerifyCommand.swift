import ArgumentParser
import BloomConvert
import BloomCore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a GGUF file: structure, bounds, size, the BLOOM profile and every tensor's checksum.",
        discussion: "Exits 0 only if everything holds; otherwise prints one line saying what is wrong where and exits 1.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The GGUF file to check.")
    var file: String

    @Flag(name: .customLong("allow-missing-checksums"), help: "Accept a file without bloomkit checksums (e.g. from llama.cpp).")
    var allowMissingChecksums = false

    @Flag(help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        try runReportingErrors(common) {
            let report = try GGUFVerifier.verify(path: file, requireChecksums: !allowMissingChecksums)
            if !quiet {
                print("ok: \(report.path): \(report.tensorCount) tensors, \(report.checkedChecksums) checksums match"
                      + (report.isAdapter ? ", LoRA adapter layout holds"
                         : report.isBloom ? ", BLOOM profile holds" : ""))
            }
        }
    }
}
