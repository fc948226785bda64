// LinearRegex, the matcher of user patterns (--tensor-type): any pattern either compiles or is refused with a one-line
// BloomError, and a match runs in time linear in the text (libFuzzer's timeout turns a slow input into a crash).
// Input: pattern bytes, a NUL, text bytes (the text repeated to 4 KB so a backtracking blow-up would show).
import BloomCore
import FuzzSupport

@main
enum FuzzRegex {
    static func main() {
        runFuzzer { input in
            let split = input.firstIndex(of: 0) ?? input.endIndex
            let pattern = String(decoding: input[..<split], as: UTF8.self)
            let tail = split < input.endIndex
                ? String(decoding: input[(split + 1)...], as: UTF8.self) : "blk.0.attn_qkv"
            let text = tail.isEmpty ? "" : String(repeating: tail, count: max(1, 4096 / max(tail.utf8.count, 1)))
            expectCleanFailure(namesFile: false) {
                let regex = try LinearRegex(pattern)
                blackHole(regex.matches(in: text))
                blackHole(regex.matches(in: ""))
            }
        }
    }
}
