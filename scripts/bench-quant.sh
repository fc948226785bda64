#!/usr/bin/env bash
# Quantization throughput (issues 4, 6 and 12), release build: MB/s of f32 input for every block type, F16 and BF16 with
# 1 and 2 threads, the error-measuring variant, and the convert path (an f16 tensor streamed through SourceTensor),
# next to memcpy and, when .tools/llama.cpp is built (scripts/build-llama-cpp.sh), ggml's own quantize_row_*_ref,
# all in the same run. Best of R repetitions. Not a test: nothing is asserted.
# Usage: scripts/bench-quant.sh [KiB-values per run, default 32768 (128 MiB of f32)] [repetitions, default 5]
#        LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin scripts/bench-quant.sh 256 300   (cache-resident run)
#        TYPES=q4_k,q6_k scripts/bench-quant.sh 4096 3                               (only these block types)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --target BloomQuant >/dev/null
B=.build/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/main.swift" <<'EOF'
import BloomCore
import BloomQuant
import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let n = (args.count > 1 ? Int(args[1])! : 32768) * 1024
let reps = args.count > 2 ? Int(args[2])! : 5
let rowLength = 1024, rows = n / rowLength

var rng = SystemRandomNumberGenerator()
let x = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
for i in 0..<n { x[i] = Float.random(in: -1...1, using: &rng) * 0.05 }
let f16 = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: n)
bk_f32_to_f16(x.baseAddress!, f16.baseAddress!, n)
let out = UnsafeMutableRawBufferPointer.allocate(byteCount: n * 4, alignment: 64)
let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: n * 4, alignment: 64)
memset(out.baseAddress!, 0, n * 4)
memset(copy.baseAddress!, 0, n * 4)

func best(_ body: () throws -> Void) rethrows -> Double {
    var t = Double.infinity
    for _ in 0..<reps {
        let s = ProgressReporter.now()
        try body()
        t = min(t, ProgressReporter.now() - s)
    }
    return t
}
func line(_ what: String, _ bytes: Int, _ t: Double) {
    print(what.padding(toLength: 46, withPad: " ", startingAt: 0),
          String(format: "%8.0f MB/s  (%.2f ms)", Double(bytes) / t / 1e6, t * 1e3))
}
func rowsOut(_ type: GGMLType) -> UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(rebasing: out[0..<rows * (try! Quantizer.bytesPerRow(type, rowLength: rowLength))])
}

let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
print("\(ProcessInfo.processInfo.activeProcessorCount) cores, AVX2/FMA/F16C \(bk_simd_level() >= Int32(BK_SIMD_AVX2) ? "yes" : "no"), " +
      "\((n * 4) >> 10) KiB of f32 in rows of \(rowLength), best of \(reps), load average \(load)")
line("memcpy f32, 1 thread", n * 4, best { memcpy(copy.baseAddress!, x.baseAddress!, n * 4) })

typealias RowFunction = @convention(c) (UnsafePointer<Float>, UnsafeMutableRawPointer, Int64) -> Void
let ggml = ProcessInfo.processInfo.environment["LLAMA_CPP_BIN"].flatMap { dlopen($0 + "/libggml-base.so", RTLD_NOW) }
let references: [(GGMLType, (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void)] = [
    (.Q8_0, bk_quantize_row_q8_0_ref), (.Q4_0, bk_quantize_row_q4_0_ref), (.Q4_1, bk_quantize_row_q4_1_ref),
    (.Q5_0, bk_quantize_row_q5_0_ref), (.Q5_1, bk_quantize_row_q5_1_ref), (.Q2_K, bk_quantize_row_q2_K_ref),
    (.Q3_K, bk_quantize_row_q3_K_ref), (.Q4_K, bk_quantize_row_q4_K_ref), (.Q5_K, bk_quantize_row_q5_K_ref),
    (.Q6_K, bk_quantize_row_q6_K_ref),
]
let only = ProcessInfo.processInfo.environment["TYPES"]?.split(separator: ",").map { $0.lowercased() }
for (type, ref) in references where only?.contains(type.name) ?? true {
    let name = type.name
    let ggmlName = name.hasSuffix("_k") ? name.dropLast() + "K" : Substring(name)
    if let ggml, let sym = dlsym(ggml, "quantize_row_\(ggmlName)_ref") {
        let f = unsafeBitCast(sym, to: RowFunction.self)
        line("\(name) ggml quantize_row_\(ggmlName)_ref, 1 thread", n * 4, best {
            f(x.baseAddress!, out.baseAddress!, Int64(n))
        })
    }
    line("\(name) bloomkit *_ref (scalar), 1 thread", n * 4, best { ref(x.baseAddress!, out.baseAddress!, n) })
    for threads in [1, 2] {
        line("\(name) Quantizer.quantize, \(threads) thread\(threads > 1 ? "s" : "")", n * 4, try best {
            try Quantizer.quantize(type, rows: UnsafeBufferPointer(x), rowLength: rowLength, into: rowsOut(type), threads: threads)
        })
    }
    line("\(name) quantizeMeasuringError, 2 threads", n * 4, try best {
        _ = try Quantizer.quantizeMeasuringError(type, rows: UnsafeBufferPointer(x), rowLength: rowLength, into: rowsOut(type), threads: 2)
    })
}
for type in [GGMLType.F16, .BF16] {
    for threads in [1, 2] {
        line("\(type.name) Quantizer.quantize, \(threads) thread\(threads > 1 ? "s" : "")", n * 4, try best {
            try Quantizer.quantize(type, rows: UnsafeBufferPointer(x), rowLength: rowLength, into: rowsOut(type), threads: threads)
        })
    }
}

// The convert path: an f16 tensor widened chunk by chunk in cache and quantized there. MB/s of f16 input.
let source = Int(bitPattern: f16.baseAddress!)
let tensor = SourceTensor(name: "token_embd", dtype: .F16, shape: [rows, rowLength]) { start, count, dst in
    bk_f16_to_f32(UnsafePointer<UInt16>(bitPattern: source)! + start * rowLength, dst.baseAddress!, count * rowLength)
}
line("memcpy f16, 1 thread", n * 2, best { memcpy(copy.baseAddress!, f16.baseAddress!, n * 2) })
for type in [GGMLType.Q4_0, .Q8_0, .Q4_K, .Q6_K] where only?.contains(type.name) ?? true {
    for threads in [1, 2] {
        line("f16 -> \(type.name) via SourceTensor, \(threads) thread\(threads > 1 ? "s" : "")", n * 2, try best {
            var at = 0
            let dst = rowsOut(type)
            try Quantizer.quantize(type, tensor: tensor, threads: threads) { bytes in
                dst.baseAddress!.advanced(by: at).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                at += bytes.count
            }
        })
    }
}
EOF
swiftc -O "$work/main.swift" -o "$work/bench-quant" -I "$B/Modules" \
  -Xcc "-fmodule-map-file=$B/CKernels.build/module.modulemap" -Xcc -ISources/CKernels/include \
  "$B"/CKernels.build/*.o "$B"/BloomCore.build/*.o "$B"/BloomQuant.build/*.o
"$work/bench-quant" "$@"
