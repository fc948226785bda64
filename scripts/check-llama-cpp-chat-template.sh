#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp) that llama.cpp's own chat-template engine renders bloomkit's
# tokenizer.chat_template into the prompt transformers gives: for each Alpaca style, `bloomkit merge --template STYLE`
# + `bloomkit convert` of the fixture model, then `llama-completion --jinja -cnv -p INSTRUCTION -v` for every fixture
# case without an input (llama-completion cannot set a message's `input` field); its logged "formatted:" prompt and
# its prompt token ids must equal Tests/Fixtures/chat-template/expected.json (transformers' apply_chat_template).
# Usage: scripts/check-llama-cpp-chat-template.sh [LLAMA_BIN_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${1:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-completion" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-completion" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for style in card stanford; do
  "$bloomkit" merge "$root/Tests/Fixtures/models/tiny-b/st-f16" "$root/Tests/Fixtures/adapters/alpaca-b" \
    -o "$out/merged-$style" --template "$style" --quiet
  "$bloomkit" convert "$out/merged-$style" -o "$out/$style.gguf" --type f32 --quiet
done
python3 - "$bin" "$out" "$root/Tests/Fixtures/chat-template/expected.json" <<'PY'
import json, re, subprocess, sys
bin, out, expected = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
failures = checked = 0
for case in expected["cases"]:
    if case["input"]:
        continue
    r = subprocess.run([f"{bin}/llama-completion", "-m", f"{out}/{case['style']}.gguf", "--jinja", "-cnv",
                        "-p", case["instruction"], "--no-escape", "-n", "1", "--temp", "0", "-v",
                        "--verbose-prompt"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    log = r.stderr.decode("utf-8", errors="replace")
    text = re.search(r" D formatted: '(.*?)'\n\d+\.\d+\.\d+\.\d+ ", log, re.S)
    tail = log.split("number of tokens in prompt", 1)[-1]
    ids = [int(m) for m in re.findall(r"^\S+ I +(\d+) -> '", tail, re.M)]
    ok = text is not None and text.group(1) == case["text"] and ids == case["ids"]
    checked += 1
    failures += not ok
    print(f"{'OK  ' if ok else 'DIFF'} {case['style']:8} {case['instruction']!r}"
          + ("" if ok else f"\n     llama.cpp: {text.group(1) if text else None!r} {ids}\n     expected:  "
                           f"{case['text']!r} {case['ids']}"))
print(f"{checked - failures} of {checked} prompts: llama.cpp's chat template = transformers' (text and token ids)")
sys.exit(1 if failures else 0)
PY
