import BloomArch
import BloomCore
import BloomGGUF
import Foundation

/// The tokenizer as llama.cpp's converter writes it for BLOOM (`_set_vocab_gpt2`): tokens by id padded to the
/// model's vocab_size with `[PAD{id}]` (UNUSED), token types, merges "a b", special ids.
public struct ConvertVocabulary: Sendable, Equatable {
    public var tokens: [String]
    public var tokenTypes: [Int32]
    public var merges: [String]
    public var bosID: UInt32?
    public var eosID: UInt32?
    public var unknownID: UInt32?
    public var paddingID: UInt32?

    /// Reads `tokenizer.json` (BPE model), `tokenizer_config.json` and `config.json` from `folder`.
    /// - Parameter vocabSize: the model's vocab_size (rows of the embedding); the token list is padded to it.
    /// - Throws: `.invalidArgument` when the tokenizer is not BPE, has an id at or past `vocabSize`, or is malformed.
    public init(folder: String, vocabSize: Int) throws {
        let path = folder + "/tokenizer.json"
        let json = try JSONFile.read(path)
        guard let model = json["model"], model["type"]?.string == "BPE" else {
            throw BloomError(.invalidArgument, "tokenizer model is \(json["model"]?["type"]?.string ?? "missing"), expected BPE", path: path)
        }
        guard let vocab = model["vocab"]?.object else {
            throw BloomError(.invalidArgument, "tokenizer has no model.vocab object", path: path)
        }
        var byID = [String?](repeating: nil, count: vocabSize)
        var ids: [String: Int] = [:]
        for (token, idValue) in vocab {
            guard let id = idValue.int, id >= 0 else {
                throw BloomError(.invalidArgument, "token '\(token)' has id \(idValue), not a non-negative integer", path: path)
            }
            guard id < vocabSize else {
                throw BloomError(.invalidArgument, "token '\(token)' has id \(id), past the model's vocab_size \(vocabSize)", path: path)
            }
            byID[id] = token
            ids[token] = id
        }
        var special = Set<Int>()
        var added = Set<Int>()
        for entry in json["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, let content = entry["content"]?.string, id >= 0 else {
                throw BloomError(.invalidArgument, "an added token has no id or content", path: path)
            }
            guard id < vocabSize else {
                throw BloomError(.invalidArgument, "added token '\(content)' has id \(id), past the model's vocab_size \(vocabSize)", path: path)
            }
            byID[id] = content
            ids[content] = id
            added.insert(id)
            if entry["special"]?.bool == true || Self.looksSpecial(content) { special.insert(id) }
        }
        tokens = byID.enumerated().map { $1 ?? "[PAD\($0)]" }
        tokenTypes = byID.indices.map { id -> Int32 in
            if byID[id] == nil { return GGUFTokenType.unused.rawValue }
            if special.contains(id) { return GGUFTokenType.control.rawValue }
            if added.contains(id) { return GGUFTokenType.userDefined.rawValue }
            return GGUFTokenType.normal.rawValue
        }
        merges = try (model["merges"]?.array ?? []).map { m -> String in
            if let s = m.string { return s }
            // The newer pair form: spaces inside a part become U+0120, as llama.cpp's converter writes them.
            guard let pair = m.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string else {
                throw BloomError(.invalidArgument, "a merge is neither \"a b\" nor a pair of strings", path: path)
            }
            return [a, b].map { $0.replacingOccurrences(of: " ", with: "\u{0120}") }.joined(separator: " ")
        }
        // Special ids as gguf-py's SpecialVocab finds them: tokenizer_config.json's tokens, then config.json's ids.
        let tokenizerConfig = FileManager.default.fileExists(atPath: folder + "/tokenizer_config.json")
            ? try JSONFile.read(folder + "/tokenizer_config.json") : JSONValue.object([])
        let config = FileManager.default.fileExists(atPath: folder + "/config.json")
            ? try JSONFile.read(folder + "/config.json") : JSONValue.object([])
        func specialID(_ kind: String) -> UInt32? {
            let entry = tokenizerConfig["\(kind)_token"]
            if let content = entry?.string ?? entry?["content"]?.string, let id = ids[content] { return UInt32(id) }
            if let id = config["\(kind)_token_id"]?.int, id >= 0, id < vocabSize { return UInt32(id) }
            return nil
        }
        bosID = specialID("bos")
        eosID = specialID("eos")
        unknownID = specialID("unk")
        paddingID = specialID("pad")
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
                                        (BloomGGUFKeys.unknownTokenID, unknownID), (BloomGGUFKeys.paddingTokenID, paddingID)]
        for case let (key, id?) in ids { out.append((key, .uint32(id))) }
        out.append((BloomGGUFKeys.addBOS, .bool(false)))
        out.append((BloomGGUFKeys.addEOS, .bool(false)))
        return out
    }
}
