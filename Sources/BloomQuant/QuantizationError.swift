import CKernels
import Foundation

/// How far a tensor's round trip (quantize, then dequantize) lies from the original values: what
/// `convert --report` prints per tensor and in total.
///
/// Sums are kept in f64 and merge exactly as the pieces were measured, so a tensor measured in chunks and merged in
/// chunk order gives the same figures whatever the thread count. Pairs with a NaN or an infinity on either side are
/// counted in `nonFiniteCount` and left out of every other figure.
public struct QuantizationError: Sendable, Equatable {
    /// Finite pairs measured.
    public var count: Int = 0
    /// Pairs left out because the original or its round trip is NaN or infinite.
    public var nonFiniteCount: Int = 0
    /// Σ (original − roundTrip)².
    public var sumSquaredError: Double = 0
    /// Σ original².
    public var sumSquaredSignal: Double = 0
    /// max |original − roundTrip|.
    public var maxAbs: Double = 0

    /// No pairs yet.
    public init() {}

    /// Root mean square of the error; 0 for no pairs.
    public var rmse: Double { count == 0 ? 0 : (sumSquaredError / Double(count)).squareRoot() }

    /// Signal-to-noise ratio in decibels, 10·log10(Σx² / Σ(x−y)²): +∞ for an exact round trip.
    public var snrDB: Double {
        if sumSquaredError == 0 { return .infinity }
        return 10 * log10(sumSquaredSignal / sumSquaredError)
    }

    /// Adds the pairs of `other` (a later chunk, another tensor) to these.
    public mutating func merge(_ other: QuantizationError) {
        count += other.count
        nonFiniteCount += other.nonFiniteCount
        sumSquaredError += other.sumSquaredError
        sumSquaredSignal += other.sumSquaredSignal
        maxAbs = Swift.max(maxAbs, other.maxAbs)
    }

    /// These pairs and those of `other`.
    public func merging(_ other: QuantizationError) -> QuantizationError {
        var merged = self
        merged.merge(other)
        return merged
    }

    /// Measures `original` against `roundTrip` (the same count of values).
    /// - Precondition: both buffers have the same count.
    public static func measure(original: UnsafeBufferPointer<Float>,
                               roundTrip: UnsafeBufferPointer<Float>) -> QuantizationError {
        precondition(original.count == roundTrip.count,
                     "measure: \(original.count) originals, \(roundTrip.count) round trips")
        var error = QuantizationError()
        error.add(original.baseAddress, roundTrip.baseAddress, original.count)
        return error
    }

    /// Adds the n pairs at `original` and `roundTrip` (the C accumulator, AVX2 when available).
    mutating func add(_ original: UnsafePointer<Float>?, _ roundTrip: UnsafePointer<Float>?, _ n: Int) {
        guard n > 0, let original, let roundTrip else { return }
        var acc = bk_quant_error()
        bk_quant_error_accumulate(original, roundTrip, n, &acc)
        merge(QuantizationError(count: Int(acc.count), nonFiniteCount: Int(acc.nonfinite),
                                sumSquaredError: acc.sum_sq_err, sumSquaredSignal: acc.sum_sq_ref, maxAbs: acc.max_abs))
    }

    init(count: Int, nonFiniteCount: Int, sumSquaredError: Double, sumSquaredSignal: Double, maxAbs: Double) {
        self.count = count
        self.nonFiniteCount = nonFiniteCount
        self.sumSquaredError = sumSquaredError
        self.sumSquaredSignal = sumSquaredSignal
        self.maxAbs = maxAbs
    }
}
