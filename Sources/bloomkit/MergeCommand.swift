import ArgumentParser
import BloomConvert
import BloomCore
import Foundation

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge PEFT LoRA adapters into a base model and write a Hugging Face model folder.",
        usage: "bloomkit merge <base> <adapters> ... -o <output> [<options>]",
        discussion: """
        Exactly as PEFT's merge_and_unload (current adapters and the 2023 enable_lora layout), in f32 with one \
        rounding when stored, streamed tensor by tensor. Adapters are applied in the order given. The output folder \
        must be new or empty (--force replaces it: the new folder takes its place only when complete); its files \
        appear only when all are complete. convert and quantize overwrite their output file as llama.cpp's tools do \
        (also only when the new file is complete).

          bloomkit merge models/bloom-7b1 adapters/alpacoom -o merged/
          bloomkit merge models/bloom-7b1 adapters/a adapters/b -o merged/ --dtype bf16 --max-shard-size 2GB
        """
    )

    @Argument(help: "The base model folder, or a .bkz of one (read in place, tensor by tensor).")
    var base: String

    @Argument(help: "PEFT adapter folders, applied in order.")
    var adapters: [String]

    @Option(name: .shortAndLong, help: "The output folder (created; must not exist or be empty unless --force).")
    var output: String

    @Option(help: "Stored dtype: auto (the base's), f32, f16 or bf16.")
    var dtype: String = "auto"

    @Option(help: "Largest shard file (e.g. 5GB, 500MB, 2GiB).")
    var maxShardSize: String = "5GB"

    @Flag(help: ArgumentHelp("Keep merged tensors holding NaN, infinities or values past the stored dtype's range "
                             + "(a warning names them) instead of refusing the merge."))
    var allowNonFinite = false

    @Flag(help: "No progress line.")
    var quiet = false

    @Flag(name: [.customShort("f"), .long, .customLong("overwrite")],
          help: "Replace an output folder that holds files (once the merge is complete; never one holding an input).")
    var force = false

    @OptionGroup var templates: TemplateOptions

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard !adapters.isEmpty else { throw ValidationError("give at least one adapter folder") }
        guard MergeDType(rawValue: dtype) != nil else {
            throw ValidationError("--dtype must be one of " +
                                  "\(MergeDType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let size = ByteCount.parse(maxShardSize), size > 0 else {
            throw ValidationError("--max-shard-size '\(maxShardSize)' is not a size such as 5GB or 500MB")
        }
    }

    func run() throws {
        try runReportingErrors(common) {
            var options = MergeOptions(dtype: MergeDType(rawValue: dtype) ?? .auto,
                                       maxShardSize: ByteCount.parse(maxShardSize) ?? MergeOptions.defaultMaxShardSize,
                                       quiet: quiet, template: templates.choice)
            options.replaceExisting = force
            options.allowNonFinite = allowNonFinite
            let summary = try MergePipeline.run(base: base, adapters: adapters, output: output,
                                                options: options) { warning in
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            if !quiet {
                let rate = Double(summary.bytes) / max(summary.seconds, 1e-9)
                print("merged \(summary.changedTensors.count) of \(summary.tensorCount) tensors into \(output): " +
                      "\(summary.files.filter { $0.hasSuffix(".safetensors") }.count) shard(s), " +
                      "\(ByteCount.format(summary.bytes)) in \(String(format: "%.1f", summary.seconds)) s " +
                      "(\(ByteCount.format(Int(rate)))/s)")
            }
        }
    }
}
