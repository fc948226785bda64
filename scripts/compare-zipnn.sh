#!/usr/bin/env bash
# bloomkit pack/unpack vs zipnn 0.5.4 (PyPI) vs `zstd -19`: ratio and throughput on the same files, same run, niced.
#
#   scripts/compare-zipnn.sh [WORKDIR]         (default /tmp/bloomkit-compare-zipnn; needs ~2 GB there)
#
# Files: random BLOOM-shaped checkpoints from scripts/make-random-bloom.py --fresh (normal(0, 0.02) weights, every
# value drawn anew) in BF16, F16 and F32; Q8_0 and Q4_0 GGUF files converted from the F16 one by bloomkit; the tiny
# trained fixtures (F16, BF16 shard). Shape: bloom-560m's hidden size with fewer layers and a smaller vocabulary
# (HIDDEN=1024 LAYERS=1 HEADS=16 VOCAB=8192, about 21M weights) so a shared 2-core machine finishes in minutes.
# Environment: THREADS (default 2), HIDDEN, LAYERS, HEADS, VOCAB, NICE (default 10); UNPACK_DIR (pack, unpack and copy
# there, e.g. /dev/shm, to compare memory to memory with zipnn's in-memory decompression), SKIP_ZSTD=1 (leave out
# `zstd -19`, which takes minutes per 100 MB). The 560M shape: HIDDEN=1024 LAYERS=24 VOCAB=250880 (1.1 GB in F16).
# The venv (.tools/venv: numpy, zstandard, zipnn==0.5.4 without its torch dependency, see compare-zipnn.py) and a
# release build of bloomkit are made when missing. Prints a markdown table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/bloomkit-compare-zipnn}
threads=${THREADS:-2}
nice_level=${NICE:-10}
shape=(--hidden "${HIDDEN:-1024}" --layers "${LAYERS:-1}" --heads "${HEADS:-16}" --vocab "${VOCAB:-8192}")
venv=$root/.tools/venv

command -v zstd >/dev/null || { echo "zstd is missing (apt-get install zstd)" >&2; exit 1; }
if ! "$venv/bin/python" -c "import numpy, zstandard, zipnn_core" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy zstandard
    "$venv/bin/pip" install -q --no-deps zipnn==0.5.4
fi
(cd "$root" && nice -n "$nice_level" swift build -c release --product bloomkit 2>&1 | tail -1)
bk=$root/.build/release/bloomkit

mkdir -p "$work/gguf" "$work/fixtures"
for dt in bf16 f16 f32; do
    [[ -f "$work/$dt/model.safetensors" ]] || nice -n "$nice_level" "$venv/bin/python" \
        "$root/scripts/make-random-bloom.py" "$work/$dt" "${shape[@]}" --dtype "$dt" --fresh \
        --tokenizer "$root/Tests/Fixtures/models/tiny-b/st-f16" >/dev/null
done
for t in q8_0 q4_0; do
    [[ -f "$work/gguf/$t.gguf" ]] || nice -n "$nice_level" "$bk" convert "$work/f16" --type "$t" \
        -o "$work/gguf/$t.gguf" --quiet >/dev/null
done
cp "$root/Tests/Fixtures/models/tiny-b/st-f16/model.safetensors" "$work/fixtures/tiny-b-f16.safetensors"
cp "$root/Tests/Fixtures/models/tiny-a/st-bf16-sharded/model-00001-of-00003.safetensors" \
    "$work/fixtures/tiny-a-bf16.safetensors"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "$nice_level" "$venv/bin/python" "$root/scripts/compare-zipnn.py" "$bk" "$threads" \
    "$work/bf16/model.safetensors:bfloat16" "$work/f16/model.safetensors:float16" \
    "$work/f32/model.safetensors:float32" "$work/gguf/q8_0.gguf:gguf" "$work/gguf/q4_0.gguf:gguf" \
    "$work/fixtures/tiny-b-f16.safetensors:float16" "$work/fixtures/tiny-a-bf16.safetensors:bfloat16"
