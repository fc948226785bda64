import ArgumentParser
import BloomConvert
import BloomCore
import Foundation

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Hugging Face BLOOM checkpoint (optionally with LoRA adapters merged) into one GGUF file.",
        usage: "bloomkit convert <source> -o <output> [--type <type>] [<options>]",
        discussion: """
        2-D weights get the type llama-quantize gives them for --type (its mixes: attn_qkv, ffn_down, the \
        head); norms and biases stay f32. The output head is tied to token_embd unless --separate-output (or \
        the checkpoint's head is untied). Like llama.cpp's tools, convert replaces an existing output file (once \
        the new one is complete). The file loads in llama.cpp (architecture "bloom"). \
        A PEFT LoRA adapter folder as SOURCE gives a LoRA adapter GGUF instead (llama.cpp's layout, f32/f16/bf16; \
        --base names the base model folder or GGUF when the adapter's base_model_name_or_path is not local), which \
        `generate --lora` and llama.cpp's `--lora` apply at load time.

        \(TypeOptions.typeHelp)
        """)

    @OptionGroup var common: CommonOptions

    @Argument(help: """
        Model folder (safetensors or PyTorch .bin, single or sharded), hub id, hub-cache folder, PEFT adapter folder, \
        or a .bkz of a safetensors model folder (read in place, tensor by tensor).
        """)
    var source: String

    @Option(name: .shortAndLong, help: "The GGUF file to write.")
    var output: String

    @Option(name: .long, help: "File type (see the list below; case-insensitive).",
            completion: .list(TypeOptions.completionNames))
    var type = "f16"

    @Option(name: .customLong("lora"), help: ArgumentHelp(
        "A PEFT LoRA adapter folder to merge first (may repeat; applied in order).", valueName: "ADAPTER"))
    var adapters: [String] = []

    @Option(name: .long, help: "With an adapter folder as SOURCE: its base model (folder or BLOOM GGUF file).")
    var base: String?

    @Flag(name: .customLong("separate-output"),
          help: "Write output.weight as its own tensor instead of tying it to token_embd.")
    var separateOutput = false

    @OptionGroup var types: TypeOptions

    @OptionGroup var split: SplitOptions

    @OptionGroup var templates: TemplateOptions

    @Option(name: .customLong("metadata"), help: ArgumentHelp(
        "A JSON file of general.* keys that override what the model card and config say (convert_hf_to_gguf.py's "
            + "--metadata format).", valueName: "FILE"))
    var metadataFile: String?

    @Option(name: .long,
            help: "general.name (default: from the model card, config.json or the folder / Hub repository).")
    var name: String?

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        try types.validate(type: type)
    }

    func run() throws {
        try runReportingErrors(common) {
            var options = ConvertOptions()
            try types.apply(to: &options, type: type)
            try types.applyImportance(to: &options)
            options.split = split.limits
            options.separateOutput = separateOutput
            if AdapterConverter.isAdapterFolder(source) {
                let o = options.overrides
                guard adapters.isEmpty, !separateOutput, o.patterns.isEmpty, o.embeddingType == nil,
                      o.outputType == nil, !o.pure
                else {
                    throw BloomError(.invalidArgument, "--lora, --separate-output, --tensor-type, --embedding-type, "
                                     + "--output-tensor-type and --pure apply to a model, not to an adapter folder")
                }
                types.print(try AdapterConverter.convert(adapter: source, base: base, to: output,
                                                         type: options.type.baseType))
                return
            }
            guard base == nil else {
                throw BloomError(.invalidArgument, "--base goes with an adapter folder as the source")
            }
            let input = try ConvertInput(folder: source, adapters: adapters, template: templates.choice,
                                         metadataFile: metadataFile, name: name)
            for warning in input.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            let report = try Converter.convert(input, to: output, options: options)
            types.print(report)
        }
    }
}
