import ArgumentParser
import BloomRuntime
import Foundation

/// Sampling flags `generate` and `chat` share, with llama.cpp's names beside bloomkit's (`--temp`, `-s`). A flag not
/// given takes the file's recommended setting (`general.sampling.*`), as llama.cpp's tools do, else bloomkit's default.
struct SamplingOptions: ParsableArguments {
    @Option(name: [.customLong("temperature"), .customLong("temp")],
            help: "Sampling temperature (0: greedy; default: the file's general.sampling.temp, else 0).")
    var temperature: Float?
    @Option(name: .long, help: "Sample from the K most likely tokens (0: all; default: the file's, else 50).")
    var topK: Int?
    @Option(name: .long,
            help: "Sample from the most likely tokens holding probability P (default: the file's, else 1).")
    var topP: Float?
    @Option(name: .long, help: "Penalty for tokens already in the text (1: off; default: the file's, else 1).")
    var repeatPenalty: Float?
    @Option(name: [.customShort("s"), .long],
            help: "Seed of the sampler (default: a random one, printed on stderr when sampling).")
    var seed: UInt64?

    /// The parameters: each flag given, else the file's `recommended` setting, else the default; `seed` or a fresh
    /// random seed (llama-cli's default) when none was given.
    func parameters(recommended: SamplingParameters.Recommended = .init()) -> SamplingParameters {
        SamplingParameters(temperature: temperature, topK: topK, topP: topP, repeatPenalty: repeatPenalty,
                           seed: seed ?? UInt64.random(in: 0...UInt64(UInt32.max)), recommended: recommended)
    }
}
