// The .bkz reader (header, index counts and records, paths, frame tiling), then every chunk decoded and checked
// (zstd frames against the recorded sizes, byte-plane joins, xxh64s): `verify`, random access to each tensor, and
// the inspect report; unpack of what verify passed.
import BloomCore
import BloomGGUF
import BloomPack
import Foundation
import FuzzSupport

@main
enum FuzzBKZ {
    static func main() {
        runFuzzer { input in
            // Half of the inputs get their header's index checksum recomputed, so mutations of the index reach its
            // parser instead of stopping at the checksum.
            var bytes = Array(input)
            if bytes.count >= 32, bytes.count % 2 == 0 {
                let offset = bytes.withUnsafeBytes {
                    Int(truncatingIfNeeded: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                }
                if offset >= 32, offset <= bytes.count {
                    let hash = bytes.withUnsafeBytes { XXHash64.hash(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                    withUnsafeBytes(of: hash.littleEndian) { h in bytes.replaceSubrange(24..<32, with: h) }
                }
            }
            let path = Scratch.write("input.bkz", bytes)
            expectCleanFailure {
                let archive = try BKZArchive(path: path)
                blackHole(archive.inspectText())
                blackHole(archive.inspectJSON())
                for k in archive.index.segments.indices {
                    expectCleanFailure {
                        let bytes = try archive.segmentBytes(k)
                        guard bytes.count == archive.index.segments[k].rawLength else {
                            fail("segment \(k) decoded to \(bytes.count) bytes, "
                                 + "not \(archive.index.segments[k].rawLength)")
                        }
                    }
                }
                let summary = try archive.verify(threads: 2)
                let total = archive.index.files.reduce(0) { $0 + $1.size }
                guard summary.bytes == total else { fail("verify passed over \(summary.bytes) of \(total) bytes") }
                // What verify passed, unpack writes (its workers place the chunks by offset): the same bytes.
                let out = Scratch.folder + "/out"
                _ = try? FileManager.default.removeItem(atPath: out)
                let unpacked = try archive.unpack(to: out, threads: 2)
                guard unpacked.bytes == total else { fail("unpack wrote \(unpacked.bytes) of \(total) bytes") }
                _ = try? FileManager.default.removeItem(atPath: out)
            }
        }
    }
}
