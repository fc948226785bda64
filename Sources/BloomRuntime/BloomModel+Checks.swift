import BloomArch
import BloomCore
import BloomGGUF
import BloomTokenizer

extension BloomModel {
    /// The tokenizer stored in the model's file, checked against the model: every id must have an embedding row.
    /// - Throws: the tokenizer's errors and `.invalidModel` for a tokenizer larger than token_embd, with the path.
    public func loadTokenizer() throws -> BloomTokenizer {
        do {
            let tokenizer = try BloomTokenizer(ggufMetadata: metadata)
            guard tokenizer.vocabularySize <= hyperParameters.vocabSize else {
                throw BloomError(.invalidModel, "the tokenizer has \(tokenizer.vocabularySize) tokens but token_embd "
                                 + "has \(hyperParameters.vocabSize) rows: ids past them have no embedding",
                                 location: BloomGGUFKeys.tokens)
            }
            return tokenizer
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }

    /// The file's Alpaca templates (see `PromptTemplate(metadata:)`), with the path in any error.
    public func promptTemplate() throws -> PromptTemplate {
        do {
            return try PromptTemplate(metadata: metadata)
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }

    /// The first tensor of the file holding a NaN or an infinity (in an F32/F16/BF16 element or a block's f16
    /// scale), or nil. Read only after the logits came out non-finite, to name the cause.
    func firstNonFiniteTensor() -> String? {
        guard let tensors = (storage as? GGUFFile)?.tensors ?? (storage as? GGUFSplitSet)?.tensors else { return nil }
        for t in tensors where Self.holdsNonFinite(t.type, t.bytes) { return t.name }
        return nil
    }

    static func holdsNonFinite(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer) -> Bool {
        func halfNonFinite(_ at: Int) -> Bool {
            bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self) & 0x7C00 == 0x7C00
        }
        switch type {
        case .F32:
            for k in stride(from: 0, to: bytes.count - 3, by: 4)
            where !bytes.loadUnaligned(fromByteOffset: k, as: Float.self).isFinite { return true }
        case .F16:
            for k in stride(from: 0, to: bytes.count - 1, by: 2) where halfNonFinite(k) { return true }
        case .BF16:
            for k in stride(from: 0, to: bytes.count - 1, by: 2)
            where bytes.loadUnaligned(fromByteOffset: k, as: UInt16.self) & 0x7F80 == 0x7F80 { return true }
        case .Q8_0, .Q4_0, .Q4_1:
            // Blocks start with an f16 scale d (Q4_1: then an f16 min m); the quants themselves are integers.
            let blockBytes = type.blockLayout.bytes
            for k in stride(from: 0, to: bytes.count - blockBytes + 1, by: blockBytes)
            where halfNonFinite(k) || (type == .Q4_1 && halfNonFinite(k + 2)) { return true }
        default:
            return false
        }
        return false
    }
}
