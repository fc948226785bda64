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
ls -l "$out"
