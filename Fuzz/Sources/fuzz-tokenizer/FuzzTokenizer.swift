// tokenizer.json (BloomTokenizer: pipeline checks, vocabulary, merges, added tokens), then a few encodes and the
// decode of every id.
import BloomCore
import BloomTokenizer
import FuzzSupport

private let texts = ["Hello, world!", " a  b\n\tc", "日本語のテキスト", "<s>x</s><unk>", "🙂🙂 é"]

@main
enum FuzzTokenizer {
    static func main() {
        runFuzzer { input in
            let path = Scratch.write("tokenizer.json", input)
            expectCleanFailure {
                let tokenizer = try BloomTokenizer(tokenizerJSONPath: path)
                for text in texts {
                    let ids = tokenizer.encode(text)
                    blackHole(tokenizer.decode(ids))
                }
                var id: TokenID = 0
                while let token = tokenizer.token(for: id), id < 4096 {
                    blackHole((token, tokenizer.decode([id])))
                    id += 1
                }
            }
        }
    }
}
