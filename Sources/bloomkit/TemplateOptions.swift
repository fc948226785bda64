import ArgumentParser
import BloomArch
import BloomConvert

/// `--template` / `--chat-template`, shared by `convert` and `merge`.
struct TemplateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The Alpaca prompt form stored: card (the seed model card's, one newline between sections) or stanford "
            + "(Stanford Alpaca's, blank lines). Default: the source's own chat template if it has one, else card.",
        valueName: "STYLE"))
    var template: String?

    @Option(name: .customLong("chat-template"), help: ArgumentHelp(
        "A Jinja chat template file stored as it is (tokenizer.chat_template / tokenizer_config.json).",
        valueName: "FILE"))
    var chatTemplateFile: String?

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        if let template, AlpacaTemplate.Style(rawValue: template) == nil {
            let names = AlpacaTemplate.Style.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--template '\(template)' is not one of \(names)")
        }
    }

    var choice: TemplateChoice {
        TemplateChoice(style: template.flatMap(AlpacaTemplate.Style.init(rawValue:)),
                       chatTemplateFile: chatTemplateFile)
    }
}
