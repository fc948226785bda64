import ArgumentParser
import BloomCore
import BloomRuntime
import BloomTokenizer
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to an instruction model: each line is an instruction, answered in the file's template.",
        usage: "bloomkit chat <model> [<options>]",
        discussion: """
        Each line read is an instruction: it is put into the file's Alpaca template after the earlier turns, and \
        the answer streams to stdout (llama.cpp's old -ins mode). Ctrl-C stops the current answer; at the prompt \
        it ends the chat, as end of input does. The history is cut from its oldest turn when the next prompt and \
        its answer would not fit the context (-c; default: the file's context length), and stderr says so. \
        Commands: /reset forgets the history; /set NAME VALUE changes temperature, top-k, top-p, repeat-penalty, \
        seed or max-tokens; /show prints the settings; /quit ends the chat. Sampling works as in generate.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var lora: LoRAOptions
    @Argument(help: "A GGUF file made by bloomkit convert (or llama.cpp's converter).",
              completion: .file(extensions: ["gguf"]))
    var model: String
    @OptionGroup var sampling: SamplingOptions
    @Option(name: [.customShort("n"), .long], help: "Most tokens per answer.") var maxTokens = 256
    @Option(name: [.customShort("c"), .customLong("context")], help: "Tokens of history, prompt and answer.")
    var context: Int?
    @Option(name: [.customShort("t"), .long], help: "Threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard context.map({ $0 > maxTokens }) ?? true else {
            throw ValidationError("-c must be more than --max-tokens")
        }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    /// Set by SIGINT: the answer being generated stops at its next token.
    nonisolated(unsafe) static var interrupted: sig_atomic_t = 0

    func run() throws {
        try runReportingErrors(common) {
            let model = try BloomModel(file: ModelPathHint.openGGUF(self.model, threads: threads),
                                       adapters: lora.requests)
            let generator = Generator(model: model, tokenizer: try model.loadTokenizer(),
                                      pool: try ThreadPool(threads: threads))
            let recommended = try SamplingParameters.Recommended(metadata: model.metadata)
            var session = ChatSession(template: try model.promptTemplate(),
                                      sampling: sampling.parameters(recommended: recommended),
                                      maxTokens: maxTokens, context: context ?? model.hyperParameters.contextLength)
            Self.catchInterrupts()
            let err = FileHandle.standardError, out = FileHandle.standardOutput
            if !session.sampling.isGreedy { err.write(Data("seed \(session.sampling.seed)\n".utf8)) }
            let terminal = isatty(STDIN_FILENO) == 1
            while true {
                if terminal { out.write(Data("> ".utf8)) }
                Self.interrupted = 0
                guard let line = readLine(strippingNewline: true) else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text.hasPrefix("/") {
                    do {
                        guard let reply = try session.command(text) else { break }
                        if !reply.isEmpty { err.write(Data((reply + "\n").utf8)) }
                    } catch let error as BloomError {
                        err.write(Data("error: \(error.message)\n".utf8))
                    }
                    continue
                }
                do {
                    let (prompt, dropped, budget) = try session.prompt(for: text, tokenizer: generator.tokenizer)
                    if dropped > 0 {
                        err.write(Data(("(history truncated: dropped the \(dropped) oldest turn(s) to fit the context "
                                        + "of \(session.context) tokens)\n").utf8))
                    }
                    let request = GenerationRequest(prompt: prompt, maxTokens: budget, sampling: session.sampling,
                                                    stops: [PromptTemplate.sectionStop],
                                                    shouldStop: { ChatCommand.interrupted != 0 })
                    let result = try generator.generate(request) { out.write(Data($0.utf8)) }
                    out.write(Data("\n".utf8))
                    if result.stopReason == .interrupted { err.write(Data("(answer stopped)\n".utf8)) }
                    session.turns.append((text, result.text))
                } catch let error as BloomError {
                    err.write(Data("error: \(error.message)\n".utf8))
                }
            }
        }
    }

    /// SIGINT sets `interrupted` instead of ending the process, without restarting reads: Ctrl-C at the prompt
    /// ends `readLine` (and the chat); during an answer it stops the answer.
    static func catchInterrupts() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in ChatCommand.interrupted = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
    }
}

/// A chat's settings and history: turns rendered one after the other in the template, cut from the oldest.
struct ChatSession {
    let template: PromptTemplate
    var sampling: SamplingParameters
    var maxTokens: Int
    let context: Int
    var turns: [(instruction: String, answer: String)] = []

    /// The prompt for `instruction` after as many recent turns as fit with room for an answer; the number of turns
    /// dropped (they are forgotten); the answer's token budget (`maxTokens`, less when the instruction alone is long).
    mutating func prompt(for instruction: String, tokenizer: BloomTokenizer) throws -> (String, Int, Int) {
        let question = template.render(instruction: instruction, input: nil)
        let own = try tokenizer.encodeChecked(question).count
        guard own < context else {
            throw BloomError(.invalidArgument, "the instruction takes \(own) tokens; the context holds \(context) (-c)")
        }
        var dropped = 0
        while true {
            let history = turns.map { template.render(instruction: $0.instruction, input: nil) + $0.answer + "\n\n" }
            let prompt = history.joined() + question
            let count = turns.isEmpty ? own : try tokenizer.encodeChecked(prompt).count
            if count + maxTokens <= context || turns.isEmpty {
                return (prompt, dropped, min(maxTokens, context - count))
            }
            turns.removeFirst()
            dropped += 1
        }
    }

    /// Runs a /command; returns what to say (empty: nothing), or nil to end the chat.
    mutating func command(_ line: String) throws -> String? {
        let words = line.split(separator: " ").map(String.init)
        switch words[0] {
        case "/quit", "/exit": return nil
        case "/reset":
            turns.removeAll()
            return "(history cleared)"
        case "/show":
            return "temperature \(sampling.temperature), top-k \(sampling.topK), top-p \(sampling.topP), "
                + "repeat-penalty \(sampling.repeatPenalty), seed \(sampling.seed), max-tokens \(maxTokens)"
        case "/set":
            guard words.count == 3 else { throw BloomError(.invalidArgument, "/set takes a name and a value") }
            let (name, value) = (words[1], words[2])
            var next = sampling
            switch name {
            case "temperature", "temp": next.temperature = try Self.number(value, name)
            case "top-k": next.topK = Int(try Self.number(value, name))
            case "top-p": next.topP = try Self.number(value, name)
            case "repeat-penalty": next.repeatPenalty = try Self.number(value, name)
            case "seed":
                guard let seed = UInt64(value) else {
                    throw BloomError(.invalidArgument, "seed '\(value)' is not a number")
                }
                next.seed = seed
            case "max-tokens":
                guard let n = Int(value), n >= 1, n < context else {
                    throw BloomError(.invalidArgument, "max-tokens '\(value)' must be 1 to \(context - 1)")
                }
                maxTokens = n
            default:
                throw BloomError(.invalidArgument, "unknown setting '\(name)'; "
                                 + "set temperature, top-k, top-p, repeat-penalty, seed or max-tokens")
            }
            try next.validate()
            sampling = next
            return "(\(name) \(value))"
        default:
            throw BloomError(.invalidArgument, "unknown command '\(words[0])'; try /reset, /set, /show or /quit")
        }
    }

    private static func number(_ text: String, _ name: String) throws -> Float {
        guard let v = Float(text), v.isFinite else {
            throw BloomError(.invalidArgument, "\(name) '\(text)' is not a number")
        }
        return v
    }
}
