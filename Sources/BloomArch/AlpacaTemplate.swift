/// The Alpaca prompt templates, the one copy bloomkit has, byte for byte, and the Jinja chat template made from them.
/// `convert` stores a style's placeholder forms (`bloomkit.prompt_template.*`, which `generate` fills) and its Jinja
/// form (`tokenizer.chat_template`, which llama-server, ollama and transformers fill); `merge` writes the Jinja form
/// into tokenizer_config.json. Both forms come from the same strings, so they give the same prompt.
public enum AlpacaTemplate {
    /// A form of the Alpaca prompt.
    public enum Style: String, CaseIterable, Sendable {
        /// The seed model card's form, one newline between sections (bloomkit's default).
        case card
        /// Stanford Alpaca's PROMPT_DICT (tatsu-lab/stanford_alpaca train.py; reference hf-formats-lora-bloom.md),
        /// a blank line between sections.
        case stanford

        /// The prompt without an input; `{instruction}` is substituted.
        public var noInput: String {
            switch self {
            case .card: return AlpacaTemplate.cardNoInput
            case .stanford: return AlpacaTemplate.noInput
            }
        }

        /// The prompt with an input; `{instruction}` and then `{input}` are substituted.
        public var withInput: String {
            switch self {
            case .card: return AlpacaTemplate.cardWithInput
            case .stanford: return AlpacaTemplate.withInput
            }
        }

        /// The Jinja form of this style (see `AlpacaTemplate.chatTemplate`).
        public var chatTemplate: String { AlpacaTemplate.chatTemplate(noInput: noInput, withInput: withInput) }

        /// The style whose Jinja form is exactly `chatTemplate`, if any.
        public init?(chatTemplate: String) {
            guard let style = Self.allCases.first(where: { $0.chatTemplate == chatTemplate }) else { return nil }
            self = style
        }
    }

    /// The style `convert` and `merge` write when none is asked for.
    public static let defaultStyle = Style.card

    /// Stanford Alpaca's no-input prompt, the text Alpaca adapters were trained on (also `generate`'s fallback for
    /// files without `bloomkit.prompt_template.*`).
    public static let noInput = "Below is an instruction that describes a task. Write a response that appropriately "
        + "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
    /// Stanford Alpaca's with-input prompt.
    public static let withInput = "Below is an instruction that describes a task, paired with an input that provides "
        + "further context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
        + "{instruction}\n\n### Input:\n{input}\n\n### Response:"

    static let cardNoInput = "Below is an instruction that describes a task. Write a response that appropriately "
        + "completes the request.\n### Instruction:\n{instruction}\n### Response:"
    static let cardWithInput = "Below is an instruction that describes a task, paired with an input that provides "
        + "further context. Write a response that appropriately completes the request.\n### Instruction:\n"
        + "{instruction}\n### Input:\n{input}\n### Response:"

    /// The prompt for `instruction` (and `input`, if not nil or empty) from the given templates (by default,
    /// Stanford Alpaca's, the training text).
    public static func render(instruction: String, input: String?, noInput: String = noInput,
                              withInput: String = withInput) -> String {
        if let input, !input.isEmpty {
            // {input} first: the template's {instruction} precedes it, so neither text is re-expanded.
            return withInput.replacingFirst("{input}", with: input).replacingFirst("{instruction}", with: instruction)
        }
        return noInput.replacingFirst("{instruction}", with: instruction)
    }

    /// A Jinja chat template that renders each user message as `render` does: `content` is the instruction; a
    /// non-empty `input` field on the message (transformers: `{"role": "user", "content": …, "input": …}`) picks the
    /// with-input form. An assistant message is its content and the EOS token (Alpaca's training target); system
    /// messages are not part of Alpaca's format and are left out. The prompt already ends in "### Response:", so
    /// `add_generation_prompt` adds nothing.
    /// - Parameters: the placeholder templates; each placeholder's first occurrence is substituted, `{instruction}`
    ///   before `{input}` in the text, as in `render`.
    public static func chatTemplate(noInput: String, withInput: String) -> String {
        "{%- for message in messages -%}\n"
            + "{%- if message['role'] == 'user' -%}\n"
            + "{%- if message['input'] is defined and message['input'] -%}\n"
            + jinjaOutput(withInput) + "\n"
            + "{%- else -%}\n"
            + jinjaOutput(noInput) + "\n"
            + "{%- endif -%}\n"
            + "{%- elif message['role'] == 'assistant' -%}\n"
            + "{{ message['content'] + eos_token }}\n"
            + "{%- endif -%}\n"
            + "{%- endfor -%}\n"
    }

    /// `template` as Jinja output statements: literal text as quoted strings, placeholders as message fields.
    static func jinjaOutput(_ template: String) -> String {
        var rest = Substring(template)
        var parts: [String] = []
        for (placeholder, field) in [("{instruction}", "message['content']"), ("{input}", "message['input']")] {
            guard let r = rest.range(of: placeholder) else { continue }
            parts.append(jinjaString(rest[..<r.lowerBound]))
            parts.append(field)
            rest = rest[r.upperBound...]
        }
        parts.append(jinjaString(rest))
        return parts.filter { $0 != "''" }.map { "{{ \($0) }}" }.joined()
    }

    /// A single-quoted Jinja string literal holding `text`.
    static func jinjaString(_ text: Substring) -> String {
        var out = "'"
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "'"
    }
}

extension String {
    /// Replaces the first occurrence only, so text inside the substituted instruction is never re-expanded.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
