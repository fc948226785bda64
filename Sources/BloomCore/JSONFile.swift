/// The one way a JSON file is read (config.json, indexes, adapter_config.json, tokenizer.json and its companions):
/// through the input door, bounded, parsed strictly.
public enum JSONFile {
    /// The largest JSON file read. BLOOM's tokenizer.json, the largest JSON a checkpoint holds, is about 15 MB;
    /// configs and indexes are kilobytes. The parsed tree's memory is bounded by the parser's value budget
    /// (`JSONParser.defaultMaxValues`, about 300 MB at most), checked as it parses.
    public static let maxBytes = 64 << 20

    /// Parses `path` strictly (duplicate keys refused, nesting bounded); errors carry the path.
    /// - Throws: `.io` (missing, not a regular file), `.limitExceeded` (past `maxBytes`, before reading it),
    ///   `.invalidJSON`.
    public static func read(_ path: String) throws -> JSONValue {
        let file = try MappedFile(path: path, maxBytes: maxBytes, what: "JSON file")
        file.identity.map(InputFiles.pin)
        do {
            return try withExtendedLifetime(file) { try JSONParser().parse(file.bytes) }
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }
}
