import BloomArch
import BloomCore

/// A token id. BLOOM's vocabulary has 250,880 ids; GGUF stores token types as int32 too.
public typealias TokenID = Int32

/// BLOOM's tokenizer: byte-level BPE exactly as Hugging Face tokenizers runs BLOOM's tokenizer.json.
///
/// Encoding: added tokens are found in the raw text first (non-normalized ones, then normalized ones in what is
/// left, as tokenizers' `AddedVocabulary` does); the rest is split by BLOOM's Split regex (`BloomPreTokenizer`);
/// each piece is BPE-encoded over its bytes (`BPEModel`). No BOS or EOS is added (BLOOM's post-processor adds none).
///
/// Decoding: each token's byte-level characters map back to bytes and the concatenation is read as UTF-8, with
/// U+FFFD for each maximal invalid subsequence (Rust's `from_utf8_lossy`). `StreamingDecoder` gives the same text
/// token by token without splitting a character.
///
/// Load it with `init(gguf:)`, `init(modelFolder:)`, `init(tokenizerJSONPath:)`, or from plain arrays in GGUF's form
/// with `init(tokens:tokenTypes:merges:specialTokens:)`. Immutable and safe to share between threads.
public final class BloomTokenizer: Sendable {
    /// The ids with a role in generation (from the GGUF keys or the model folder's special tokens map).
    public struct SpecialTokens: Sendable, Equatable {
        public var bos: TokenID?
        public var eos: TokenID?
        public var unknown: TokenID?
        public var padding: TokenID?

        public init(bos: TokenID? = nil, eos: TokenID? = nil, unknown: TokenID? = nil, padding: TokenID? = nil) {
            self.bos = bos
            self.eos = eos
            self.unknown = unknown
            self.padding = padding
        }
    }

    public let specialTokens: SpecialTokens
    /// Tokens matched in the raw text (a content listed twice keeps its last entry).
    public let addedTokens: [AddedToken]

    /// `tokenStrings[id]`: the vocabulary spelling (byte-level characters, "Ġworld"), nil for ids with no token.
    private let tokenStrings: [String?]
    /// Token `id` decodes to `decodedBytes[decodedStart[id] ..< decodedStart[id + 1]]`.
    private let decodedStart: [Int32]
    private let decodedBytes: [UInt8]
    private let special: [Bool]
    private let idOfToken: [TokenKey: TokenID]
    private let model: BPEModel
    private let nonNormalizedTokens: AddedTokenMatcher
    private let normalizedTokens: AddedTokenMatcher

    /// The designated initializer: the BPE model's vocabulary and merges, and the added tokens with their ids.
    ///
    /// - Parameters:
    ///   - vocabulary: the model's tokens (byte-level spellings) and ids; spellings and ids must be unique.
    ///   - addedTokens: tokens matched in raw text; an added token's content takes precedence when decoding its id.
    ///   - merges: BPE merges, lowest rank first; both parts and their concatenation must be in `vocabulary`.
    ///     A pair listed twice keeps its last rank (as tokenizers does).
    ///   - unknownToken: the BPE model's unknown token for bytes the vocabulary lacks (nil: such bytes are dropped).
    ///   - fuseUnknown: whether a run of unknown bytes gives one unknown token.
    ///   - specialTokens: ids with a role in generation.
    ///   - idCount: the number of ids when it is more than the largest id + 1 (a GGUF vocabulary ending in UNUSED ids).
    /// - Throws: `BloomError` `.invalidTokenizer` for an inconsistent vocabulary or merge, `.limitExceeded` past
    ///   `TokenizerLimits`.
    init(vocabulary: [(String, TokenID)], addedTokens: [AddedToken], merges: [(String, String)], unknownToken: String?,
         fuseUnknown: Bool, specialTokens: SpecialTokens, idCount: Int = 0) throws {
        var idOfToken: [TokenKey: TokenID] = [:]
        idOfToken.reserveCapacity(vocabulary.count)
        var maxID: TokenID = -1
        for (token, id) in vocabulary {
            try Self.checkID(id, "token '\(token)'")
            try Self.checkLength(token)
            if let other = idOfToken.updateValue(id, forKey: TokenKey(token)) {
                throw BloomError(.invalidTokenizer,
                                 "token '\(token)' appears twice in the vocabulary (ids \(other) and \(id))")
            }
            maxID = max(maxID, id)
        }
        for token in addedTokens {
            try Self.checkID(token.id, "added token '\(token.content)'")
            try Self.checkLength(token.content)
            maxID = max(maxID, token.id)
        }
        let size = max(Int(maxID) + 1, min(idCount, TokenizerLimits.maxVocabularySize))

        var strings = [String?](repeating: nil, count: size)
        for (token, id) in vocabulary {
            if strings[Int(id)] != nil {
                throw BloomError(.invalidTokenizer,
                                 "id \(id) is given to two tokens, '\(strings[Int(id)] ?? "")' and '\(token)'")
            }
            strings[Int(id)] = token
        }
        var special = [Bool](repeating: false, count: size)
        for token in addedTokens {
            strings[Int(token.id)] = token.content
            special[Int(token.id)] = token.special
        }
        var start = [Int32](repeating: 0, count: size + 1)
        var bytes: [UInt8] = []
        for id in 0..<size {
            if let token = strings[id] { bytes.append(contentsOf: ByteLevel.decode(token)) }
            start[id + 1] = try Self.int32(bytes.count, "decoded vocabulary bytes")
        }

        var idOfByte = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            idOfByte[b] = idOfToken[TokenKey(ByteLevel.spelling(of: [UInt8(b)]))] ?? -1
        }
        guard merges.count <= TokenizerLimits.maxMerges else {
            throw BloomError(.limitExceeded,
                             "\(merges.count) merges, more than the \(TokenizerLimits.maxMerges) allowed")
        }
        var table = MergeTable(capacity: merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let a = idOfToken[TokenKey(left)], let b = idOfToken[TokenKey(right)] else {
                let missing = idOfToken[TokenKey(left)] == nil ? left : right
                throw BloomError(.invalidTokenizer,
                                 "merge \(rank) ('\(left)' '\(right)') names '\(missing)', which is not in the " +
                                 "vocabulary")
            }
            guard let merged = idOfToken[TokenKey(left + right)] else {
                throw BloomError(.invalidTokenizer,
                                 "merge \(rank) ('\(left)' '\(right)') gives '\(left + right)', which is not in the " +
                                 "vocabulary")
            }
            table.insert(a, b, rank: UInt32(rank), id: merged)
        }
        var unknownID: TokenID?
        if let unknownToken {
            guard let id = idOfToken[TokenKey(unknownToken)] else {
                throw BloomError(.invalidTokenizer, "unknown token '\(unknownToken)' is not in the vocabulary")
            }
            unknownID = id
        }

        self.specialTokens = specialTokens
        self.addedTokens = addedTokens
        self.tokenStrings = strings
        self.decodedStart = start
        self.decodedBytes = bytes
        self.special = special
        self.idOfToken = idOfToken
        self.model = BPEModel(idOfByte: idOfByte, merges: table, unknownID: unknownID, fuseUnknown: fuseUnknown)
        self.nonNormalizedTokens = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        self.normalizedTokens = AddedTokenMatcher(addedTokens.filter { $0.normalized })
    }

    /// The same tokenizer with other special token ids (the tables are shared, not copied).
    init(copying other: BloomTokenizer, specialTokens: SpecialTokens) {
        self.specialTokens = specialTokens
        self.addedTokens = other.addedTokens
        self.tokenStrings = other.tokenStrings
        self.decodedStart = other.decodedStart
        self.decodedBytes = other.decodedBytes
        self.special = other.special
        self.idOfToken = other.idOfToken
        self.model = other.model
        self.nonNormalizedTokens = other.nonNormalizedTokens
        self.normalizedTokens = other.normalizedTokens
    }

    /// Builds the tokenizer from GGUF-style arrays (`tokenizer.ggml.tokens`, `.token_type`, `.merges`), indexed by id.
    ///
    /// Tokens of type CONTROL (special) and USER_DEFINED are added tokens, matched in the raw text; UNUSED tokens
    /// (llama.cpp's `[PAD{id}]` fillers) are not part of the tokenizer: never produced, decoded to nothing.
    ///
    /// - Parameters:
    ///   - tokens: byte-level spellings, index = id.
    ///   - tokenTypes: one `GGUFTokenType` raw value per token, or empty for all NORMAL.
    ///   - merges: BPE merges, lowest rank first.
    ///   - specialTokens: the BOS/EOS/UNK/PAD ids (not used for encoding: BLOOM's BPE has no unknown token).
    /// - Throws: `BloomError` `.invalidTokenizer` (mismatched arrays, unknown type, bad merge), `.limitExceeded`.
    public convenience init(tokens: [String], tokenTypes: [Int32], merges: [(String, String)],
                            specialTokens: SpecialTokens) throws {
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw BloomError(.invalidTokenizer, "\(tokenTypes.count) token types for \(tokens.count) tokens")
        }
        guard tokens.count <= TokenizerLimits.maxVocabularySize else {
            throw BloomError(.limitExceeded,
                             "\(tokens.count) tokens, more than the \(TokenizerLimits.maxVocabularySize) allowed")
        }
        var vocabulary: [(String, TokenID)] = []
        vocabulary.reserveCapacity(tokens.count)
        var added: [AddedToken] = []
        for (index, token) in tokens.enumerated() {
            let id = TokenID(index)
            let raw = tokenTypes.isEmpty ? GGUFTokenType.normal.rawValue : tokenTypes[index]
            guard let type = GGUFTokenType(rawValue: raw) else {
                throw BloomError(.invalidTokenizer, "token \(id) ('\(token)') has type \(raw), not one of 1...6")
            }
            switch type {
            case .unused: continue
            case .control: added.append(AddedToken(id: id, content: token, special: true))
            case .userDefined: added.append(AddedToken(id: id, content: token, special: false))
            case .normal, .unknown, .byte: break
            }
            vocabulary.append((token, id))
        }
        try self.init(vocabulary: vocabulary, addedTokens: added, merges: merges, unknownToken: nil, fuseUnknown: false,
                      specialTokens: specialTokens, idCount: tokens.count)
    }

    /// Number of ids: the largest id + 1, or a GGUF file's token count; some ids may have no token.
    public var vocabularySize: Int { tokenStrings.count }

    /// The longest text `encode` takes: its BPE works on 32-bit positions. Callers reading text from files check it.
    public static let maxTextBytes = 1 << 30

    /// The tokens of `text`, as Hugging Face tokenizers' `encode(text).ids` gives them for this tokenizer.
    /// `text` must be at most `maxTextBytes` long.
    public func encode(_ text: String) -> [TokenID] {
        var text = text
        return text.withUTF8 { encode(utf8: $0) }
    }

    /// `encode(text)` for text of any length: the tokens, or `.limitExceeded` when `text` is longer than `maxTextBytes`
    /// (for text that comes from a file or a caller rather than a checked source).
    /// - Throws: `.limitExceeded` naming the length and the limit.
    public func encodeChecked(_ text: String) throws -> [TokenID] {
        guard text.utf8.count <= Self.maxTextBytes else {
            throw BloomError(.limitExceeded,
                             "the text is \(text.utf8.count) bytes, more than the \(Self.maxTextBytes) a tokenizer " +
                             "call takes")
        }
        return encode(text)
    }

    /// The tokens of UTF-8 text (it must be valid UTF-8, as a Swift `String` is).
    func encode(utf8 text: UnsafeBufferPointer<UInt8>) -> [TokenID] {
        precondition(text.count <= Self.maxTextBytes,
                     "encode takes at most \(Self.maxTextBytes) bytes of text, got \(text.count)")
        var out: [TokenID] = []
        out.reserveCapacity(text.count / 3 + 1)
        var workspace = BPEWorkspace()
        let model = self.model
        let normalizedTokens = self.normalizedTokens
        func encodePieces(_ range: Range<Int>) {
            BloomPreTokenizer.forEachPiece(in: text, range) { piece in
                workspace.encode(UnsafeBufferPointer(rebasing: text[piece]), with: model, into: &out)
            }
        }
        nonNormalizedTokens.forEachSegment(in: text, 0..<text.count) { segment in
            switch segment {
            case .token(let id): out.append(id)
            case .text(let range):
                // No normalizer: the normalized tokens are matched in the same text, second.
                normalizedTokens.forEachSegment(in: text, range) { inner in
                    switch inner {
                    case .token(let id): out.append(id)
                    case .text(let range): encodePieces(range)
                    }
                }
            }
        }
        return out
    }

    /// The text of `ids`, as Hugging Face tokenizers' `decode(ids, skip_special_tokens)` gives it.
    /// Ids with no token are skipped (as tokenizers does).
    public func decode(_ ids: [TokenID], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The raw bytes token `id` stands for (possibly part of a UTF-8 character); nil for ids with no token.
    public func bytes(of id: TokenID) -> ArraySlice<UInt8>? {
        guard id >= 0, Int(id) < tokenStrings.count, tokenStrings[Int(id)] != nil else { return nil }
        return decodedBytes[Int(decodedStart[Int(id)])..<Int(decodedStart[Int(id) + 1])]
    }

    func appendBytes(of id: TokenID, skipSpecialTokens: Bool, to out: inout [UInt8]) {
        guard let bytes = bytes(of: id), !(skipSpecialTokens && special[Int(id)]) else { return }
        out.append(contentsOf: bytes)
    }

    /// The vocabulary spelling of `id` (byte-level characters: "Ġworld" for " world"), or nil for ids with no token.
    public func token(for id: TokenID) -> String? {
        guard id >= 0, Int(id) < tokenStrings.count else { return nil }
        return tokenStrings[Int(id)]
    }

    /// The id of a vocabulary spelling or added token content, or nil.
    public func id(for token: String) -> TokenID? {
        addedTokens.last(where: { $0.content.utf8.elementsEqual(token.utf8) })?.id ?? idOfToken[TokenKey(token)]
    }

    /// Whether `id` is a special added token (skipped by `decode(_:skipSpecialTokens: true)`).
    public func isSpecial(_ id: TokenID) -> Bool {
        id >= 0 && Int(id) < special.count && special[Int(id)]
    }

    /// A decoder that turns ids into text one at a time, holding back incomplete UTF-8 characters.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    private static func checkID(_ id: TokenID, _ what: @autoclosure () -> String) throws {
        guard id >= 0, Int(id) < TokenizerLimits.maxVocabularySize else {
            throw BloomError(.limitExceeded, "\(what()) has id \(id), outside 0..<\(TokenizerLimits.maxVocabularySize)")
        }
    }

    private static func checkLength(_ token: String) throws {
        guard token.utf8.count <= TokenizerLimits.maxTokenBytes else {
            throw BloomError(.limitExceeded,
                             "a token of \(token.utf8.count) bytes, longer than the \(TokenizerLimits.maxTokenBytes) " +
                             "allowed")
        }
    }

    private static func int32(_ value: Int, _ what: String) throws -> Int32 {
        guard let v = Int32(exactly: value) else { throw BloomError(.limitExceeded, "\(what) (\(value)) past 2^31") }
        return v
    }
}
