import BloomCore
import BloomTokenizer
import Foundation
import TestSupport
import XCTest

/// Issue 11, silent success: an added token whose id is not a u32 is refused, as Hugging Face tokenizers refuses the
/// file (its AddedTokenWithId reads `id` as a u32); bloomkit used to accept it and pick an id of its own.
final class HostileAddedTokenTests: XCTestCase {
    func testAnAddedTokenWithANegativeOrFractionalIdIsRefused() throws {
        let root = try Fixtures.json("tokenizer/tokenizer.json")
        guard case .object(var pairs) = root, let k = pairs.firstIndex(where: { $0.0 == "added_tokens" }),
              case .array(var added) = pairs[k].1, case .object(var first) = added[0],
              let idKey = first.firstIndex(where: { $0.0 == "id" }) else {
            return XCTFail("the fixture tokenizer.json has no added_tokens[0].id")
        }
        let dir = try TempDir("added-id")
        for bad in ["-1", "1.5", "4294967296"] {
            first[idKey].1 = .number(bad)
            added[0] = .object(first)
            pairs[k].1 = .array(added)
            let path = dir.path + "/tokenizer.json"
            try Data(JSONWriter.string(.object(pairs)).utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try BloomTokenizer(tokenizerJSONPath: path), bad) { error in
                XCTAssertEqual((error as? BloomError)?.code, .invalidTokenizer, "\(error)")
                XCTAssertEqual((error as? BloomError)?.path, path)
                XCTAssertEqual((error as? BloomError)?.location, "added_tokens[0]", "\(error)")
            }
        }
    }
}
