import BloomCore
import BloomTokenizer
import Foundation
import XCTest
@testable import BloomRuntime

/// Stop texts over streamed pieces and the sampler's filters, on synthetic inputs.
final class DecodingTests: XCTestCase {
    private func scan(_ pieces: [String], stops: [String]) -> (emitted: [String], text: String, stopped: Bool) {
        var s = StopScanner(stops: stops)
        var out: [String] = []
        var stopped = false
        for p in pieces where !stopped { stopped = s.feed(p, emit: { out.append($0) }) }
        s.flush(emit: { out.append($0) })
        return (out, s.text, stopped)
    }

    func testStopTextSplitAcrossPiecesIsNeverPrinted() {
        let r = scan(["The answer", " is 4.\n##", "# Instr", "uction:\nmore"], stops: ["### Instruction:"])
        XCTAssertTrue(r.stopped)
        XCTAssertEqual(r.text, "The answer is 4.\n")
        XCTAssertEqual(r.emitted.joined(), "The answer is 4.\n")
        XCTAssertFalse(r.emitted.contains { $0.contains("#") })
    }

    func testHeldBackTextIsReleasedWhenItIsNotAStop() {
        let r = scan(["a #", "# b", " c"], stops: ["###"])
        XCTAssertFalse(r.stopped)
        XCTAssertEqual(r.text, "a ## b c")
        XCTAssertEqual(r.emitted.joined(), "a ## b c")
        XCTAssertEqual(r.emitted.first, "a ")  // "#" waited for the next piece
    }

    func testEarliestOfSeveralStopsWins() {
        let r = scan(["one two three"], stops: ["three", "two"])
        XCTAssertEqual(r.text, "one ")
    }

    func testNoStopsEmitsEverything() {
        let r = scan(["é", "😀", "x"], stops: [])
        XCTAssertEqual(r.emitted, ["é", "😀", "x"])
    }

    func testGreedyPicksTheFirstMaximum() {
        var logits: [Float] = [0, 3, 1, 3]
        var sampler = Sampler(parameters: SamplingParameters())
        XCTAssertEqual(logits.withUnsafeMutableBufferPointer { sampler.next($0) }, 1)
    }

    /// transformers' repetition penalty: positive logits divided, negative multiplied.
    func testRepetitionPenaltyChangesTheGreedyChoice() {
        var logits: [Float] = [2.0, 1.5, -1]
        var sampler = Sampler(parameters: SamplingParameters(repeatPenalty: 2))
        sampler.remember([0, 2])
        XCTAssertEqual(logits.withUnsafeMutableBufferPointer { sampler.next($0) }, 1)
        XCTAssertEqual(logits, [1.0, 1.5, -2])
    }

    private func draws(_ logits: [Float], _ p: SamplingParameters, seeds: Int = 300) -> Set<TokenID> {
        var out = Set<TokenID>()
        for seed in 0..<seeds {
            var l = logits
            var params = p
            params.seed = UInt64(seed)
            var s = Sampler(parameters: params)
            out.insert(l.withUnsafeMutableBufferPointer { s.next($0) })
        }
        return out
    }

    /// transformers' TopKLogitsWarper keeps the k largest and anything tied with the k-th.
    func testTopKKeepsTheKLargestAndTies() {
        XCTAssertEqual(draws([0, 1, 2, 3, 4, 5, 6, 7], SamplingParameters(temperature: 1, topK: 3)), [5, 6, 7])
        XCTAssertEqual(draws([1, 3, 3, 0], SamplingParameters(temperature: 1, topK: 1)), [1, 2])
    }

    /// TopPLogitsWarper keeps the smallest set of most likely tokens whose probability reaches p.
    func testTopPKeepsTheSmallestHeadReachingP() {
        let logits = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        XCTAssertEqual(draws(logits, SamplingParameters(temperature: 1, topK: 0, topP: 0.7)), [0, 1])
        XCTAssertEqual(draws(logits, SamplingParameters(temperature: 1, topK: 0, topP: 0.9)), [0, 1, 2])
        XCTAssertEqual(draws(logits, SamplingParameters(temperature: 1, topK: 0, topP: 1)), [0, 1, 2, 3])
    }

    /// Draws follow the distribution: with p = [0.5, 0.3, 0.15, 0.05], frequencies over 4000 seeds within 3%.
    func testDrawsFollowTheProbabilities() {
        let probs = [0.5, 0.3, 0.15, 0.05]
        let logits = probs.map { Float(log($0)) }
        var counts = [0, 0, 0, 0]
        for seed in 0..<4000 {
            var l = logits
            var s = Sampler(parameters: SamplingParameters(temperature: 1, topK: 0, seed: UInt64(seed)))
            counts[Int(l.withUnsafeMutableBufferPointer { s.next($0) })] += 1
        }
        for i in 0..<4 { XCTAssertEqual(Double(counts[i]) / 4000, probs[i], accuracy: 0.03, "token \(i)") }
    }

    func testRandomStreamDependsOnlyOnTheSeed() {
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7), c = RandomGenerator(seed: 8)
        let x = (0..<8).map { _ in a.next() }
        XCTAssertEqual(x, (0..<8).map { _ in b.next() })
        XCTAssertNotEqual(x, (0..<8).map { _ in c.next() })
        for _ in 0..<1000 { XCTAssert((0..<1).contains(a.nextUnit())) }
    }
}
