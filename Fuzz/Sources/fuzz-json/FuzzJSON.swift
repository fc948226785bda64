// The strict JSON parser every config, index and header goes through. A parsed value must survive a round trip through
// JSONWriter (compact and pretty) unchanged.
import BloomCore
import FuzzSupport

@main
enum FuzzJSON {
    static func main() {
        runFuzzer { input in
            expectCleanFailure(namesFile: false) {
                let value = try JSONParser().parse(input)
                for pretty in [false, true] {
                    let text = JSONWriter.string(value, pretty: pretty)
                    let again: JSONValue
                    do {
                        again = try JSONParser().parse(text)
                    } catch {
                        fail("JSONWriter output does not parse (\(error)): \(text.prefix(200).debugDescription)")
                    }
                    if again != value {
                        fail("JSON round trip changed the value: \(text.prefix(200).debugDescription)")
                    }
                }
            }
        }
    }
}
