import BloomCore
import Synchronization

/// The merged tensors holding a value their stored dtype cannot hold (NaN, an infinity, or a magnitude past the
/// dtype's largest finite value: an absurd lora_alpha, NaN factors), recorded as rows are read instead of stopping
/// at the first, so a merge can name every such tensor: refuse the output, or keep it with a warning.
public final class NonFiniteLog: Sendable {
    /// The first offending value of one tensor.
    public struct Finding: Sendable, Equatable {
        /// The tensor, in the base's spelling.
        public let tensor: String
        public let value: Float
        public let row: Int
        /// The largest magnitude the stored dtype holds.
        public let limit: Float
        /// The last adapter that changed the tensor (the one whose scaling or weights to look at).
        public let adapter: String?
    }

    private let state = Mutex<[Finding]>([])

    public init() {}

    /// Every tensor found so far, in the order they were read (the writer's: the base's order).
    public var findings: [Finding] { state.withLock { $0 } }

    func record(_ finding: Finding) {
        state.withLock { list in
            if !list.contains(where: { $0.tensor == finding.tensor }) { list.append(finding) }
        }
    }

    /// One line naming the tensors (the first 16, then how many more), each with its first value and row.
    public static func describe(_ findings: [Finding]) -> String {
        let shown = 16
        let named = findings.prefix(shown).map { "'\($0.tensor)' (\($0.value) in row \($0.row))" }
        let more = findings.count > shown ? " and \(findings.count - shown) more" : ""
        return named.joined(separator: ", ") + more
    }

    /// The largest magnitude `dtype` stores as a finite number (a larger one is written as an infinity).
    public static func limit(of dtype: DType) -> Float {
        switch dtype {
        case .F16: return 65504
        case .BF16: return Float(bitPattern: 0x7F7F_0000)
        default: return .greatestFiniteMagnitude
        }
    }
}
