#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp, see scripts/build-llama-cpp.sh) that bloomkit writes, for each file
# type, every tensor with the type and the bytes llama-quantize writes, on a BLOOM-560M-shaped random checkpoint
# (the tests do the same on the tiny fixture models, Tests/BloomConvertTests/FileTypeTests.swift):
#   1. makes the checkpoint (scripts/make-random-bloom.py, f16) and converts it to F16 with `bloomkit convert`;
#   2. per type: `llama-quantize F16.gguf OUT TYPE`, `bloomkit quantize F16.gguf` and `bloomkit convert CHECKPOINT`
#      to the same type, and compares every tensor (name, type, ne, bytes) of the three files with gguf-py.
# Usage: scripts/check-quant-types.sh [TYPE...]   (default: every type bloomkit offers besides F32/F16/BF16)
# Measured (2026-12-06, debug bloomkit, 2 shared cores): Q4_K_M and Q4_0 identical in all 293 tensors, 52 min.
#   env: WORK=/tmp/bloomkit-quant-types KEEP=1 (keep the files) LLAMA_BIN=dir BLOOMKIT=path PYTHON=python with
#        gguf and numpy (default: a venv in .tools/venv-gguf)
#        IMATRIX=1: all three runs with --imatrix, from llama-imatrix on the F16 file (the held-out fixture text,
#        -c 64): the importance-weighted quantizers, K kernels included, which the tiny models' rows never reach
#        SHAPE="--hidden 256 --layers 8 --heads 4 --vocab 1536": another checkpoint shape (make-random-bloom.py)
# Measured (2026-12-06, debug bloomkit): IMATRIX=1 with that SHAPE, all 14 types identical in all 101 tensors
#   (quantize and convert), 5 min.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORK:-/tmp/bloomkit-quant-types}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -f "$work"/*.gguf; rm -rf "$work/bloom-560m"' EXIT
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q8_0 Q6_K Q5_1 Q5_0 Q5_K_M Q5_K_S Q4_1 Q4_0 Q4_K_M Q4_K_S Q3_K_L Q3_K_M Q3_K_S Q2_K)

bin=${LLAMA_BIN:-$root/.tools/llama.cpp/build/bin}
[ -x "$bin/llama-quantize" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-quantize" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
bloomkit=${BLOOMKIT:-$root/.build/release/bloomkit}
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
[ -x "$bloomkit" ] || { echo "build bloomkit first (swift build)" >&2; exit 2; }
python=${PYTHON:-}
if [ -z "$python" ]; then
  venv="$root/.tools/venv-gguf"
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q gguf==0.19.0 numpy; }
  python="$venv/bin/python"
fi

shape=(${SHAPE:---hidden 1024 --layers 24 --heads 16 --vocab 250880})
if [ ! -f "$work/bloom-560m/model.safetensors" ]; then
  "$python" "$root/scripts/make-random-bloom.py" "$work/bloom-560m" "${shape[@]}" \
    --dtype f16 --format safetensors --shards 1 --tokenizer "$root/Tests/Fixtures/tokenizer" >&2
fi
"$bloomkit" convert "$work/bloom-560m" -o "$work/f16.gguf" --type f16 --quiet
imatrix=()
if [ -n "${IMATRIX:-}" ]; then
  "$bin/llama-imatrix" -m "$work/f16.gguf" -f "$root/Tests/Fixtures/expected/perplexity/heldout.txt" -c 64 \
    --no-ppl -o "$work/imatrix.gguf" > "$work/imatrix.log" 2>&1 || { tail -5 "$work/imatrix.log"; exit 1; }
  imatrix=(--imatrix "$work/imatrix.gguf")
fi

failures=0
for type in "${types[@]}"; do
  "$bin/llama-quantize" "${imatrix[@]}" "$work/f16.gguf" "$work/llama.gguf" "$type" > "$work/llama.log" 2>&1 \
    || { tail -5 "$work/llama.log"; exit 1; }
  "$bloomkit" quantize "${imatrix[@]}" "$work/f16.gguf" -o "$work/quantized.gguf" --type "$type" --quiet
  "$bloomkit" convert "${imatrix[@]}" "$work/bloom-560m" -o "$work/converted.gguf" --type "$type" --quiet
  files=("$work/llama.gguf" "$work/quantized.gguf" "$work/converted.gguf")
  "$python" - "$type" "${files[@]}" <<'PY' || failures=$((failures + 1))
import sys
import gguf
label, paths = sys.argv[1], sys.argv[2:]
files = [{t.name: t for t in gguf.GGUFReader(p).tensors} for p in paths]
bad = 0
for other, what in zip(files[1:], ["bloomkit quantize", "bloomkit convert"]):
    if sorted(other) != sorted(files[0]):
        print(f"{label}: {what}: tensor names differ"); bad += 1; continue
    for name, t in files[0].items():
        u = other[name]
        same = (u.tensor_type == t.tensor_type and list(u.shape) == list(t.shape)
                and u.data.tobytes() == t.data.tobytes())
        if not same:
            bad += 1
            if bad <= 5:
                print(f"{label}: {what}: {name}: {u.tensor_type.name} vs llama-quantize's {t.tensor_type.name}")
types = sorted({t.tensor_type.name for t in files[0].values()})
print(f"{label}: {'OK' if bad == 0 else f'{bad} differences'} ({len(files[0])} tensors; types {', '.join(types)})")
sys.exit(1 if bad else 0)
PY
  rm -f "$work/llama.gguf" "$work/quantized.gguf" "$work/converted.gguf"
done
echo "$failures of ${#types[@]} types differ"
[ "$failures" -eq 0 ]
