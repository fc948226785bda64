#!/usr/bin/env python3
"""Checks bloomkit's quantizers against llama-quantize on a real file, tensor by tensor.

For each TYPE, runs `llama-quantize --pure IN.gguf OUT.gguf TYPE` (no importance matrix), then quantizes every tensor
that llama-quantize quantized (as TYPE, or as its fallback where rows are not whole super-blocks) with bloomkit's
Quantizer (BloomQuant, through a small tool built against the debug build's objects) from the same IN.gguf values,
and compares the bytes. Prints one line per type; exits 1 on any
difference. Not a test (tests never run Python); the committed oracle is Formats/test-vectors/ggml-quants.json.

Usage: scripts/check-quant-bytes.py IN.gguf [TYPE ...]     (IN: F32/F16/BF16; default types: all of them)
Needs: swift build (debug), llama.cpp built by scripts/build-llama-cpp.sh (LLAMA_CPP=.../llama.cpp to point elsewhere),
numpy and gguf-py (taken from llama.cpp's tree).
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA = os.environ.get("LLAMA_CPP", os.path.join(ROOT, ".tools", "llama.cpp"))
if not os.path.isdir(LLAMA):
    LLAMA = "/work/main/.tools/llama.cpp"
sys.path.insert(0, os.path.join(LLAMA, "gguf-py"))
import numpy as np  # noqa: E402
import gguf  # noqa: E402

TYPES = ["Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

TOOL = r'''
import BloomCore
import BloomQuant
import Foundation

// quant-rows TYPE ROWLENGTH IN.f32 OUT: Quantizer.quantize on little-endian f32 rows.
let a = CommandLine.arguments
let type = GGMLType.allCases.first { $0.name == a[1].lowercased() }!
let input = try Data(contentsOf: URL(fileURLWithPath: a[3]))
let values = input.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
let rowLength = Int(a[2])!
let rowBytes = try Quantizer.bytesPerRow(type, rowLength: rowLength)
var out = [UInt8](repeating: 0, count: values.count / rowLength * rowBytes)
try values.withUnsafeBufferPointer { src in
    try out.withUnsafeMutableBytes { try Quantizer.quantize(type, rows: src, rowLength: rowLength, into: $0) }
}
try Data(out).write(to: URL(fileURLWithPath: a[4]))
'''


def build_tool(work):
    subprocess.run(["swift", "build", "--target", "BloomQuant"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    b = os.path.join(ROOT, ".build", "debug")
    main = os.path.join(work, "main.swift")
    open(main, "w").write(TOOL)
    exe = os.path.join(work, "quant-rows")
    objs = [os.path.join(b, d, f) for d in ("CKernels.build", "BloomCore.build", "BloomQuant.build")
            for f in sorted(os.listdir(os.path.join(b, d))) if f.endswith(".o")]
    subprocess.run(["swiftc", main, "-o", exe, "-I", os.path.join(b, "Modules"),
                    "-Xcc", "-fmodule-map-file=" + os.path.join(b, "CKernels.build", "module.modulemap"),
                    "-Xcc", "-I" + os.path.join(ROOT, "Sources", "CKernels", "include"), *objs], check=True)
    return exe


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    source = sys.argv[1]
    types = [t.upper() for t in sys.argv[2:]] or TYPES
    tensors = {t.name: t for t in gguf.GGUFReader(source).tensors}
    failed = False
    with tempfile.TemporaryDirectory() as work:
        tool = build_tool(work)
        for name in types:
            ref = os.path.join(work, "ref.gguf")
            subprocess.run([os.path.join(LLAMA, "build", "bin", "llama-quantize"), "--pure", source, ref, name],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            same = differ = fallback = 0
            for t in gguf.GGUFReader(ref).tensors:
                src = tensors[t.name]
                if t.tensor_type == src.tensor_type:
                    continue  # copied (norms, biases)
                fallback += t.tensor_type.name != name
                values = np.asarray(src.data)
                if src.tensor_type == gguf.GGMLQuantizationType.BF16:
                    values = (values.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
                values = values.astype(np.float32).reshape(-1)
                row = int(src.shape[0])
                path = os.path.join(work, "in.f32")
                values.tofile(path)
                subprocess.run([tool, t.tensor_type.name, str(row), path, os.path.join(work, "out")], check=True)
                ours = open(os.path.join(work, "out"), "rb").read()
                if ours == bytes(np.asarray(t.data).view(np.uint8).reshape(-1)):
                    same += 1
                else:
                    differ += 1
                    print("  %s: %s (%s) differs" % (name, t.name, t.tensor_type.name))
            print("%-5s %d quantized tensors byte-identical (%d of them as llama-quantize's fallback type), %d differ"
                  % (name, same, fallback, differ))
            failed |= differ > 0 or same == 0
    sys.exit(1 if failed else 0)


main()
