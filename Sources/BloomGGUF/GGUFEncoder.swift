import BloomCore

/// Serializes a GGUF header (little-endian) into memory: magic, version, counts, KVs, tensor infos.
struct GGUFEncoder {
    private(set) var bytes: [UInt8] = []
    /// Offset of each key's value payload (after its type id) in `bytes`.
    private(set) var valueOffsets: [String: Int] = [:]

    mutating func int<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ s: String) {
        int(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func header(metadata: GGUFMetadata, tensors: [GGUFTensorInfo]) {
        int(GGUFLimits.magic)
        int(GGUFLimits.version)
        int(UInt64(tensors.count))
        int(UInt64(metadata.count))
        for (key, value) in metadata.entries {
            string(key)
            int(value.type.rawValue)
            valueOffsets[key] = bytes.count
            self.value(value)
        }
        for t in tensors {
            string(t.name)
            int(UInt32(t.ne.count))
            for d in t.ne { int(UInt64(d)) }
            int(t.type.rawValue)
            int(UInt64(t.offset))
        }
    }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): int(x)
        case .int8(let x): int(x)
        case .uint16(let x): int(x)
        case .int16(let x): int(x)
        case .uint32(let x): int(x)
        case .int32(let x): int(x)
        case .float32(let x): int(x.bitPattern)
        case .bool(let x): int(UInt8(x ? 1 : 0))
        case .string(let x): string(x)
        case .uint64(let x): int(x)
        case .int64(let x): int(x)
        case .float64(let x): int(x.bitPattern)
        case .array(let a):
            int(a.elementType.rawValue)
            int(UInt64(a.count))
            switch a {
            case .uint8(let xs): bytes.append(contentsOf: xs)
            case .int8(let xs): for x in xs { int(x) }
            case .uint16(let xs): for x in xs { int(x) }
            case .int16(let xs): for x in xs { int(x) }
            case .uint32(let xs): for x in xs { int(x) }
            case .int32(let xs): for x in xs { int(x) }
            case .float32(let xs): for x in xs { int(x.bitPattern) }
            case .bool(let xs): for x in xs { int(UInt8(x ? 1 : 0)) }
            case .string(let xs): for x in xs { string(x) }
            case .uint64(let xs): for x in xs { int(x) }
            case .int64(let xs): for x in xs { int(x) }
            case .float64(let xs): for x in xs { int(x.bitPattern) }
            }
        }
    }
}
