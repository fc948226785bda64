import Foundation

/// A seeded generator (SplitMix64), so random test inputs are the same on every run and on every machine.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal value (Box–Muller).
    public mutating func gaussian() -> Float {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }

    /// `n` normal values with standard deviation `scale`.
    public mutating func gaussians(_ n: Int, scale: Float) -> [Float] { (0..<n).map { _ in gaussian() * scale } }

    /// `n` values uniform in (-scale, scale), 24 random bits each.
    public mutating func uniforms(_ n: Int, scale: Float) -> [Float] {
        (0..<n).map { _ in (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    /// Any 32-bit patterns: NaNs with payloads, infinities, subnormals included.
    public mutating func anyFloats(_ n: Int) -> [Float] {
        (0..<n).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &self)) }
    }
}

/// Same value, NaN equal to any NaN (payloads are not specified).
public func sameFloat(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
