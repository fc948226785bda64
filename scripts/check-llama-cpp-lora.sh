#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp, see scripts/build-llama-cpp.sh) that llama.cpp applies bloomkit's LoRA
# adapter GGUF files as bloomkit's runtime does: for each fixture adapter (current safetensors and .bin, rsLoRA with
# rank/alpha patterns without its trained biases, the 2023 enable_lora layout), `bloomkit convert ADAPTER_DIR` at f32
# and f16; the greedy output of `llama-completion -m base-f32.gguf --lora adapter-f32.gguf` must equal
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

for spec in "alpaca-b:tiny-b/bin-f32-lmhead:alpaca-b-merged" "lora-bin-a:tiny-a/bin-f32:tiny-a" \
            "lora-2023-a:tiny-a/bin-f32:tiny-a" "$out/rslora-a-no-bias:tiny-a/bin-f32:tiny-a"; do
  IFS=: read -r adapter base prompts <<< "$spec"
  [ -d "$adapter" ] || adapter="$fixtures/adapters/$adapter"
  name=$(basename "$adapter")
  "$bloomkit" convert "$fixtures/models/$base" -o "$out/$name-base.gguf" --type f32 --quiet
  for type in f32 f16; do
    "$bloomkit" convert "$adapter" --base "$fixtures/models/$base" -o "$out/$name-$type.gguf" --type "$type" --quiet
  done
  echo "$name $fixtures/expected/generate/$prompts.json" >> "$out/cases"
done
python3 - "$bin" "$bloomkit" "$out" <<'PY'
import json, subprocess, sys, pathlib
bin, bloomkit, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
failures = 0
for line in (out / "cases").read_text().splitlines():
    name, prompts = line.split(" ", 1)
    plain = [c["prompt"] for c in json.loads(pathlib.Path(prompts).read_text())["cases"] if c["kind"] == "plain"]
    base = out / f"{name}-base.gguf"
    for type in ("f32", "f16"):
        adapter = out / f"{name}-{type}.gguf"
        for prompt in plain:
            # bloomkit streams raw bytes to stdout and ends with one newline; llama-completion prints the generated
            # text (no prompt) and " [end of text]" at EOS, then newlines.
            r = subprocess.run([bloomkit, "generate", base, "--lora", adapter, "--prompt", prompt, "--max-tokens", "24"],
                               capture_output=True)
            want = r.stdout.removesuffix(b"\n") if r.returncode == 0 else b"<bloomkit failed>"
            # llama-completion prints through common/log's worker thread, which sometimes loses the last tokens
            # at exit: up to 3 runs, the check passing when one of them prints bloomkit's text (a truncation can
            # only shorten the right text, never make a wrong one match).
            want = want.decode(errors="replace")
            for attempt in range(3):
                r = subprocess.run([f"{bin}/llama-completion", "-m", base, "--lora", adapter, "-p", prompt, "-n", "24",
                                    "--temp", "0", "--top-k", "1", "--no-display-prompt", "-no-cnv", "--no-warmup",
                                    "--simple-io"], capture_output=True, stdin=subprocess.DEVNULL)
                got = r.stdout.rstrip(b"\n").removesuffix(b" [end of text]") if r.returncode == 0 else b"<failed>"
                # bloomkit's stream replaces invalid UTF-8 with U+FFFD; llama.cpp prints the raw bytes.
                got = got.decode(errors="replace")
                if got == want:
                    break
            ok = got == want
            # f16 factors: ggml's F16 mat-mul rounds the activations to f16 too (bloomkit computes in f32), so a
            # near-tie may go the other way: reported, not counted.
            failures += not ok and type == "f32"
            tag = "OK  " if ok else ("DIFF" if type == "f32" else "f16≠")
            print(f"{tag} {name} {type}: {prompt!r} -> llama.cpp {got!r}" + ("" if ok else f", bloomkit {want!r}"))
print("ALL OK (f32)" if failures == 0 else f"{failures} differences (f32)")
sys.exit(1 if failures else 0)
PY
