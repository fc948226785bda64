// swift-tools-version:6.0
// libFuzzer targets for bloomkit's parsers. A separate package so fuzzing never touches the normal build or CI:
//   cd Fuzz && swift build -c debug -Xswiftc -sanitize=fuzzer,address     (or scripts/fuzz.sh SECONDS)
// Each executable's main hands its per-input body to libFuzzer's driver (LLVMFuzzerRunDriver), so SwiftPM's own
// entry point for executables and libFuzzer agree; flags after the binary are libFuzzer's (-max_total_time=…).
import PackageDescription

let targets = [
    "fuzz-safetensors", "fuzz-shard-index", "fuzz-torch-zip", "fuzz-unpickler", "fuzz-gguf", "fuzz-json",
    "fuzz-adapter-config", "fuzz-config", "fuzz-tokenizer", "fuzz-regex", "fuzz-bkz", "fuzz-imatrix", "fuzz-lora-gguf",
    "fuzz-split", "fuzz-model-card",
]

let package = Package(
    name: "bloomkit-fuzz",
    dependencies: [.package(name: "bloomkit", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver", .product(name: "BloomKit", package: "bloomkit")]),
    ] + targets.map { name in
        // -parse-as-library: a one-file executable with @main must not be read as top-level code.
        .executableTarget(name: name, dependencies: ["FuzzSupport", .product(name: "BloomKit", package: "bloomkit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v6]
)
