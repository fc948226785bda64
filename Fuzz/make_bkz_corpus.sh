#!/usr/bin/env bash
# Seeds of fuzz-bkz (Fuzz/corpus/fuzz-bkz/): `bloomkit pack` of a few seeds of the other targets (F16/BF16/F32
# safetensors tensors, a GGUF with F32 and Q8_0 blocks, a GGUF with every K-quant type, a folder of them). Run by
# hand after `swift build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bk=${BLOOMKIT:-$root/.build/debug/bloomkit}
c=$root/Fuzz/corpus
out=$c/fuzz-bkz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out" "$tmp/folder/sub"
"$bk" pack "$c/fuzz-safetensors/valid-dtypes.safetensors" -o "$out/safetensors.bkz" --quiet >/dev/null
"$bk" pack "$c/fuzz-gguf/tiny-bloom.gguf" -o "$out/gguf.bkz" --quiet >/dev/null
# one super-block of every K-quant type (codec 6, field by field), written by gguf-py (PYTHON: a venv with gguf)
"${PYTHON:-$root/.tools/venv/bin/python}" - "$tmp/kquants.gguf" <<'PY'
import sys, numpy as np, gguf
w = gguf.GGUFWriter(sys.argv[1], "bloom")
rng = np.random.default_rng(0)
for name, t, n in [("q2", gguf.GGMLQuantizationType.Q2_K, 84), ("q3", gguf.GGMLQuantizationType.Q3_K, 110),
                   ("q4", gguf.GGMLQuantizationType.Q4_K, 144), ("q5", gguf.GGMLQuantizationType.Q5_K, 176),
                   ("q6", gguf.GGMLQuantizationType.Q6_K, 210)]:
    w.add_tensor(name, rng.integers(0, 256, size=(2, n), dtype=np.uint8), raw_dtype=t)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
"$bk" pack "$tmp/kquants.gguf" -o "$out/kquants.bkz" --quiet >/dev/null
cp "$c/fuzz-safetensors/valid-dtypes.safetensors" "$tmp/folder/a.safetensors"
cp "$c/fuzz-safetensors/valid-dtypes.safetensors" "$tmp/folder/sub/b.safetensors"  # a duplicate tensor per tensor
cp "$c/fuzz-config/"$(ls "$c/fuzz-config" | head -1) "$tmp/folder/config.json"
"$bk" pack "$tmp/folder" -o "$out/folder.bkz" --quiet >/dev/null
ls -l "$out"
