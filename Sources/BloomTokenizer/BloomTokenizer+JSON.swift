import BloomCore
import Foundation

/// Loading from a Hugging Face tokenizer.json (tokenizers' serialization, version "1.0").
///
/// Only BLOOM's pipeline is accepted, since it is the one implemented: no normalizer; pre-tokenizer
/// Sequence[Split(BLOOM's regex, Isolated), ByteLevel(add_prefix_space false, use_regex false)]; ByteLevel decoder;
/// ByteLevel or no post-processor; a BPE model without dropout, subword prefix/suffix, byte fallback or
/// ignore_merges; no truncation or padding. Anything else is refused with `.unsupported`, naming the part.
extension BloomTokenizer {
    /// Loads `tokenizer.json`.
    ///
    /// - Parameters:
    ///   - path: the tokenizer.json file.
    ///   - specialTokens: the BOS/EOS/UNK/PAD ids (tokenizer.json itself does not say which token is which).
    /// - Throws: `BloomError` (`.io`, `.invalidJSON`, `.invalidTokenizer`, `.unsupported`, `.limitExceeded`), with `path`.
    public convenience init(tokenizerJSONPath path: String, specialTokens: SpecialTokens = SpecialTokens()) throws {
        let parts = try TokenizerJSON(path: path)
        do {
            try self.init(parts, specialTokens: specialTokens)
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }

    /// Loads a model folder's tokenizer: `tokenizer.json`, with the special tokens `specialTokens(inModelFolder:)`
    /// finds.
    ///
    /// - Throws: `BloomError`, with the path of the file at fault.
    public convenience init(modelFolder: String) throws {
        let loaded = try BloomTokenizer(tokenizerJSONPath: Self.folderPath(modelFolder, "tokenizer.json"))
        self.init(copying: loaded, specialTokens: try loaded.specialTokens(inModelFolder: modelFolder))
    }

    /// The special tokens a model folder names, as transformers loads them: `special_tokens_map.json`, then
    /// `tokenizer_config.json` for the roles it leaves out (a plain string or an AddedToken object with "content"),
    /// each resolved to this tokenizer's id for that content. A role no file names, or whose content this tokenizer
    /// lacks, is nil.
    ///
    /// - Throws: `BloomError` for a file that is there but cannot be read, with its path.
    public func specialTokens(inModelFolder folder: String) throws -> SpecialTokens {
        var names: [String: String] = [:]
        for file in ["special_tokens_map.json", "tokenizer_config.json"] {
            let path = Self.folderPath(folder, file)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let root = try JSONFile.read(path)
            for key in ["bos_token", "eos_token", "unk_token", "pad_token"] where names[key] == nil {
                if let name = root[key]?.string ?? root[key]?["content"]?.string { names[key] = name }
            }
        }
        func id(_ key: String) -> TokenID? { names[key].flatMap { self.id(for: $0) } }
        return SpecialTokens(bos: id("bos_token"), eos: id("eos_token"), unknown: id("unk_token"),
                             padding: id("pad_token"))
    }

    private static func folderPath(_ folder: String, _ file: String) -> String {
        folder.hasSuffix("/") ? folder + file : folder + "/" + file
    }

    /// Builds the tokenizer from a parsed tokenizer.json.
    ///
    /// - Throws: `BloomError` (`.invalidTokenizer`, `.unsupported`, `.limitExceeded`) with the JSON key at fault.
    public convenience init(tokenizerJSON root: JSONValue, specialTokens: SpecialTokens = SpecialTokens()) throws {
        try self.init(TokenizerJSON(root), specialTokens: specialTokens)
    }

    /// Builds the tokenizer from a tokenizer.json taken apart by `TokenizerJSON`.
    ///
    /// - Throws: `BloomError` (`.invalidTokenizer`, `.limitExceeded`) for an inconsistent vocabulary or merge,
    ///   located at "model".
    public convenience init(_ parts: TokenizerJSON, specialTokens: SpecialTokens = SpecialTokens()) throws {
        do {
            try self.init(vocabulary: parts.vocabulary, addedTokens: parts.addedTokens, merges: parts.merges,
                          unknownToken: parts.unknownToken, fuseUnknown: parts.fuseUnknown,
                          specialTokens: specialTokens)
        } catch var error as BloomError {
            if error.location == nil { error.location = "model" }
            throw error
        }
    }

    /// The one reader of tokenizer.json: checks BLOOM's pipeline and takes the BPE model and added tokens apart.
    ///
    /// - Throws: `BloomError` (`.invalidTokenizer`, `.unsupported`, `.limitExceeded`) with the JSON key at fault.
    static func read(tokenizerJSON root: JSONValue) throws -> TokenizerJSON {
        guard root.object != nil else { throw Self.invalid("the top level is not an object", at: "") }
        if let version = root["version"], version.string != "1.0" {
            throw BloomError(.unsupported, "tokenizer.json version \(Self.describe(version)), not \"1.0\"", location: "version")
        }
        for key in ["truncation", "padding", "normalizer"] {
            if let value = root[key], !value.isNull {
                throw BloomError(.unsupported, "\(key) \(Self.describe(value)) is not supported (BLOOM has none)", location: key)
            }
        }
        try Self.checkPreTokenizer(root["pre_tokenizer"])
        if let post = root["post_processor"], !post.isNull, post["type"]?.string != "ByteLevel" {
            throw BloomError(.unsupported, "post_processor \(Self.describe(post)) is not supported (BLOOM's is ByteLevel)", location: "post_processor")
        }
        guard let decoder = root["decoder"], decoder["type"]?.string == "ByteLevel" else {
            throw BloomError(.unsupported, "decoder \(Self.describe(root["decoder"] ?? .null)) is not supported (BLOOM's is ByteLevel)", location: "decoder")
        }
        guard let model = root["model"], model.object != nil else { throw Self.invalid("no model object", at: "model") }
        if let type = model["type"], type.string != "BPE" {
            throw BloomError(.unsupported, "model type \(Self.describe(type)) is not supported (BLOOM's is BPE)", location: "model.type")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            // "" behaves as null: tokenizers glues it to the symbol, which changes nothing.
            if let value = model[key], !value.isNull, value.string != "" {
                throw BloomError(.unsupported, "model.\(key) \(Self.describe(value)) is not supported", location: "model.\(key)")
            }
        }
        if let dropout = model["dropout"], !dropout.isNull, dropout.double != 0 {
            throw BloomError(.unsupported, "model.dropout \(Self.describe(dropout)) is not supported", location: "model.dropout")
        }
        for key in ["byte_fallback", "ignore_merges"] {
            if let value = model[key], !value.isNull, value.bool != false {
                throw BloomError(.unsupported, "model.\(key) \(Self.describe(value)) is not supported", location: "model.\(key)")
            }
        }
        var unknownToken: String?
        if let unk = model["unk_token"], !unk.isNull {
            guard let name = unk.string else { throw Self.invalid("unk_token is not a string", at: "model.unk_token") }
            unknownToken = name
        }
        var fuseUnknown = false
        if let fuse = model["fuse_unk"], !fuse.isNull {
            guard let value = fuse.bool else { throw Self.invalid("fuse_unk is not a boolean", at: "model.fuse_unk") }
            fuseUnknown = value
        }

        guard let vocabPairs = model["vocab"]?.object else { throw Self.invalid("no vocab object", at: "model.vocab") }
        guard vocabPairs.count <= TokenizerLimits.maxVocabularySize else {
            throw BloomError(.limitExceeded, "\(vocabPairs.count) tokens, more than the \(TokenizerLimits.maxVocabularySize) allowed", location: "model.vocab")
        }
        let addedEntries = root["added_tokens"]?.array ?? []
        let addedContents = Set(addedEntries.compactMap { $0["content"]?.string.map(TokenKey.init) })
        var vocabulary: [(String, TokenID)] = []
        vocabulary.reserveCapacity(vocabPairs.count)
        var modelIDOfAdded: [TokenKey: TokenID] = [:]
        for (token, value) in vocabPairs {
            guard let id = value.int, let id32 = TokenID(exactly: id) else {
                throw Self.invalid("token '\(token)' has id \(Self.describe(value)), not a 32-bit integer", at: "model.vocab")
            }
            vocabulary.append((token, id32))
            if !addedContents.isEmpty, addedContents.contains(TokenKey(token)) { modelIDOfAdded[TokenKey(token)] = id32 }
        }

        guard let mergeValues = model["merges"]?.array else { throw Self.invalid("no merges array", at: "model.merges") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeValues.count)
        var rank = 0
        for value in mergeValues {
            if let line = value.string {
                // Legacy "a b" lines, split on the one space; "#version" lines are comments.
                if line.hasPrefix("#version") { continue }
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw Self.invalid("merge \(rank) '\(line)' is not two tokens separated by one space", at: "model.merges")
                }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = value.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                merges.append((left, right))
            } else {
                throw Self.invalid("merge \(rank) is \(Self.describe(value)), neither \"a b\" nor [\"a\", \"b\"]", at: "model.merges")
            }
            rank += 1
        }

        // Added tokens get their ids as tokenizers' AddedVocabulary::add_tokens gives them: an already added content
        // keeps its id, a content in the model's vocabulary takes that id, anything else the next id after the
        // model's token count (the file's "id" is only checked by tokenizers, with a warning).
        var added: [AddedToken] = []
        var nextID = vocabulary.count
        for (index, entry) in addedEntries.enumerated() {
            let where_ = "added_tokens[\(index)]"
            guard let content = entry["content"]?.string else { throw Self.invalid("no content string", at: where_) }
            // tokenizers reads the id as a u32 and refuses the file otherwise; so does bloomkit.
            if let id = entry["id"], !id.isNull, id.int.map({ !(0...Int(UInt32.max)).contains($0) }) ?? true {
                throw Self.invalid("id \(Self.describe(id)) is not an integer in 0...\(UInt32.max)", at: where_)
            }
            func flag(_ key: String, _ fallback: Bool) throws -> Bool {
                guard let value = entry[key], !value.isNull else { return fallback }
                guard let b = value.bool else { throw Self.invalid("\(key) is not a boolean", at: where_) }
                return b
            }
            let isSpecial = try flag("special", false)
            if content.isEmpty { continue }
            let id: TokenID
            if let existing = added.last(where: { $0.content.utf8.elementsEqual(content.utf8) })?.id ?? modelIDOfAdded[TokenKey(content)] {
                id = existing
            } else {
                guard let fresh = TokenID(exactly: nextID) else { throw Self.invalid("too many added tokens", at: where_) }
                id = fresh
                nextID += 1
            }
            let token = AddedToken(id: id, content: content, special: isSpecial, singleWord: try flag("single_word", false),
                                   leftStrip: try flag("lstrip", false), rightStrip: try flag("rstrip", false),
                                   normalized: try flag("normalized", !isSpecial))
            added.removeAll { $0.id == id }
            added.append(token)
        }
        return TokenizerJSON(vocabulary: vocabulary, addedTokens: added, merges: merges, unknownToken: unknownToken,
                             fuseUnknown: fuseUnknown)
    }

    private static func checkPreTokenizer(_ value: JSONValue?) throws {
        let expected = "Sequence[Split(Regex \(BloomPreTokenizer.pattern), Isolated), ByteLevel(add_prefix_space false, use_regex false)]"
        func refuse() -> BloomError {
            BloomError(.unsupported, "pre_tokenizer \(describe(value ?? .null)) is not BLOOM's \(expected)", location: "pre_tokenizer")
        }
        guard let value, value["type"]?.string == "Sequence", let steps = value["pretokenizers"]?.array, steps.count == 2 else {
            throw refuse()
        }
        let split = steps[0], byteLevel = steps[1]
        guard split["type"]?.string == "Split", split["pattern"]?["Regex"]?.string == BloomPreTokenizer.pattern,
              split["behavior"]?.string == "Isolated", split["invert"]?.bool != true,
              byteLevel["type"]?.string == "ByteLevel", byteLevel["add_prefix_space"]?.bool == false,
              byteLevel["use_regex"]?.bool == false else {
            throw refuse()
        }
    }

    private static func invalid(_ message: String, at location: String) -> BloomError {
        BloomError(.invalidTokenizer, "tokenizer.json: \(message)", location: location.isEmpty ? nil : location)
    }

    /// A short rendering of a JSON value for messages.
    private static func describe(_ value: JSONValue) -> String {
        let text = JSONWriter.string(value)
        return text.count <= 120 ? text : String(text.prefix(117)) + "..."
    }
}
