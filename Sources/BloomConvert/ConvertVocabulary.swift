import BloomArch
import BloomCore
import BloomGGUF
import BloomTokenizer
import Foundation

/// The tokenizer as llama.cpp's converter writes it for BLOOM (`_set_vocab_gpt2` and gguf-py's `SpecialVocab`):
/// tokens by id padded to the model's vocab_size with `[PAD{id}]` (UNUSED), token types, merges "a b", special ids.
/// tokenizer.json is read by BloomTokenizer's one reader (`TokenizerJSON`), so the converter writes only what the
/// runtime's tokenizer accepts, with the ids Hugging Face tokenizers gives.
public struct ConvertVocabulary: Sendable, Equatable {
    public var tokens: [String]
    public var tokenTypes: [Int32]
    public var merges: [String]
    public var bosID: UInt32?
    public var eosID: UInt32?
    public var unknownID: UInt32?
    public var paddingID: UInt32?

    /// Reads `tokenizer.json` and the special tokens `special_tokens_map.json` / `tokenizer_config.json` name from
    /// `folder`.
    /// - Parameters:
    ///   - vocabSize: the model's vocab_size (rows of the embedding); the token list is padded to it.
    ///   - config: the model's config.json, whose `*_token_id` give the roles the tokenizer files leave out
    ///     (as gguf-py's SpecialVocab falls back on them).
    /// - Throws: the tokenizer reader's errors (`.unsupported` for a pipeline other than BLOOM's, `.invalidTokenizer`),
    ///   `.invalidArgument` when the tokenizer has an id at or past `vocabSize`; with the path.
    public init(folder: String, vocabSize: Int, config: JSONValue = .object([])) throws {
        let path = folder + "/tokenizer.json"
        let parts = try TokenizerJSON(path: path)
        let tokenizer: BloomTokenizer
        do {
            tokenizer = try BloomTokenizer(parts)
        } catch let error as BloomError {
            throw error.at(path: path)
        }
        func token(_ id: Int) -> String? { TokenID(exactly: id).flatMap(tokenizer.token(for:)) }
        guard tokenizer.vocabularySize <= vocabSize else {
            let last = tokenizer.vocabularySize - 1
            let message = "token '\(token(last) ?? "")' has id \(last), past the model's vocab_size \(vocabSize)"
            throw BloomError(.invalidArgument, message, path: path)
        }
        var special: [TokenID: Bool] = [:]
        for added in tokenizer.addedTokens { special[added.id] = added.special || Self.looksSpecial(added.content) }
        tokens = (0..<vocabSize).map { token($0) ?? "[PAD\($0)]" }
        tokenTypes = (0..<vocabSize).map { id -> Int32 in
            guard token(id) != nil else { return GGUFTokenType.unused.rawValue }
            switch TokenID(exactly: id).flatMap({ special[$0] }) {
            case true?: return GGUFTokenType.control.rawValue
            case false?: return GGUFTokenType.userDefined.rawValue
            case nil: return GGUFTokenType.normal.rawValue
            }
        }
        // Spaces inside a part (tokenizer.json's pair form) become U+0120, as llama.cpp's converter writes them.
        merges = parts.merges.map { pair in
            [pair.0, pair.1].map { $0.replacingOccurrences(of: " ", with: "\u{0120}") }.joined(separator: " ")
        }
        let named = try tokenizer.specialTokens(inModelFolder: folder)
        func specialID(_ id: TokenID?, _ role: String) -> UInt32? {
            if let id { return UInt32(exactly: id) }
            guard let id = config["\(role)_token_id"]?.int, id >= 0, id < vocabSize else { return nil }
            return UInt32(exactly: id)
        }
        bosID = specialID(named.bos, "bos")
        eosID = specialID(named.eos, "eos")
        unknownID = specialID(named.unknown, "unk")
        paddingID = specialID(named.padding, "pad")
    }

    /// gguf-py's `does_token_look_special`.
    static func looksSpecial(_ t: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t) || (t.hasPrefix("<|") && t.hasSuffix("|>"))
            || (t.hasPrefix("<｜") && t.hasSuffix("｜>")) || (t.hasPrefix("<unused") && t.hasSuffix(">"))
    }

    /// The tokenizer.ggml.* KVs with llama.cpp's value types.
    public var metadataEntries: [(String, GGUFValue)] {
        var out: [(String, GGUFValue)] = [
            (BloomGGUFKeys.tokenizerModel, .string(BloomGGUFKeys.gpt2)),
            (BloomGGUFKeys.tokenizerPre, .string(BloomGGUFKeys.bloomPre)),
            (BloomGGUFKeys.tokens, .array(.string(tokens))),
            (BloomGGUFKeys.tokenType, .array(.int32(tokenTypes))),
            (BloomGGUFKeys.merges, .array(.string(merges))),
        ]
        let ids: [(String, UInt32?)] = [(BloomGGUFKeys.bosTokenID, bosID), (BloomGGUFKeys.eosTokenID, eosID),
                                        (BloomGGUFKeys.unknownTokenID, unknownID),
                                        (BloomGGUFKeys.paddingTokenID, paddingID)]
        for case let (key, id?) in ids { out.append((key, .uint32(id))) }
        out.append((BloomGGUFKeys.addBOS, .bool(false)))
        out.append((BloomGGUFKeys.addEOS, .bool(false)))
        return out
    }
}
