// swift-tools-version:6.0
// bloomkit: BLOOM checkpoints (safetensors, PyTorch .bin, PEFT LoRA) -> one GGUF file -> a lean CPU runtime.
// Data flows one way: files -> tensors -> merge -> re-layout and quantize -> GGUF -> runtime.
// BloomRuntime never depends on BloomCheckpoint, BloomLoRA, BloomConvert or CZlib.
import PackageDescription

let package = Package(
    name: "bloomkit",
    products: [
        .executable(name: "bloomkit", targets: ["bloomkit"]),
        .library(name: "BloomKit", targets: [
            "BloomCore", "BloomCheckpoint", "BloomGGUF", "BloomQuant", "BloomArch",
            "BloomLoRA", "BloomConvert", "BloomTokenizer", "BloomRuntime", "BloomPack",
        ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C: block structs, f16/bf16 conversion, quantizers, dot products; SIMD paths chosen at run time, each with a *_ref twin.
        .target(name: "CKernels"),
        // zlib for deflated entries of torch zip checkpoints (zlib1g-dev).
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // zstd for .bkz packed files (libzstd-dev).
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),

        .target(name: "BloomCore", dependencies: ["CKernels"]),
        .target(name: "BloomCheckpoint", dependencies: ["BloomCore", "CZlib"]),
        .target(name: "BloomGGUF", dependencies: ["BloomCore"]),
        .target(name: "BloomQuant", dependencies: ["BloomCore", "CKernels"]),
        .target(name: "BloomArch", dependencies: ["BloomCore", "BloomGGUF"]),
        .target(name: "BloomLoRA", dependencies: ["BloomCore", "BloomCheckpoint"]),
        .target(name: "BloomTokenizer", dependencies: ["BloomCore", "BloomGGUF", "BloomArch"]),
        .target(name: "BloomConvert", dependencies: [
            "BloomCore", "BloomCheckpoint", "BloomGGUF", "BloomQuant", "BloomArch", "BloomLoRA", "BloomTokenizer",
            "BloomPack",  // .bkz model folders read in place (BaseModel)
        ]),
        // .bkz: lossless packing of checkpoints and GGUF files (byte planes + zstd frames, indexed, checksummed).
        .target(name: "BloomPack", dependencies: [
            "BloomCore", "BloomCheckpoint", "BloomGGUF", "BloomArch", "CKernels", "CZstd",
        ]),
        .target(name: "BloomRuntime", dependencies: [
            "BloomCore", "BloomGGUF", "BloomArch", "BloomTokenizer", "CKernels",
        ]),
        .executableTarget(name: "bloomkit", dependencies: [
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            "BloomArch", "BloomCore", "BloomGGUF", "BloomConvert", "BloomTokenizer", "BloomRuntime", "BloomPack",
        ]),

        // Test support shared by the test targets: fixture lookup, scratch folders, seeded random values, the
        // BloomError assertion. A regular target under Tests/, so only test targets depend on it.
        .target(name: "TestSupport", dependencies: ["BloomCore"], path: "Tests/TestSupport"),

        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "BloomCore", "TestSupport"]),
        .testTarget(name: "BloomCoreTests", dependencies: ["BloomCore", "TestSupport"]),
        .testTarget(name: "BloomCheckpointTests", dependencies: ["BloomCheckpoint", "BloomCore", "TestSupport"]),
        .testTarget(name: "BloomGGUFTests", dependencies: ["BloomGGUF", "BloomCore", "TestSupport"]),
        .testTarget(name: "BloomQuantTests", dependencies: ["BloomQuant", "BloomCore", "CKernels", "TestSupport"]),
        .testTarget(name: "BloomArchTests", dependencies: ["BloomArch", "BloomGGUF", "BloomCore", "TestSupport"]),
        .testTarget(name: "BloomLoRATests", dependencies: ["BloomLoRA", "BloomCheckpoint", "BloomCore", "TestSupport"]),
        .testTarget(name: "BloomTokenizerTests", dependencies: [
            "BloomTokenizer", "BloomGGUF", "BloomArch", "BloomCore", "TestSupport",
        ]),
        .testTarget(name: "BloomConvertTests", dependencies: [
            "BloomConvert", "BloomCheckpoint", "BloomGGUF", "BloomQuant", "BloomArch", "BloomLoRA", "BloomTokenizer",
            "BloomCore", "TestSupport",
        ]),
        .testTarget(name: "BloomRuntimeTests", dependencies: [
            "BloomRuntime", "BloomGGUF", "BloomTokenizer", "BloomArch", "BloomCore", "TestSupport",
            "BloomConvert",  // converts the fixture checkpoints to GGUF in a temporary folder
        ]),
        .testTarget(name: "BloomPackTests", dependencies: [
            "BloomPack", "BloomCore", "BloomGGUF", "BloomCheckpoint", "BloomConvert",  // GGUF fixtures made in-test
            "TestSupport",
        ]),
        // Runs the built bloomkit executable, which this dependency builds first; TestSupport finds the fixtures.
        .testTarget(name: "bloomkitTests", dependencies: ["bloomkit", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
