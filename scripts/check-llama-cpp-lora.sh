#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp, see scripts/build-llama-cpp.sh) that llama.cpp applies bloomkit's LoRA
# adapter GGUF files as bloomkit's runtime does: for each fixture adapter (current safetensors and .bin, rsLoRA with
# rank/alpha patterns without its trained biases, the 2023 enable_lora layout), `bloomkit convert ADAPTER_DIR` at f32
# and f16, then the greedy text of `llama-completion -m base-f32.gguf --lora adapter.gguf` must equal
# `bloomkit generate base-f32.gguf --lora adapter.gguf` on the plain fixture prompts.
# Usage: scripts/check-llama-cpp-lora.sh [LLAMA_BIN_DIR]   (default .tools/llama.cpp/build/bin, then /work/main/...)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${1:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-completion" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-completion" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
[ -x "$bloomkit" ] || { echo "build bloomkit first (swift build)" >&2; exit 2; }
out=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT; echo "files in $out"
fixtures="${FIXTURES:-$root/Tests/Fixtures}"
echo "llama.cpp: $("$bin/llama-completion" --version 2>&1 | grep -m1 -i version || true) ($bin)"

# rslora-a without the trained biases a GGUF LoRA cannot hold (bloomkit refuses the original: merge it instead).
python3 - "$fixtures/adapters/rslora-a" "$out/rslora-a-no-bias" <<'PY'
import json, struct, sys, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
dst.mkdir()
raw = (src / "adapter_model.safetensors").read_bytes()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
kept, data, offset = {}, b"", 0
for name, info in header.items():
    if name == "__metadata__" or ".lora_" not in name:
        continue
    start, end = info["data_offsets"]
    kept[name] = dict(info, data_offsets=[offset, offset + end - start])
    data += raw[8 + n + start:8 + n + end]
    offset += end - start
h = json.dumps(kept).encode()
h += b" " * (-len(h) % 8)
(dst / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + data)
config = json.loads((src / "adapter_config.json").read_text())
config["bias"] = "none"
(dst / "adapter_config.json").write_text(json.dumps(config))
PY

failures=0
check() {  # adapter-folder base-folder prompts-json
  local adapter=$1 base=$2 prompts=$3 name; name=$(basename "$adapter")
  "$bloomkit" convert "$base" -o "$out/$name-base.gguf" --type f32 --quiet
  for type in f32 f16; do
    "$bloomkit" convert "$adapter" --base "$base" -o "$out/$name-$type.gguf" --type "$type" --quiet
    while IFS= read -r prompt; do
      want=$("$bloomkit" generate "$out/$name-base.gguf" --lora "$out/$name-$type.gguf" --prompt "$prompt" \
             --max-tokens 24 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"], end="")')
      got=$("$bin/llama-completion" -m "$out/$name-base.gguf" --lora "$out/$name-$type.gguf" -p "$prompt" -n 24 \
            --temp 0 --top-k 1 --no-display-prompt -no-cnv --no-warmup -t 2 2>/dev/null || echo "<llama-completion failed>")
      if [ "$got" == "$want" ]; then echo "OK   $name $type: ${prompt@Q} -> ${got@Q}"
      else echo "DIFF $name $type: ${prompt@Q} -> llama.cpp ${got@Q}, bloomkit ${want@Q}"; failures=$((failures + 1)); fi
    done < <(python3 -c 'import json,sys; [print(c["prompt"]) for c in json.load(open(sys.argv[1]))["cases"] if c["kind"] == "plain"]' "$prompts")
  done
}
check "$fixtures/adapters/alpaca-b" "$fixtures/models/tiny-b/bin-f32-lmhead" "$fixtures/expected/generate/alpaca-b-merged.json"
check "$fixtures/adapters/lora-bin-a" "$fixtures/models/tiny-a/bin-f32" "$fixtures/expected/generate/tiny-a.json"
check "$fixtures/adapters/lora-2023-a" "$fixtures/models/tiny-a/bin-f32" "$fixtures/expected/generate/tiny-a.json"
check "$out/rslora-a-no-bias" "$fixtures/models/tiny-a/bin-f32" "$fixtures/expected/generate/tiny-a.json"
echo "$([ $failures -eq 0 ] && echo "ALL OK" || echo "$failures differences")"
[ $failures -eq 0 ]
