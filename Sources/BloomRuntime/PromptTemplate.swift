import BloomArch
import BloomCore
import BloomGGUF

/// The Alpaca prompt a model file asks for: its `bloomkit.prompt_template.*` keys, or, for files without them
/// (e.g. made by llama.cpp's converter), the Stanford Alpaca training text (tatsu-lab/stanford_alpaca PROMPT_DICT).
public struct PromptTemplate: Sendable, Equatable {
    public var noInput: String
    public var withInput: String

    /// Stanford Alpaca's templates (`AlpacaTemplate`, the one copy).
    public static let stanfordAlpaca = PromptTemplate(noInput: AlpacaTemplate.noInput,
                                                      withInput: AlpacaTemplate.withInput)

    /// Where an answer ends if the model starts a new template section.
    public static let sectionStop = "### Instruction:"

    public init(noInput: String, withInput: String) {
        self.noInput = noInput
        self.withInput = withInput
    }

    /// The file's templates, each falling back to Stanford Alpaca's when its key is absent or not a string.
    /// - Throws: `.invalidModel` for a template without its `{instruction}` placeholder (or, with an input, without
    ///   `{input}`): the instruction would be dropped silently.
    public init(metadata: GGUFMetadata) throws {
        func string(_ key: String) -> String? {
            if case .string(let s)? = metadata[key] { return s }
            return nil
        }
        self.init(noInput: string(BloomGGUFKeys.promptTemplateNoInput) ?? Self.stanfordAlpaca.noInput,
                  withInput: string(BloomGGUFKeys.promptTemplateWithInput) ?? Self.stanfordAlpaca.withInput)
        let checks = [(BloomGGUFKeys.promptTemplateNoInput, noInput, ["{instruction}"]),
                      (BloomGGUFKeys.promptTemplateWithInput, withInput, ["{instruction}", "{input}"])]
        for (key, template, placeholders) in checks {
            for p in placeholders where !template.contains(p) {
                throw BloomError(.invalidModel, "the prompt template has no \(p) placeholder: the text would be "
                                 + "dropped", location: key)
            }
        }
    }

    /// The prompt for an instruction and an optional input (the with-input template only when input is non-empty).
    public func render(instruction: String, input: String?) -> String {
        AlpacaTemplate.render(instruction: instruction, input: input, noInput: noInput, withInput: withInput)
    }
}
