#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp, see scripts/build-llama-cpp.sh) bloomkit's gguf-split output:
#   - `bloomkit convert --split-max-tensors N` cuts a model into 4 parts (llama.cpp's gguf-split layout);
#   - `llama-gguf-split --merge` of those parts gives tensors byte-identical to bloomkit's single file (gguf-py);
#   - llama.cpp (llama-simple) loads the set from its first part and gives the single file's greedy text;
#   - bloomkit verify / generate / bench accept the first part; generate gives the single file's text.
# Usage: scripts/check-llama-cpp-split.sh [MODEL_FOLDER]   (default: a BLOOM-560M-shaped random f16 model made by
#   scripts/make-random-bloom.py; SMALL=1 uses the tiny fixture model instead). TYPE (default f16) picks --type.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${LLAMA_BIN:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-gguf-split" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-gguf-split" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
gguf_py="${GGUF_PY:-$(dirname "$bin")/../gguf-py}"
[ -d "$gguf_py" ] || gguf_py=/work/main/.tools/llama.cpp/gguf-py
python="${PYTHON:-$root/.tools/venv/bin/python}"
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
out=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT
type="${TYPE:-f16}"
model="${1:-}"
if [ -z "$model" ] && [ -n "${SMALL:-}" ]; then
  model="$root/Tests/Fixtures/models/tiny-b/st-f16"
elif [ -z "$model" ]; then
  model="$out/bloom-560m-random"
  "$python" "$root/scripts/make-random-bloom.py" "$model" --hidden 1024 --layers 24 --heads 16 --vocab 250880 \
    --dtype f16 --format safetensors --tokenizer "$root/Tests/Fixtures/models/tiny-b/st-f16" >/dev/null
fi
echo "model: $model, type $type; llama.cpp: $bin"
"$bloomkit" convert "$model" -o "$out/single.gguf" --type "$type" --quiet
tensors=$("$python" -c "import sys; sys.path.insert(0, '$gguf_py'); import gguf; \
print(len(gguf.GGUFReader('$out/single.gguf').tensors))")
per_part=$(( (tensors + 3) / 4 ))
"$bloomkit" convert "$model" -o "$out/split.gguf" --type "$type" --split-max-tensors "$per_part" --quiet
ls -l "$out"/split-*.gguf | awk '{print "  " $5 "  " $9}'
first="$out/split-00001-of-00004.gguf"
[ -f "$first" ] || { echo "FAIL: expected 4 parts named split-0000I-of-00004.gguf" >&2; exit 1; }
"$bin/llama-gguf-split" --merge "$first" "$out/merged.gguf" >/dev/null 2>&1
failures=0
"$python" - "$gguf_py" "$out/single.gguf" "$out/merged.gguf" <<'PY' || failures=$((failures + 1))
import sys
sys.path.insert(0, sys.argv[1])
import gguf
a, b = gguf.GGUFReader(sys.argv[2]), gguf.GGUFReader(sys.argv[3])
same = [(x.name, x.tensor_type, list(x.shape)) == (y.name, y.tensor_type, list(y.shape))
        and bytes(x.data.tobytes()) == bytes(y.data.tobytes()) for x, y in zip(a.tensors, b.tensors)]
ok = len(a.tensors) == len(b.tensors) and all(same)
print(f"gguf-split --merge: {sum(same)} of {len(a.tensors)} tensors byte-identical to the single file "
      f"({'OK' if ok else 'DIFF'})")
sys.exit(0 if ok else 1)
PY
prompt="The capital of France is"
single_text=$("$bin/llama-simple" -m "$out/single.gguf" -n 16 "$prompt" 2>/dev/null)
split_text=$("$bin/llama-simple" -m "$first" -n 16 "$prompt" 2>/dev/null)
if [ "$single_text" = "$split_text" ]; then echo "llama-simple greedy, split set = single file: OK ($split_text)"
else echo "llama-simple DIFF: single '$single_text' vs split '$split_text'"; failures=$((failures + 1)); fi
"$bloomkit" verify "$first"
a=$("$bloomkit" generate "$out/single.gguf" --prompt "$prompt" --max-tokens 16 2>/dev/null)
b=$("$bloomkit" generate "$first" --prompt "$prompt" --max-tokens 16 2>/dev/null)
if [ "$a" = "$b" ]; then echo "bloomkit generate, split set = single file: OK"
else echo "bloomkit generate DIFF: '$a' vs '$b'"; failures=$((failures + 1)); fi
if [ -n "${BENCH:-}" ]; then
  for round in 1 2; do
    for f in "$out/single.gguf" "$first"; do
      result=$("$bloomkit" bench "$f" -p 64 -n 16 --threads 2 2>/dev/null | tail -2 | tr '\n' ' ')
      echo "bench round $round $(basename "$f"): $result"
    done
  done
fi
echo "$([ "$failures" = 0 ] && echo "ALL OK" || echo "$failures failures")"
exit $(( failures > 0 ))
