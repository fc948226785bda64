import BloomCore
import BloomTokenizer

/// llama-perplexity's saved base log-probabilities (`--kl-divergence-base FILE`), read and written byte for byte
/// as tools/perplexity does, so either tool reads the other's file. Little-endian, no padding:
///
///     "_logits_"                  8 bytes
///     n_ctx     u32
///     n_vocab   i32
///     n_chunk   i32
///     tokens    i32 × n_ctx·n_chunk          the evaluated text, chunk after chunk
///     records   per chunk, n_ctx − 1 − n_ctx/2 positions (n_ctx/2 … n_ctx−2), each
///               `LogProbs16.recordLength(n_vocab)` UInt16s (see `LogProbs16`)
public final class SavedLogProbs {
    public static let magic = Array("_logits_".utf8)
    /// Why: the header is 20 bytes; the limits keep every size computation far inside Int and refuse
    /// nonsense headers before any allocation.
    public static let maxContext = InferenceContext.maxCapacity
    public static let maxVocab = 1 << 24

    public let path: String
    public let context: Int
    public let vocab: Int
    public let chunkCount: Int
    /// n_ctx · n_chunk tokens.
    public let tokens: [TokenID]
    private let file: MappedFile
    private let recordsOffset: Int

    /// Positions scored (and stored) per chunk.
    public var positionsPerChunk: Int { Self.positions(context: context) }

    static func positions(context n: Int) -> Int { n - 1 - n / 2 }

    /// Maps `path` and checks the header and the size against it.
    /// - Throws: `.invalidArgument` for a file without the magic or with impossible sizes, `.truncated` or
    ///   `.invalidArgument` when its size is not the one the header implies; every error names the file.
    public convenience init(path: String) throws {
        do {
            try self.init(file: try MappedFile(path: path, what: "saved log-probabilities file"))
        } catch let error as BloomError {
            throw error.path == nil ? error.at(path: path) : error
        }
    }

    private init(file: MappedFile) throws {
        let path = file.path
        let header = try file.slice(offset: 0, length: 20, what: "the saved log-probabilities header")
        guard Array(header[0..<8]) == Self.magic else {
            throw BloomError(.invalidArgument, "not a file of saved log-probabilities (no \"_logits_\" magic)",
                             path: path, location: "offset 0")
        }
        let n = Int(header.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
        let v = Int(Int32(littleEndian: header.loadUnaligned(fromByteOffset: 12, as: Int32.self)))
        let c = Int(Int32(littleEndian: header.loadUnaligned(fromByteOffset: 16, as: Int32.self)))
        guard n >= 4, n % 2 == 0, n <= Self.maxContext else {
            throw BloomError(.invalidArgument, "context \(n) must be even, 4 or more and at most \(Self.maxContext)",
                             path: path, location: "offset 8")
        }
        guard v >= 2, v <= Self.maxVocab else {
            throw BloomError(.invalidArgument, "vocabulary size \(v) is outside 2…\(Self.maxVocab)", path: path,
                             location: "offset 12")
        }
        guard c >= 1 else { throw BloomError(.invalidArgument, "chunk count \(c) is below 1", path: path,
                                             location: "offset 16") }
        let tokenCount = try Checked.multiply(n, c, "token count")
        let recordsOffset = try Checked.add(20, try Checked.multiply(tokenCount, 4, "token bytes"), "records offset")
        let recordBytes = try Checked.product([c, Self.positions(context: n), LogProbs16.recordLength(vocab: v), 2],
                                              "log-probability bytes")
        let expected = try Checked.add(recordsOffset, recordBytes, "file size")
        guard file.count == expected else {
            throw BloomError(file.count < expected ? .truncated : .invalidArgument,
                             "the file has \(file.count) bytes; its header (context \(n), vocabulary \(v), "
                             + "\(c) chunks) "
                             + "needs \(expected)", path: path)
        }
        let raw = try file.slice(offset: 20, length: tokenCount * 4, what: "tokens")
        var tokens = [TokenID](repeating: 0, count: tokenCount)
        for i in 0..<tokenCount {
            let t = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
            guard t >= 0, Int(t) < v else {
                throw BloomError(.invalidArgument, "token \(t) is outside the vocabulary of \(v)", path: path,
                                 location: "offset \(20 + 4 * i)")
            }
            tokens[i] = TokenID(t)
        }
        self.path = path
        self.file = file
        context = n
        vocab = v
        chunkCount = c
        self.tokens = tokens
        self.recordsOffset = recordsOffset
    }

    /// The records of chunk `c`: `positionsPerChunk` × `LogProbs16.recordLength(vocab)` UInt16s.
    public func records(chunk c: Int) -> UnsafePointer<UInt16> {
        let bytes = positionsPerChunk * LogProbs16.recordLength(vocab: vocab) * 2
        return (file.base! + recordsOffset + c * bytes).assumingMemoryBound(to: UInt16.self)
    }
}

/// Writes a `SavedLogProbs` file as perplexity runs: the header and tokens first, then each chunk's records;
/// the file appears under its name only on `commit()`.
public final class SavedLogProbsWriter {
    private let file: AtomicFile
    private let recordCount: Int
    private var chunksLeft: Int

    /// - Parameters:
    ///   - tokens: the first `context · chunks` tokens are written (those the chunks cover).
    /// - Throws: `AtomicFile`'s errors.
    public init(path: String, context: Int, vocab: Int, chunks: Int, tokens: [TokenID]) throws {
        file = try AtomicFile(destination: path)
        recordCount = SavedLogProbs.positions(context: context) * LogProbs16.recordLength(vocab: vocab)
        chunksLeft = chunks
        var header = SavedLogProbs.magic
        for v in [UInt32(context), UInt32(vocab), UInt32(chunks)] {
            withUnsafeBytes(of: v.littleEndian) { header += $0 }
        }
        for t in tokens.prefix(context * chunks) { withUnsafeBytes(of: Int32(t).littleEndian) { header += $0 } }
        try file.write(header)
    }

    /// Appends one chunk's records (`positions × recordLength` UInt16s).
    func append(chunk records: UnsafeBufferPointer<UInt16>) throws {
        precondition(records.count == recordCount && chunksLeft > 0, "chunk records of the wrong size")
        try file.write(UnsafeRawBufferPointer(records))
        chunksLeft -= 1
    }

    /// Renames the file into place once every chunk is written.
    public func commit() throws {
        guard chunksLeft == 0 else {
            throw BloomError(.io, "\(chunksLeft) chunks of log-probabilities were never written",
                             path: file.destination)
        }
        try file.commit()
    }
}
