import TestSupport

/// Little-endian bytes, built field by field.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { bytes.le(v) }
    mutating func u64(_ v: UInt64) { bytes.le(v) }
    mutating func i64(_ v: Int64) { bytes.le(v) }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
}
