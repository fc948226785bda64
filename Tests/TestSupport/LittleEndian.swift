extension Array where Element == UInt8 {
    /// Appends `v` little-endian, as every format here stores integers.
    public mutating func le<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}
