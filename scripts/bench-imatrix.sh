#!/usr/bin/env bash
# imatrix speed (issue 13): `bloomkit imatrix` and `llama-imatrix` on the same F16 GGUF of a BLOOM-560M-shaped random
# checkpoint, same text, same chunking (-c 512, --chunks N), same threads, interleaved (llama, bloomkit) R times in
# one run; prints each run's tokens/s (whole process, load included) and the medians. Not a test.
# Usage: scripts/bench-imatrix.sh [repetitions, default 3]
#   env: WORK=/tmp/bloomkit-imatrix-bench  THREADS=2  CHUNKS=2  TEXT=/usr/share/common-licenses/GPL-3
#        MODEL=f16.gguf (default: made by scripts/make-random-bloom.py and `bloomkit convert --type f16`)
#        LLAMA_BIN=dir  BLOOMKIT=path  PYTHON=python with numpy (for make-random-bloom.py)
# llama-imatrix asks for the logits of every token (its batch marks all outputs, for --ppl and the output head);
# bloomkit computes the blocks' statistics and only the last token's logits, which it does not need either.
# Measured (2026-12-06, release, 2 threads, a 2-core AVX2/FMA/F16C machine shared with other jobs, so every figure
# is noisy; F16 from llama.cpp's converter; 2 chunks of 512 tokens of GPL-3), medians (bloomkit / llama-imatrix):
#   3 runs at load 8-10: 26.8 / 18.9 tokens/s (1.42x); 3 at load 3: 72.8 / 63.4 (1.14x); 5 at load 3-8: 36.6 / 30.4
#   (1.20x). bloomkit was the faster in 10 of 12 pairs (best runs: 112 vs 98 tokens/s). The statistics were within
#   9e-5 relative (L2, per tensor) of llama-imatrix's. Collecting them is 0.3% of bloomkit's time (perf): the F16
#   GEMM is 83%.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
work=${WORK:-/tmp/bloomkit-imatrix-bench}
threads=${THREADS:-2}
chunks=${CHUNKS:-2}
text=${TEXT:-/usr/share/common-licenses/GPL-3}
bin=${LLAMA_BIN:-$root/.tools/llama.cpp/build/bin}
[ -x "$bin/llama-imatrix" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-imatrix" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
bloomkit=${BLOOMKIT:-$root/.build/release/bloomkit}
[ -x "$bloomkit" ] || { echo "build bloomkit first (swift build -c release)" >&2; exit 2; }
mkdir -p "$work"
model=${MODEL:-$work/f16.gguf}
if [ ! -f "$model" ]; then
  "${PYTHON:-python3}" "$root/scripts/make-random-bloom.py" "$work/bloom-560m" --hidden 1024 --layers 24 --heads 16 \
    --vocab 250880 --dtype f16 --format safetensors --shards 1 --tokenizer "$root/Tests/Fixtures/tokenizer" >&2
  "$bloomkit" convert "$work/bloom-560m" -o "$model" --type f16 --quiet
fi
tokens=$((chunks * 512))
rate() { echo "scale=2; $tokens / ($2 - $1)" | bc; }
llama=(); ours=()
for i in $(seq "$reps"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  s=$(date +%s.%N)
  "$bin/llama-imatrix" -m "$model" -f "$text" -c 512 --chunks "$chunks" -t "$threads" --no-ppl \
    -o "$work/llama.gguf" > "$work/llama.log" 2>&1 || { tail -5 "$work/llama.log"; exit 1; }
  m=$(date +%s.%N)
  "$bloomkit" imatrix "$model" -f "$text" -c 512 --chunks "$chunks" --threads "$threads" \
    -o "$work/bloomkit.gguf" > "$work/bloomkit.log" 2>&1 || { tail -5 "$work/bloomkit.log"; exit 1; }
  e=$(date +%s.%N)
  llama+=("$(rate "$s" "$m")"); ours+=("$(rate "$m" "$e")")
  echo "run $i (load $load): llama-imatrix ${llama[-1]} tokens/s, bloomkit ${ours[-1]} tokens/s"
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
l=$(median "${llama[@]}"); b=$(median "${ours[@]}")
echo "median: llama-imatrix $l tokens/s, bloomkit $b tokens/s, ratio $(echo "scale=2; $b / $l" | bc)x" \
  "(load now $(cut -d' ' -f1-3 /proc/loadavg))"
