import BloomArch
import BloomGGUF

/// The Alpaca prompt a model file asks for: its `bloomkit.prompt_template.*` keys, or, for files without them
/// (e.g. made by llama.cpp's converter), the Stanford Alpaca training text (tatsu-lab/stanford_alpaca PROMPT_DICT).
public struct PromptTemplate: Sendable, Equatable {
    public var noInput: String
    public var withInput: String

    /// Stanford Alpaca's templates, byte for byte.
    public static let stanfordAlpaca = PromptTemplate(
        noInput: "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:",
        withInput: "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")

    /// Where an answer ends if the model starts a new template section.
    public static let sectionStop = "### Instruction:"

    public init(noInput: String, withInput: String) {
        self.noInput = noInput
        self.withInput = withInput
    }

    /// The file's templates, each falling back to Stanford Alpaca's when its key is absent or not a string.
    public init(metadata: GGUFMetadata) {
        func string(_ key: String) -> String? {
            if case .string(let s)? = metadata[key] { return s }
            return nil
        }
        self.init(noInput: string(BloomGGUFKeys.promptTemplateNoInput) ?? Self.stanfordAlpaca.noInput,
                  withInput: string(BloomGGUFKeys.promptTemplateWithInput) ?? Self.stanfordAlpaca.withInput)
    }

    /// The prompt for an instruction and an optional input (the with-input template only when input is non-empty).
    public func render(instruction: String, input: String?) -> String {
        AlpacaTemplate.render(instruction: instruction, input: input, noInput: noInput, withInput: withInput)
    }
}
