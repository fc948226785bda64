import ArgumentParser
import BloomConvert
import BloomCore
import BloomGGUF
import BloomPack
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a checkpoint, model folder or LoRA adapter holds (headers only).",
        discussion: """
        PATH is a .safetensors or PyTorch .bin/.pt/.pth file, a shard index (*.index.json), a Hugging Face model \
        folder, a PEFT adapter folder, a hub id ORG/NAME / models--ORG--NAME folder already in the hub cache, \
        or a GGUF file, or a .bkz packed by `bloomkit pack`. A GGUF file's tensors are all listed, in aligned columns, \
        as gguf-dump lists them; \
        --summary shows only their count and size per type.
          bloomkit inspect models/bloom-7b1
          bloomkit inspect adapters/alpacoom --json
        """
    )

    @OptionGroup var common: CommonOptions

    @Argument(help: "The file or folder to inspect.")
    var path: String

    @Flag(name: .long, help: "Print one JSON object (every tensor with file and offset) instead of the report.")
    var json = false

    @Flag(name: .long, help: "GGUF: the header, metadata and tensor counts per type, without the tensor list.")
    var summary = false

    func run() throws {
        try runReportingErrors(common) {
            let text: String
            if BKZArchive.looksPacked(path) {
                let archive = try BKZArchive(path: path)
                text = json ? JSONWriter.string(archive.inspectJSON(), pretty: true) + "\n"
                    : archive.inspectText() + "\n"
            } else if GGUFInspect.isGGUF(path: path) {
                let set = try GGUFSplitSet(path: path)
                text = json ? JSONWriter.string(GGUFInspect.json(set), pretty: true) + "\n"
                    : GGUFInspect.text(set, tensors: !summary)
            } else {
                let report = try InspectReport.open(path)
                text = (json ? JSONWriter.string(report.json(), pretty: true) : report.text()) + "\n"
            }
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
