/// A bounds-checked little-endian cursor over bytes read from a file. Every read checks the remaining length
/// first and throws `.truncated` naming the offset; nothing here can trap on file data.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int
    /// Added to `offset` in error messages (the position of `bytes` in the file).
    public let baseOffset: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, baseOffset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.baseOffset = baseOffset
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }

    public func require(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw BloomError(.truncated, "\(what()) needs \(n) bytes but only \(max(remaining, 0)) remain",
                             location: "offset \(baseOffset + offset)")
        }
    }

    public mutating func skip(_ n: Int, _ what: @autoclosure () -> String = "skip") throws {
        try require(n, what())
        offset += n
    }

    public mutating func seek(to position: Int) throws {
        guard position >= 0, position <= bytes.count else {
            throw BloomError(.outOfBounds,
                             "position \(baseOffset + position) is past the end (\(baseOffset + bytes.count))")
        }
        offset = position
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type,
                                                    _ what: @autoclosure () -> String = "value") throws -> T {
        try require(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    public mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type,
                                                             _ what: @autoclosure () -> String = "value") throws -> T {
        try require(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(bigEndian: v)
    }

    public mutating func readFloat(_ what: @autoclosure () -> String = "f32") throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    public mutating func readDouble(_ what: @autoclosure () -> String = "f64") throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    public mutating func readBytes(_ n: Int,
                                   _ what: @autoclosure () -> String = "bytes") throws -> UnsafeRawBufferPointer {
        try require(n, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return slice
    }

    /// `n` bytes as UTF-8; invalid UTF-8 is an error (names in model files must be text).
    public mutating func readUTF8(_ n: Int, _ what: @autoclosure () -> String = "string") throws -> String {
        let start = baseOffset + offset
        let raw = try readBytes(n, what())
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw BloomError(.invalidArgument, "\(what()) is not valid UTF-8", location: "offset \(start)")
        }
        return s
    }
}
