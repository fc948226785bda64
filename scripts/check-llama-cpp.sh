#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp, see scripts/build-llama-cpp.sh) that llama.cpp loads bloomkit's GGUF
# files and agrees with transformers on the fixture models:
#   - converts each fixture model to f32, f16, q8_0, q4_0 and q4_1 with `bloomkit convert`;
#   - every file loads in llama-simple and generates;
#   - greedy output of the f32 file equals transformers' (Tests/Fixtures/expected/generate/*.json, plain prompts);
#   - llama-tokenize gives Hugging Face's ids (Tests/Fixtures/expected/tokens.json).
# Usage: scripts/check-llama-cpp.sh [LLAMA_BIN_DIR]   (default .tools/llama.cpp/build/bin, then /work/main/...)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${1:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-simple" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-simple" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
[ -x "$bloomkit" ] || { echo "build bloomkit first (swift build)" >&2; exit 2; }
out=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT; echo "files in $out"
fixtures="${FIXTURES:-$root/Tests/Fixtures}"
expected="${EXPECTED:-$fixtures/expected}"  # transformers' outputs for these models
echo "llama.cpp: $("$bin/llama-completion" --version 2>&1 | grep -m1 -i version || true) ($bin)"
for model in tiny-a/bin-f32 tiny-a/st-bf16-sharded tiny-b/st-f16 tiny-b/bin-f32-lmhead; do
  for type in f32 f16 q8_0 q4_0 q4_1; do
    "$bloomkit" convert "$fixtures/models/$model" -o "$out/${model//\//-}-$type.gguf" --type "$type" --quiet
  done
done
python3 - "$bin" "$out" "$expected" <<'PY'
import json, subprocess, sys, pathlib
bin, out, expected_dir = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
failures = 0

def simple(path, prompt, n):
    """llama-simple's greedy text: the prompt, then the tokens (it prints one newline after the last)."""
    r = subprocess.run([f"{bin}/llama-simple", "-m", str(path), "-n", str(n), prompt], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"llama-simple failed on {path.name}: {r.stderr[-500:]!r}")
    return r.stdout.removesuffix(b"\n").decode("utf-8", errors="replace")

for path in sorted(out.glob("*.gguf")):
    model = path.name.split("-")[0] + "-" + path.name.split("-")[1]
    expected = json.loads((expected_dir / "generate" / f"{model}.json").read_text())
    plain = [c for c in expected["cases"] if c["kind"] == "plain"]
    if not path.stem.endswith("-f32"):
        text = simple(path, plain[0]["prompt"], 8)
        print(f"loads+generates  {path.name}: {text!r}")
        continue
    for case in plain:
        want = case["prompt"] + case["greedy_text"].removesuffix("</s>")
        got = simple(path, case["prompt"], len(case["greedy_ids"]))
        ok = got == want
        failures += not ok
        print(f"greedy {'OK  ' if ok else 'DIFF'} {path.name}: {case['prompt']!r} -> {got[len(case['prompt']):]!r}"
              + ("" if ok else f"  (transformers: {case['greedy_text']!r})"))

tokens = json.loads((expected_dir / "tokens.json").read_text())
model = next(out.glob("tiny-a-bin-f32-f32.gguf"))
same = 0
for text, ids in zip(tokens["texts"], tokens["ids"]):
    if text == "":
        continue  # llama-tokenize refuses an empty prompt
    r = subprocess.run([f"{bin}/llama-tokenize", "-m", str(model), "--stdin", "--ids", "--log-disable"],
                       input=text.encode(), capture_output=True)
    got = json.loads(r.stdout.decode().strip().splitlines()[-1]) if r.returncode == 0 else None
    if got == ids:
        same += 1
    else:
        failures += 1
        print(f"tokenize DIFF {text!r}: llama.cpp {got} vs HF {ids}")
print(f"tokenize: {same} of {sum(1 for t in tokens['texts'] if t)} texts give Hugging Face's ids")
print(f"{'ALL OK' if failures == 0 else f'{failures} differences'}")
sys.exit(1 if failures else 0)
PY
