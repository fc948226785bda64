import ArgumentParser
import BloomConvert
import BloomCore
import BloomPack

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a GGUF file (structure, bounds, BLOOM profile, tensor checksums) or a .bkz (every checksum).",
        discussion: "Exits 0 only if everything holds; otherwise prints one line saying what is wrong where and "
            + "exits 1.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The GGUF file to check.", completion: .file(extensions: ["gguf", "bkz"]))
    var file: String

    @Flag(name: .customLong("allow-missing-checksums"),
          help: "Accept a file without bloomkit checksums (e.g. from llama.cpp).")
    var allowMissingChecksums = false

    @Flag(help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        try runReportingErrors(common) {
            try ModelPathHint.requireFile(file)
            if BKZArchive.looksPacked(file) {
                let s = try BKZArchive(path: file).verify(threads: defaultThreads(), quiet: quiet)
                if !quiet { print("ok: \(file): \(s.files) files, \(s.chunks) chunks, every checksum matches") }
                return
            }
            let report = try GGUFVerifier.verify(path: file, requireChecksums: !allowMissingChecksums)
            if !quiet {
                let checksums = report.checkedChecksums > 0 || report.tensorCount == 0
                    ? "\(report.checkedChecksums) checksums match" : "no checksums present (tensor bytes not checked)"
                print("ok: \(report.path): \(report.tensorCount) tensors, \(checksums)"
                      + (report.isAdapter ? ", LoRA adapter layout holds"
                         : report.isBloom ? ", BLOOM profile holds" : ""))
            }
        }
    }
}
