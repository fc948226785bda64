import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress on stderr for long work (tensors and bytes done, rate, time left), redrawn at most 10 times a second.
/// Silent when stderr is not a terminal or when `quiet`.
public final class ProgressReporter: @unchecked Sendable {
    public let label: String
    public let totalBytes: Int
    public let totalItems: Int
    public let enabled: Bool
    private let start = ProgressReporter.now()
    private var lastDraw = 0.0
    private var lock = pthread_mutex_t()

    public init(label: String, totalItems: Int, totalBytes: Int, quiet: Bool = false) {
        self.label = label
        self.totalItems = totalItems
        self.totalBytes = totalBytes
        self.enabled = !quiet && isatty(2) == 1
        pthread_mutex_init(&lock, nil)
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    public var elapsed: Double { ProgressReporter.now() - start }

    public func update(items: Int, bytes: Int, force: Bool = false) {
        guard enabled else { return }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let t = ProgressReporter.now()
        guard force || t - lastDraw >= 0.1 else { return }
        lastDraw = t
        let dt = max(t - start, 1e-6)
        let rate = Double(bytes) / dt
        let left = rate > 0 ? Double(totalBytes - bytes) / rate : 0
        let line = "\r\(label)  \(items)/\(totalItems) tensors  \(ByteCount.format(bytes))/\(ByteCount.format(totalBytes))  \(ByteCount.format(Int(rate)))/s  \(Int(left.rounded()))s left \u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Human byte counts ("1.5 GB", decimal units as Hugging Face and disks use) and their parser ("5GB", "300MB", "2GiB").
public enum ByteCount {
    public static func format(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n)
        var k = 0
        while v >= 1000, k < units.count - 1 { v /= 1000; k += 1 }
        if k == 0 { return "\(n) B" }
        return String(format: v >= 100 ? "%.0f %@" : "%.1f %@", v, units[k])
    }

    /// Largest size `parse` accepts: 2^62 bytes (4 EiB), far past any disk, well inside Int.
    public static let maxParsed = 1 << 62

    /// "5GB", "300MB", "2GiB", "1024": the byte count, or nil for anything else — a negative, non-finite or
    /// non-numeric value, or one past `maxParsed` ("1e30GB", "infTB").
    public static func parse(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces).uppercased()
        let table: [(String, Double)] = [("TIB", 1_099_511_627_776), ("GIB", 1_073_741_824), ("MIB", 1_048_576),
                                         ("KIB", 1024), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1)]
        for (suffix, scale) in table where s.hasSuffix(suffix) {
            guard let v = Double(s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v.isFinite, v >= 0
            else { return nil }
            let bytes = (v * scale).rounded(.down)
            guard bytes.isFinite, bytes <= Double(maxParsed) else { return nil }
            return Int(bytes)
        }
        guard let n = Int(s), n >= 0, n <= maxParsed else { return nil }
        return n
    }
}
