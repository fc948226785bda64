import BloomCore
import BloomTokenizer
import CKernels
import Foundation

/// What to generate and how.
public struct GenerationRequest: Sendable {
    /// The text given to the model as is (no BOS: BLOOM's tokenizer adds none).
    public var prompt: String
    public var maxTokens: Int = 256
    public var sampling = SamplingParameters()
    /// 1: greedy or sampling; more: beam search (deterministic; no sampling).
    public var beams: Int = 1
    /// Generation ends where the text contains one of these; the text stops before it.
    public var stops: [String] = []
    /// Asked before each step after the first token: true ends generation (reason `.interrupted`), e.g. on Ctrl-C.
    public var shouldStop: @Sendable () -> Bool = { false }

    public init(prompt: String, maxTokens: Int = 256, sampling: SamplingParameters = SamplingParameters(),
                beams: Int = 1, stops: [String] = [], shouldStop: @escaping @Sendable () -> Bool = { false }) {
        self.shouldStop = shouldStop
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.beams = beams
        self.stops = stops
    }
}

/// Why generation ended.
public enum StopReason: String, Sendable {
    case eos, length, stop, interrupted
}

/// Seconds and token counts of one generation.
public struct GenerationTimings: Sendable {
    public var promptTokens = 0
    /// Prompt processing, up to the first token's logits.
    public var promptSeconds = 0.0
    /// Forward passes after the prompt (one per generated token but the last; one per beam-search step).
    public var generationSteps = 0
    public var generationSeconds = 0.0
    /// From the start of prompt processing to the first generated token.
    public var firstTokenSeconds = 0.0

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generatedTokensPerSecond: Double {
        generationSeconds > 0 ? Double(generationSteps) / generationSeconds : 0
    }
}

public struct GenerationResult: Sendable {
    public var promptTokens: [TokenID]
    /// Generated ids, without a final EOS.
    public var tokens: [TokenID]
    /// The generated text, cut before a stop text.
    public var text: String
    public var stopReason: StopReason
    public var timings: GenerationTimings
}

/// Runs generation requests on one model: tokenizes, processes the prompt, decodes (greedy, sampling or beam
/// search), streams text, applies the stop rules.
public final class Generator {
    public let model: BloomModel
    public let tokenizer: BloomTokenizer
    public let pool: ThreadPool

    public init(model: BloomModel, tokenizer: BloomTokenizer, pool: ThreadPool) {
        self.model = model
        self.tokenizer = tokenizer
        self.pool = pool
    }

    /// Generates for `request`, calling `onText` with each piece of text as soon as it is certain (never half a
    /// character, never the start of a stop text). With beam search the text arrives at the end.
    /// - Throws: `.invalidRequest` (empty prompt, bad settings), `.limitExceeded` (a prompt past
    ///   `BloomTokenizer.maxTextBytes`), kernel-side errors.
    public func generate(_ request: GenerationRequest, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(tokens: tokenizer.encodeChecked(request.prompt), request, onText: onText)
    }

    /// Generates from prompt ids (the request's prompt text is not used).
    public func generate(tokens prompt: [TokenID], _ request: GenerationRequest,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try request.sampling.validate()
        guard request.maxTokens >= 1, request.maxTokens <= InferenceContext.maxCapacity else {
            throw BloomError(.invalidRequest,
                             "max tokens \(request.maxTokens) must be between 1 and \(InferenceContext.maxCapacity)")
        }
        guard request.beams >= 1, request.beams <= InferenceContext.maxSlots else {
            throw BloomError(.invalidRequest,
                             "beams \(request.beams) must be between 1 and \(InferenceContext.maxSlots)")
        }
        guard request.beams == 1 || request.sampling.isGreedy else {
            throw BloomError(.invalidRequest, "beam search is deterministic: it does not take a temperature")
        }
        guard !prompt.isEmpty else { throw BloomError(.invalidRequest, "the prompt is empty: nothing to continue") }
        let context = try InferenceContext(model: model, pool: pool, capacity: prompt.count + request.maxTokens,
                                           slots: request.beams)
        var stopper = StopScanner(stops: request.stops.filter { !$0.isEmpty })
        var timings = GenerationTimings()
        timings.promptTokens = prompt.count
        let eos = tokenizer.specialTokens.eos

        if request.beams > 1 {
            let start = Date()
            let search = BeamSearch(beams: request.beams, maxNewTokens: request.maxTokens, eos: eos,
                                    repeatPenalty: request.sampling.repeatPenalty)
            let result = try search.run(context: context, prompt: prompt)
            timings.promptSeconds = result.promptSeconds
            timings.firstTokenSeconds = result.firstTokenSeconds
            timings.generationSteps = result.steps
            timings.generationSeconds = max(0, Date().timeIntervalSince(start) - result.firstTokenSeconds)
            var tokens = result.tokens
            if result.stoppedAtEOS { tokens.removeLast() }
            var decoder = tokenizer.makeStreamingDecoder()
            var reason: StopReason = result.stoppedAtEOS ? .eos : .length
            for id in tokens where stopper.feed(decoder.append(id), emit: onText) { reason = .stop; break }
            if reason != .stop, stopper.feed(decoder.finish(), emit: onText) { reason = .stop }
            stopper.flush(emit: onText)
            return GenerationResult(promptTokens: prompt, tokens: tokens, text: stopper.text, stopReason: reason,
                                    timings: timings)
        }

        var sampler = Sampler(parameters: request.sampling)
        sampler.remember(prompt)
        var decoder = tokenizer.makeStreamingDecoder()
        var tokens: [TokenID] = []
        tokens.reserveCapacity(request.maxTokens)
        var reason = StopReason.length
        var step: [TokenID] = [0]  // reused: the token loop allocates nothing for the model
        let promptStart = Date()
        var logits = try context.evaluate(prompt)
        timings.promptSeconds = Date().timeIntervalSince(promptStart)
        var stepStart = Date()
        while true {
            let next = sampler.next(UnsafeMutableBufferPointer(mutating: logits))
            if tokens.isEmpty { timings.firstTokenSeconds = Date().timeIntervalSince(promptStart) }
            if next == eos {
                reason = .eos
                break
            }
            tokens.append(next)
            sampler.remember(CollectionOfOne(next))
            if stopper.feed(decoder.append(next), emit: onText) {
                reason = .stop
                break
            }
            if tokens.count == request.maxTokens { break }
            if request.shouldStop() {
                reason = .interrupted
                break
            }
            if tokens.count == 1 { stepStart = Date() }
            step[0] = next
            logits = try context.evaluate(step)
            timings.generationSteps += 1
        }
        if timings.generationSteps > 0 { timings.generationSeconds = Date().timeIntervalSince(stepStart) }
        if reason != .stop, stopper.feed(decoder.finish(), emit: onText) { reason = .stop }
        stopper.flush(emit: onText)
        return GenerationResult(promptTokens: prompt, tokens: tokens, text: stopper.text, stopReason: reason,
                                timings: timings)
    }
}

/// Finds stop texts in streamed text. Works on UTF-8 bytes; holds back the longest tail that could begin a stop
/// text, and emits everything else.
struct StopScanner {
    let stops: [[UInt8]]
    private var bytes: [UInt8] = []
    private var emitted = 0
    private var cut: Int?

    init(stops: [String]) { self.stops = stops.map { Array($0.utf8) } }

    /// The text so far, cut before the stop text if one was found.
    var text: String { String(decoding: bytes[..<(cut ?? bytes.count)], as: UTF8.self) }

    /// Adds text; returns true when a stop text is now complete (the text is cut before its earliest occurrence).
    mutating func feed(_ piece: String, emit: (String) -> Void) -> Bool {
        guard cut == nil else { return true }
        let before = bytes.count
        bytes.append(contentsOf: piece.utf8)
        guard let longest = stops.map(\.count).max() else {
            emitUpTo(bytes.count, emit)
            return false
        }
        for i in max(0, before - longest + 1)..<bytes.count {
            if stops.contains(where: { s in i + s.count <= bytes.count && bytes[i..<(i + s.count)].elementsEqual(s) }) {
                cut = i
                emitUpTo(i, emit)
                return true
            }
        }
        var hold = 0  // bytes at the end that begin some stop text
        for s in stops {
            for k in stride(from: min(s.count - 1, bytes.count), to: 0, by: -1)
            where bytes[(bytes.count - k)...].elementsEqual(s[..<k]) {
                hold = max(hold, k)
                break
            }
        }
        emitUpTo(safeBoundary(bytes.count - hold), emit)
        return false
    }

    /// Emits whatever was held back (generation ended without a stop text).
    mutating func flush(emit: (String) -> Void) { emitUpTo(cut ?? bytes.count, emit) }

    private mutating func emitUpTo(_ end: Int, _ emit: (String) -> Void) {
        guard end > emitted else { return }
        emit(String(decoding: bytes[emitted..<end], as: UTF8.self))
        emitted = end
    }

    /// The largest index ≤ i that does not split a UTF-8 character.
    private func safeBoundary(_ i: Int) -> Int {
        var j = i
        while j > emitted && j < bytes.count && bytes[j] & 0xC0 == 0x80 { j -= 1 }
        return j
    }
}
