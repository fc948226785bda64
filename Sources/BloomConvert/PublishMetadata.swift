import BloomArch
import BloomCore
import BloomGGUF
import Foundation

/// The authorship `general.*` keys of a GGUF file, found as llama.cpp's converter finds them (gguf-py
/// `Metadata.load` and `apply_metadata_heuristic`, convert_hf_to_gguf.py `prepare_metadata`): the model card's YAML
/// header, then config.json's `_name_or_path` (when it is a model id, not a path), then the folder's name (a Hub
/// repository id for a Hub-cache snapshot, never the snapshot's hash); then a `--metadata` override file (gguf-py's
/// format: "general.name", "general.base_models", …) and `--name`; the size label from the parameter count last.
/// The recommended sampler settings (`general.sampling.*`) come from generation_config.json and the override file.
public struct PublishMetadata: Sendable, Equatable {
    public var sampling = SamplingMetadata()
    public var name: String?
    public var author: String?
    public var version: String?
    public var organization: String?
    public var finetune: String?
    public var basename: String?
    public var description: String?
    public var quantizedBy: String?
    public var sizeLabel: String?
    /// A list in the card is joined with "," when written, as gguf-py does.
    public var license: [String]?
    public var licenseName: String?
    public var licenseLink: String?
    public var url: String?
    public var doi: String?
    public var uuid: String?
    public var repoURL: String?
    public var sourceURL: String?
    public var sourceDOI: String?
    public var sourceUUID: String?
    public var sourceRepoURL: String?
    /// Each a map with some of name, author, version, organization, description, url, doi, uuid, repo_url.
    public var baseModels: [[String: String]]?
    public var tags: [String]?
    public var languages: [String]?
    public var datasets: [[String: String]]?

    public init() {}

    /// What the metadata is found from, before the parameter count is known.
    public struct Source: Sendable {
        /// The model card's header (`ModelCard.header`).
        public var card: JSONValue
        /// config.json.
        public var config: JSONValue
        /// generation_config.json (an empty object when the folder has none).
        public var generationConfig: JSONValue
        /// The name when nothing else names the model: `HubCache.publicName` of its folder.
        public var folderName: String
        /// A `--metadata` file's object.
        public var override: JSONValue
        /// `--name`.
        public var name: String?

        public init(card: JSONValue = .object([]), config: JSONValue = .object([]),
                    generationConfig: JSONValue = .object([]), folderName: String,
                    override: JSONValue = .object([]), name: String? = nil) {
            self.card = card
            self.config = config
            self.generationConfig = generationConfig
            self.folderName = folderName
            self.override = override
            self.name = name
        }
    }

    /// The metadata of `source` for a model of `totalParameters` (see the other initializer).
    public init(_ source: Source, totalParameters: Int) {
        self.init(card: source.card, config: source.config, generationConfig: source.generationConfig,
                  folderName: source.folderName, override: source.override, name: source.name,
                  totalParameters: totalParameters)
    }

    /// The keys of a base model or dataset entry, in the order gguf-py writes them.
    static let entryKeys = ["name", "author", "version", "organization", "description", "url", "doi", "uuid",
                            "repo_url"]

    /// The metadata for a model folder, as `convert_hf_to_gguf.py MODEL [--metadata FILE] [--model-name NAME]`
    /// finds it.
    /// - Parameters:
    ///   - card: the model card's header (`ModelCard.header`).
    ///   - config: config.json; `generationConfig`: generation_config.json.
    ///   - folderName: the model's name when nothing else names it: the folder's last component, or `ORG/NAME` for a
    ///     Hub-cache snapshot.
    ///   - override: a `--metadata` file's object; `name`: `--name`.
    ///   - totalParameters: elements of all tensors written (0: unknown, no size label from it).
    public init(card: JSONValue, config: JSONValue, generationConfig: JSONValue = .object([]), folderName: String,
                override: JSONValue = .object([]), name: String? = nil, totalParameters: Int) {
        self.init()
        applyCard(card, totalParameters: totalParameters)
        sampling.apply(generationConfig: generationConfig)
        if let nameOrPath = config["_name_or_path"]?.string, nameOrPath.filter({ $0 == "/" }).count <= 1 {
            applyModelID(nameOrPath, totalParameters: totalParameters)
        }
        applyModelID(folderName, totalParameters: totalParameters)
        applyOverride(override)
        if let name { self.name = name }
        if self.name == nil { self.name = folderName }
        if sizeLabel == nil, totalParameters > 0 { sizeLabel = Self.sizeLabel(parameters: totalParameters) }
    }

    /// The GGUF entries, in gguf-py's order (`set_gguf_meta_model`).
    public var metadataEntries: [(String, GGUFValue)] {
        var out = sampling.metadataEntries
        // gguf-py's add_string writes nothing for an empty string.
        func add(_ key: String, _ value: String?) {
            if let value, !value.isEmpty { out.append((key, .string(value))) }
        }
        add(BloomGGUFKeys.name, name)
        add("general.author", author)
        add("general.version", version)
        add("general.organization", organization)
        add("general.finetune", finetune)
        add("general.basename", basename)
        add("general.description", description)
        add("general.quantized_by", quantizedBy)
        add("general.size_label", sizeLabel)
        add("general.license", license?.joined(separator: ","))
        add("general.license.name", licenseName)
        add("general.license.link", licenseLink)
        add("general.url", url)
        add("general.doi", doi)
        add("general.uuid", uuid)
        add("general.repo_url", repoURL)
        add("general.source.url", sourceURL)
        add("general.source.doi", sourceDOI)
        add("general.source.uuid", sourceUUID)
        add("general.source.repo_url", sourceRepoURL)
        for (prefix, entries) in [("general.base_model", baseModels), ("general.dataset", datasets)] {
            guard let entries else { continue }
            out.append(("\(prefix).count", .uint32(UInt32(clamping: entries.count))))
            for (i, entry) in entries.enumerated() {
                for key in Self.entryKeys { add("\(prefix).\(i).\(key)", entry[key]) }
            }
        }
        if let tags { out.append(("general.tags", .array(.string(tags)))) }
        if let languages { out.append(("general.languages", .array(.string(languages)))) }
        return out
    }

    // MARK: - The heuristics, in gguf-py's order

    mutating func applyCard(_ card: JSONValue, totalParameters: Int) {
        func use(_ field: WritableKeyPath<PublishMetadata, String?>, _ key: String) {
            if self[keyPath: field] == nil, let value = card[key]?.string { self[keyPath: field] = value }
        }
        let direct: [(WritableKeyPath<PublishMetadata, String?>, String)] = [
            (\.name, "name"), (\.author, "author"), (\.version, "version"), (\.organization, "organization"),
            (\.description, "description"), (\.finetune, "finetune"), (\.basename, "basename"),
            (\.sizeLabel, "size_label"), (\.sourceURL, "url"), (\.sourceDOI, "doi"), (\.sourceUUID, "uuid"),
            (\.sourceRepoURL, "repo_url"),
        ]
        for (field, key) in direct { use(field, key) }
        for (field, key) in direct { use(field, "model_" + key) }
        use(\.author, "model_creator")
        use(\.basename, "model_type")

        if let value = Self.firstPresent(card, ["base_model", "base_models", "base_model_sources"]) {
            baseModels = (baseModels ?? []) + Self.entries(value, totalParameters: totalParameters)
        }
        if let value = Self.firstPresent(card, ["datasets", "dataset", "dataset_sources"]) {
            datasets = (datasets ?? []) + Self.entries(value, totalParameters: totalParameters)
        }
        if license == nil, let value = card["license"] {
            license = value.string.map { [$0] } ?? value.array?.compactMap(\.string)
        }
        use(\.licenseName, "license_name")
        use(\.licenseLink, "license_link")
        for (key, field) in [("tags", \PublishMetadata.tags), ("pipeline_tag", \.tags), ("languages", \.languages),
                             ("language", \.languages)] {
            guard let value = card[key], value != .null else { continue }
            let items = value.string.map { [$0] } ?? value.array?.compactMap(\.string) ?? []
            self[keyPath: field] = (self[keyPath: field] ?? []) + items
        }
    }

    /// The first of `keys` present in `card` (even with a null value, as Python's nested `dict.get` does).
    static func firstPresent(_ card: JSONValue, _ keys: [String]) -> JSONValue? {
        guard let pairs = card.object else { return nil }
        for key in keys { if let pair = pairs.first(where: { $0.0 == key }) { return pair.1 } }
        return nil
    }

    /// Base model or dataset entries from a card value: ids, URLs or maps.
    static func entries(_ value: JSONValue, totalParameters: Int) -> [[String: String]] {
        let items = value.string != nil ? [value] : value.array ?? []
        return items.compactMap { item -> [String: String]? in
            if let map = item.object {
                var entry: [String: String] = [:]
                for (k, v) in map { if let s = v.string { entry[k] = s } }
                return entry
            }
            guard let id = item.string else { return nil }
            var entry: [String: String] = [:]
            if id.hasPrefix("http://") || id.hasPrefix("https://") || id.hasPrefix("ssh://") {
                entry["repo_url"] = id
                if let repo = hubRepository(inURL: id) {
                    let c = ModelIDComponents(repo, totalParameters: totalParameters)
                    entry["name"] = c.fullName.map(titled)
                    entry["organization"] = c.organization.map(titled)
                    entry["version"] = c.version
                }
                return entry
            }
            let c = ModelIDComponents(id, totalParameters: totalParameters)
            entry["name"] = c.fullName.map(titled)
            entry["organization"] = c.organization.map(titled)
            entry["version"] = c.version
            if let org = c.organization, let full = c.fullName {
                entry["repo_url"] = "https://huggingface.co/\(org)/\(full)"
            }
            return entry
        }
    }

    /// `ORG/NAME` of `https://huggingface.co/ORG/NAME` (exactly two parts after the host).
    static func hubRepository(inURL url: String) -> String? {
        for prefix in ["https://huggingface.co/", "http://huggingface.co/"] where url.hasPrefix(prefix) {
            let parts = url.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            return String(url.dropFirst(prefix.count))
        }
        return nil
    }

    /// Fills what is still unset from a model id's components.
    mutating func applyModelID(_ id: String, totalParameters: Int) {
        let c = ModelIDComponents(id, totalParameters: totalParameters)
        if name == nil { name = c.fullName.map(Self.titled) }
        if organization == nil { organization = c.organization.map(Self.titled) }
        if basename == nil { basename = c.basename }
        if finetune == nil { finetune = c.finetune }
        if version == nil { version = c.version }
        if sizeLabel == nil { sizeLabel = c.sizeLabel }
    }

    /// A `--metadata` file: gguf-py's `load_metadata_override` keys (its general.license is not among them).
    mutating func applyOverride(_ override: JSONValue) {
        let keys: [(WritableKeyPath<PublishMetadata, String?>, String)] = [
            (\.name, "general.name"), (\.author, "general.author"), (\.version, "general.version"),
            (\.organization, "general.organization"), (\.finetune, "general.finetune"),
            (\.basename, "general.basename"), (\.description, "general.description"),
            (\.quantizedBy, "general.quantized_by"), (\.sizeLabel, "general.size_label"),
            (\.licenseName, "general.license.name"), (\.licenseLink, "general.license.link"),
            (\.url, "general.url"), (\.doi, "general.doi"), (\.uuid, "general.uuid"), (\.repoURL, "general.repo_url"),
            (\.sourceURL, "general.source.url"), (\.sourceDOI, "general.source.doi"),
            (\.sourceUUID, "general.source.uuid"), (\.sourceRepoURL, "general.source.repo_url"),
        ]
        for (field, key) in keys { if let value = override[key]?.string { self[keyPath: field] = value } }
        sampling.apply(override: override)
        for (field, key) in [(\PublishMetadata.baseModels, "general.base_models"), (\.datasets, "general.datasets")] {
            guard let list = override[key]?.array else { continue }
            self[keyPath: field] = list.compactMap { item in
                item.object.map { pairs in
                    var entry: [String: String] = [:]
                    for (k, v) in pairs { if let s = v.string { entry[k] = s } }
                    return entry
                }
            }
        }
        if let tags = override["general.tags"]?.array { self.tags = tags.compactMap(\.string) }
        if let languages = override["general.languages"]?.array { self.languages = languages.compactMap(\.string) }
    }

    /// gguf-py `size_label` for a dense model: the parameter count with at least two significant digits, K/M/B/T.
    public static func sizeLabel(parameters: Int) -> String {
        let count = Double(parameters)
        let (scaled, suffix): (Double, String) = count > 1e12 ? (count * 1e-12, "T") : count > 1e9 ? (count * 1e-9, "B")
            : count > 1e6 ? (count * 1e-6, "M") : (count * 1e-3, "K")
        // Python's round() rounds half to even; the digits of the integer part, leading zeros dropped.
        let integerDigits = String(Int(scaled.rounded(.toNearestOrEven))).drop { $0 == "0" }.count
        let fractionDigits = max(2 - integerDigits, 0)
        return String(format: "%.\(fractionDigits)f", scaled) + suffix
    }

    /// gguf-py `id_to_title`: words (split at "-" and spaces) in title case unless they have capitals or are a
    /// version or start with a digit.
    static func titled(_ id: String) -> String {
        let words = id.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "-", with: " ")
            .split(whereSeparator: \.isWhitespace)
        return words.map { word -> String in
            let hasCased = word.contains { $0.isLowercase || $0.isUppercase }
            let isLower = hasCased && !word.contains(where: \.isUppercase)
            guard isLower, !ModelIDComponents.isVersionOrNumber(word) else { return String(word) }
            var out = ""
            var previousCased = false
            for c in word {
                let cased = c.isLowercase || c.isUppercase
                out += cased ? (previousCased ? c.lowercased() : c.uppercased()) : String(c)
                previousCased = cased
            }
            return out
        }.joined(separator: " ")
    }
}
