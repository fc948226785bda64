import BloomArch
import TestSupport
import XCTest

final class QKVLayoutTests: XCTestCase {
    func testRelayoutMatchesLlamaCppAndInverts() {
        for (heads, headDim, rowLength) in [(4, 16, 64), (6, 16, 96), (1, 8, 8), (3, 5, 1)] {
            let layout = QKVLayout(headCount: heads, headDim: headDim)
            let w = (0..<(3 * heads * headDim * rowLength)).map { Float($0) }
            let g = layout.toGGUF(w, rowLength: rowLength)
            XCTAssertEqual(g, llamaCppQKV(w, heads: heads, headDim: headDim, rowLength: rowLength))
            XCTAssertEqual(layout.toHF(g, rowLength: rowLength), w)
            for r in 0..<layout.rowCount {
                XCTAssertEqual(layout.ggufRow(ofHFRow: layout.hfRow(ofGGUFRow: r)), r)
            }
            // Runs cover any chunk exactly, each run contiguous in both orders.
            for (start, count) in [(0, layout.rowCount), (3, 7),
                                   (headDim - 1, headDim + 2)] where start + count <= layout.rowCount {
                let runs = layout.hfRuns(ggufRows: start, count: count)
                XCTAssertEqual(runs.reduce(0) { $0 + $1.length }, count)
                for run in runs {
                    for i in 0..<run.length { XCTAssertEqual(layout.hfRow(ofGGUFRow: run.gguf + i), run.hf + i) }
                }
            }
        }
    }
}
