import ArgumentParser
import BloomRuntime
import Foundation

/// Sampling flags `generate` and `chat` share, with llama.cpp's names beside bloomkit's (`--temp`, `-s`).
struct SamplingOptions: ParsableArguments {
    @Option(name: [.customLong("temperature"), .customLong("temp")], help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0
    @Option(name: .long, help: "Sample from the K most likely tokens (0: all).") var topK = 50
    @Option(name: .long, help: "Sample from the most likely tokens holding probability P.") var topP: Float = 1
    @Option(name: .long, help: "Penalty for tokens already in the text (1: off).") var repeatPenalty: Float = 1
    @Option(name: [.customShort("s"), .long],
            help: "Seed of the sampler (default: a random one, printed on stderr when sampling).")
    var seed: UInt64?

    /// The parameters, with `seed` or a fresh random seed (llama-cli's default) when none was given.
    func parameters() -> SamplingParameters {
        SamplingParameters(temperature: temperature, topK: topK, topP: topP, repeatPenalty: repeatPenalty,
                           seed: seed ?? UInt64.random(in: 0...UInt64(UInt32.max)))
    }
}
