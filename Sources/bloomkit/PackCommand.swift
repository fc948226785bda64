import ArgumentParser
import BloomCore
import BloomPack
import Foundation

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Compress a checkpoint, model folder or GGUF file losslessly into one .bkz file.",
        usage: "bloomkit pack <input> -o <output> [<options>]",
        discussion: """
        Float tensors (F32, F16, BF16) are split into byte planes (exponent apart from sign and mantissa) and \
        entropy-coded; GGUF Q8_0/Q4_0/Q4_1/Q5 blocks have their scales split from their quants, K-quant blocks \
        (Q2_K…Q6_K) every field apart; repeated tensors are \
        stored once; everything else is zstd. Every chunk and file carries an xxh64 checked by unpack and verify.
          bloomkit pack models/bloom-7b1 -o bloom-7b1.bkz --threads 4
          bloomkit unpack bloom-7b1.bkz -o models/bloom-7b1-copy
        """)

    @OptionGroup var common: CommonOptions

    @Argument(help: "A file (safetensors, GGUF, anything) or a folder.")
    var input: String

    @Option(name: .shortAndLong, help: "The .bkz file to write.")
    var output: String

    @Option(help: "zstd level (1-19) for everything that is not a byte plane of a tensor.")
    var level = 3

    @Option(help: "Compression threads (default: every core).")
    var threads: Int?

    @Option(name: .customLong("chunk-size"), help: "Bytes per independently compressed chunk (64KiB...16MiB).")
    var chunkSize = "1MiB"

    @Flag(help: "Print one JSON object (ratio per tensor kind) instead of the summary.")
    var json = false

    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard (1...19).contains(level) else { throw ValidationError("--level must be 1...19") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256") }
        guard let n = ByteCount.parse(chunkSize), (64 << 10...BKZFormat.maxChunkBytes).contains(n) else {
            throw ValidationError("--chunk-size must be 64KiB...16MiB")
        }
    }

    func run() throws {
        try runReportingErrors(common) {
            let options = PackOptions(level: level, threads: threads ?? defaultThreads(),
                                      chunkBytes: ByteCount.parse(chunkSize) ?? (1 << 20), quiet: quiet || json)
            let summary = try Packer.pack(input: input, output: output, options: options)
            print(json ? JSONWriter.string(summary.json(), pretty: true) : summary.text())
        }
    }
}

struct UnpackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpack",
        abstract: "Restore the files of a .bkz byte for byte (a folder for a packed folder, a file for a file).",
        usage: "bloomkit unpack <file> -o <output> [<options>]",
        discussion: "Every chunk and every file is checked against the xxh64 recorded at pack time; the output "
            + "appears only when all hold.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The .bkz file.")
    var file: String

    @Option(name: .shortAndLong, help: "The folder (must not exist) or file to write.")
    var output: String

    @Option(help: "Decompression threads (default: every core).")
    var threads: Int?

    @Flag(help: "No progress line, no summary.")
    var quiet = false

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let archive = try BKZArchive(path: file)
            let s = try archive.unpack(to: output, threads: threads ?? defaultThreads(), quiet: quiet)
            if !quiet {
                print(String(format: "unpacked %d files, %@ in %.1f s (%@/s), every checksum matches", s.files,
                             ByteCount.format(s.bytes), s.seconds,
                             ByteCount.format(s.seconds > 0 ? Int(Double(s.bytes) / s.seconds) : 0)))
            }
        }
    }
}

func defaultThreads() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
