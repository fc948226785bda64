// A model card's YAML header (README.md between `---` lines: `key: scalar`, flow lists, `- item` lists and lists of
// maps), which convert reads from a model or adapter folder for the general.* authorship keys. Reading it never
// fails on the text (only on a file too large or not UTF-8) and its result must write as JSON.
import BloomConvert
import BloomCore
import FuzzSupport

@main
enum FuzzModelCard {
    static func main() {
        runFuzzer { input in
            Scratch.write("card/README.md", input)
            expectCleanFailure {
                let header = try ModelCard.header(inFolder: Scratch.folder + "/card")
                guard header.object != nil else { fail("the header is not an object") }
                blackHole(JSONWriter.string(header, pretty: true).count)
            }
        }
    }
}
