#!/usr/bin/env bash
# Writes expected/imatrix/: llama-imatrix's importance matrix of tiny-b (F16 GGUF from `bloomkit convert`) on the
# held-out text, n_ctx 64, in both of its formats — the oracle for bloomkit's imatrix collection and readers.
#   tiny-b-c64.gguf   llama-imatrix -c 64 (GGUF form)
#   tiny-b-c64.dat    llama-imatrix -c 64 --output-format dat (legacy form)
#   tiny-b-c64-chunks4.gguf   llama-imatrix -c 64 --chunks 4
# Usage (from anywhere): Tests/Fixtures/generate_imatrix.sh [LLAMA_BIN_DIR]   (needs a built bloomkit and llama.cpp)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"  # the dataset path llama-imatrix records is relative to the repository
bin="${1:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-imatrix" ] || bin=/work/main/.tools/llama.cpp/build/bin
bloomkit="${BLOOMKIT:-$root/.build/debug/bloomkit}"
out=Tests/Fixtures/expected/imatrix
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bloomkit" convert Tests/Fixtures/models/tiny-b/bin-f32-lmhead --type f16 -o "$tmp/tiny-b-f16.gguf" --quiet
text=Tests/Fixtures/expected/perplexity/heldout.txt
run() { "$bin/llama-imatrix" -m "$tmp/tiny-b-f16.gguf" -f "$text" -c 64 -t 2 --no-ppl "$@" > "$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }; }
run -o "$out/tiny-b-c64.gguf"
run -o "$out/tiny-b-c64.dat" --output-format dat
run -o "$out/tiny-b-c64-chunks4.gguf" --chunks 4
echo "llama.cpp $("$bin/llama-imatrix" --version 2>&1 | grep -m1 version || true)"

# llama-quantize --imatrix on the same F16 file: per-tensor sha256 of the quantized bytes, the oracle for bloomkit's
# importance-weighted quantizers. The legacy types with --pure (every 2-D weight in the one type); the K-quant mixes
# as llama-quantize makes them (its per-tensor rules with an imatrix; tiny-b's rows of 96 and 384 values take the
# fallback types, so the K kernels themselves are pinned by Formats/test-vectors/ggml-quants-weighted.json).
pure="Q4_0 Q4_1 Q5_0 Q5_1"
mixes="Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K"
for type in $pure $mixes; do
  flags=(); case " $pure " in *" $type "*) flags=(--pure) ;; esac
  "$bin/llama-quantize" "${flags[@]}" --imatrix "$out/tiny-b-c64.gguf" "$tmp/tiny-b-f16.gguf" "$tmp/$type.gguf" \
    "$type" 2 > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
done
"${PYTHON:-.tools/venv/bin/python}" - "$tmp" "$out/quantized-sha256.json" "$pure" "$mixes" <<'PY'
import hashlib, json, sys
from gguf import GGUFReader
tmp, dst, pure, mixes = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
res = {"method": "llama-quantize [--pure] --imatrix tiny-b-c64.gguf tiny-b-f16.gguf OUT TYPE (F16 from bloomkit "
                  "convert of models/tiny-b/bin-f32-lmhead); sha256 of each tensor's data bytes; --pure for the "
                  "legacy types, the file type's own mix for the K types", "types": {}}
for t in pure + mixes:
    r = GGUFReader(f"{tmp}/{t}.gguf")
    res["types"][t] = {x.name: {"type": x.tensor_type.name, "sha256": hashlib.sha256(x.data.tobytes()).hexdigest()}
                       for x in r.tensors}
    res["types"][t]["_keys"] = {f.name: f.contents() for f in r.fields.values()
                                if f.name.startswith("quantize.") or f.name == "general.file_type"}
json.dump(res, open(dst, "w"), indent=1)
PY
ls -l "$out"
