import BloomCore

/// GGUF metadata: key/value pairs in file order, looked up by key. Keys are unique.
/// The typed getters are strict like llama.cpp's `get_key<T>`: a key with another value type is an error.
public struct GGUFMetadata: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var values: [String: GGUFValue] = [:]

    public init() {}

    /// Pairs in order; a repeated key is an error.
    public init(_ pairs: [(String, GGUFValue)]) throws {
        for (k, v) in pairs { try append(k, v) }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Pairs in file order.
    public var entries: [(key: String, value: GGUFValue)] { keys.map { ($0, values[$0]!) } }

    public subscript(key: String) -> GGUFValue? { values[key] }

    public func contains(_ key: String) -> Bool { values[key] != nil }

    /// Adds a key at the end; throws `.ggufDuplicateKey` if it is already there.
    public mutating func append(_ key: String, _ value: GGUFValue) throws {
        guard values[key] == nil else { throw BloomError(.ggufDuplicateKey, "duplicate key '\(key)'") }
        keys.append(key)
        values[key] = value
    }

    /// Sets a key: replaces the value in place if present, else appends.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
    }

    /// Removes a key if present.
    public mutating func remove(_ key: String) {
        guard values.removeValue(forKey: key) != nil else { return }
        keys.removeAll { $0 == key }
    }

    /// The value of `key`, or `.ggufMissingKey`.
    public func value(_ key: String) throws -> GGUFValue {
        guard let v = values[key] else { throw BloomError(.ggufMissingKey, "key '\(key)' is missing") }
        return v
    }

    private func wrongType(_ key: String, _ v: GGUFValue, _ expected: String) -> BloomError {
        BloomError(.ggufWrongType, "key '\(key)' has type \(v.typeName), expected \(expected)")
    }

    public func uint16(_ key: String) throws -> UInt16 {
        let v = try value(key)
        guard case .uint16(let x) = v else { throw wrongType(key, v, "UINT16") }
        return x
    }

    public func uint32(_ key: String) throws -> UInt32 {
        let v = try value(key)
        guard case .uint32(let x) = v else { throw wrongType(key, v, "UINT32") }
        return x
    }

    public func uint64(_ key: String) throws -> UInt64 {
        let v = try value(key)
        guard case .uint64(let x) = v else { throw wrongType(key, v, "UINT64") }
        return x
    }

    public func int32(_ key: String) throws -> Int32 {
        let v = try value(key)
        guard case .int32(let x) = v else { throw wrongType(key, v, "INT32") }
        return x
    }

    public func float32(_ key: String) throws -> Float {
        let v = try value(key)
        guard case .float32(let x) = v else { throw wrongType(key, v, "FLOAT32") }
        return x
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard case .bool(let x) = v else { throw wrongType(key, v, "BOOL") }
        return x
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard case .string(let x) = v else { throw wrongType(key, v, "STRING") }
        return x
    }

    public func array(_ key: String) throws -> GGUFArray {
        let v = try value(key)
        guard case .array(let x) = v else { throw wrongType(key, v, "ARRAY") }
        return x
    }

    public func stringArray(_ key: String) throws -> [String] {
        let v = try value(key)
        guard case .array(.string(let x)) = v else { throw wrongType(key, v, "ARRAY[STRING]") }
        return x
    }

    public func int32Array(_ key: String) throws -> [Int32] {
        let v = try value(key)
        guard case .array(.int32(let x)) = v else { throw wrongType(key, v, "ARRAY[INT32]") }
        return x
    }

    public func uint64Array(_ key: String) throws -> [UInt64] {
        let v = try value(key)
        guard case .array(.uint64(let x)) = v else { throw wrongType(key, v, "ARRAY[UINT64]") }
        return x
    }

    public func float32Array(_ key: String) throws -> [Float] {
        let v = try value(key)
        guard case .array(.float32(let x)) = v else { throw wrongType(key, v, "ARRAY[FLOAT32]") }
        return x
    }

    /// The value if the key is present (typed getter), nil if absent; a wrong type is still an error.
    public func optional<T>(_ key: String, _ get: (GGUFMetadata) -> (String) throws -> T) throws -> T? {
        guard contains(key) else { return nil }
        return try get(self)(key)
    }

    public static func == (a: GGUFMetadata, b: GGUFMetadata) -> Bool { a.keys == b.keys && a.values == b.values }
}
