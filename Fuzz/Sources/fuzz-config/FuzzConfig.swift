// config.json of a model folder (BloomConfig: keys and aliases, types, validation) and the hyper-parameters the
// converter derives from it (BloomHyperParameters).
import BloomArch
import BloomCore
import FuzzSupport

@main
enum FuzzConfig {
    static func main() {
        runFuzzer { input in
            let path = Scratch.write("config.json", input)
            expectCleanFailure {
                let config = try BloomConfig(path: path)
                blackHole(try BloomHyperParameters(config: config, seqLength: nil).metadataEntries.count)
            }
        }
    }
}
