import BloomArch
import BloomCore
import Foundation

/// Which prompt template a converted file (or a merged folder) carries: `--chat-template FILE`, else `--template
/// STYLE`, else the source folder's own chat template (chat_template.jinja, or tokenizer_config.json's
/// `chat_template`), else bloomkit's default Alpaca style.
public struct TemplateChoice: Sendable {
    /// `--template`: an Alpaca style asked for by name.
    public var style: AlpacaTemplate.Style?
    /// `--chat-template`: a Jinja file used as it is.
    public var chatTemplateFile: String?

    public init(style: AlpacaTemplate.Style? = nil, chatTemplateFile: String? = nil) {
        self.style = style
        self.chatTemplateFile = chatTemplateFile
    }

    /// The templates chosen: the Jinja one and the placeholder ones `generate` fills.
    public struct Resolved: Sendable, Equatable {
        /// `tokenizer.chat_template` / tokenizer_config.json's `chat_template`.
        public var chatTemplate: String
        /// The style whose placeholder forms go into `bloomkit.prompt_template.*`.
        public var style: AlpacaTemplate.Style
        /// Set when the Jinja template is not `style`'s own, so other tools may prompt differently from `generate`.
        public var warning: String?

        /// `style`'s own Jinja and placeholder forms.
        public init(style: AlpacaTemplate.Style = AlpacaTemplate.defaultStyle) {
            self.init(chatTemplate: style.chatTemplate, style: style, warning: nil)
        }

        init(chatTemplate: String, style: AlpacaTemplate.Style, warning: String?) {
            self.chatTemplate = chatTemplate
            self.style = style
            self.warning = warning
        }
    }

    /// Resolves the choice for a model folder.
    /// - Parameter folder: the (resolved) source model folder, or nil when there is none.
    /// - Throws: `BloomError` for a chat template file or tokenizer_config.json that cannot be read, with its path.
    public func resolve(folder: String?) throws -> Resolved {
        let chat: String
        let origin: String
        if let chatTemplateFile {
            chat = try TextFile.read(chatTemplateFile)
            origin = "--chat-template \(URL(fileURLWithPath: chatTemplateFile).lastPathComponent)"
        } else if let style {
            return Resolved(style: style)
        } else if let folder, let found = try Self.chatTemplate(inFolder: folder) {
            (chat, origin) = found
        } else {
            return Resolved()
        }
        if let known = style ?? AlpacaTemplate.Style(chatTemplate: chat), known.chatTemplate == chat {
            return Resolved(style: known)
        }
        let used = style ?? AlpacaTemplate.defaultStyle
        return Resolved(chatTemplate: chat, style: used,
                        warning: "the chat template from \(origin) is not one of bloomkit's Alpaca forms; "
                            + "it is stored as tokenizer.chat_template, and generate --instruction uses the "
                            + "'\(used.rawValue)' form")
    }

    /// A model folder's own chat template, as transformers loads it: chat_template.jinja, else tokenizer_config.json's
    /// `chat_template` (a string, or a list of named templates of which the one named "default" is used).
    /// - Returns: the template and where it came from, or nil when the folder has none.
    static func chatTemplate(inFolder folder: String) throws -> (String, String)? {
        let jinja = folder + "/chat_template.jinja"
        if FileManager.default.fileExists(atPath: jinja) { return (try TextFile.read(jinja), "chat_template.jinja") }
        let configPath = folder + "/tokenizer_config.json"
        guard FileManager.default.fileExists(atPath: configPath) else { return nil }
        let origin = "tokenizer_config.json"
        switch try JSONFile.read(configPath)["chat_template"] {
        case nil, .null?:
            return nil
        case .string(let text)?:
            return (text, origin)
        case .array(let named)?:
            guard let text = named.first(where: { $0["name"]?.string == "default" })?["template"]?.string else {
                throw BloomError(.unsupported, "chat_template is a list without a template named 'default'",
                                 path: configPath)
            }
            return (text, origin)
        default:
            throw BloomError(.invalidJSON, "chat_template is neither a string nor a list of named templates",
                             path: configPath)
        }
    }
}
