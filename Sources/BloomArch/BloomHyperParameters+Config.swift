import BloomCore

extension BloomHyperParameters {
    /// From a typed config.json. `context_length` is `seq_length` if the config has one, else hidden_size, as
    /// llama.cpp's converter writes it (BLOOM configs have no seq_length; ALiBi does not bound the context).
    public init(config: BloomConfig, seqLength: Int?) throws {
        try self.init(vocabSize: config.vocabSize, contextLength: seqLength ?? config.hiddenSize,
                      embeddingLength: config.hiddenSize,
                      feedForwardLength: config.ffnSize, blockCount: config.layerCount, headCount: config.headCount,
                      layerNormEpsilon: Float(config.layerNormEpsilon))
    }
}
