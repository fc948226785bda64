#!/usr/bin/env bash
# Benchmark (not a test): `bloomkit merge` of a random r-16 LoRA on query_key_value into a BLOOM-shaped checkpoint
# with random f16 weights (bloom-7b1 shape by default: hidden 4096, 30 layers, 32 heads, vocab 250880, ~14.1 GB).
# Prints wall time, MB/s (bytes written / wall) and peak RSS (/usr/bin/time -v), release build.
#
#   scripts/bench-merge.sh                 # bloom-7b1 shape
#   LAYERS=8 scripts/bench-merge.sh        # fewer layers when the disk is tight (needs ~2 × the model size free)
#   KEEP=1 scripts/bench-merge.sh          # keep the generated files (default: delete them at the end)
#   KEEP=1 REUSE=1 scripts/bench-merge.sh  # merge again into a base and adapter kept by an earlier run
#
# Env: PYTHON (a python with numpy), BENCH_DIR (default /tmp/bloomkit-bench-merge), HIDDEN LAYERS HEADS VOCAB RANK
# SHARDS (base shards, default 3), MAX_SHARD (output --max-shard-size, default 5GB).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-/work/main/.tools/venv/bin/python}
BENCH_DIR=${BENCH_DIR:-/tmp/bloomkit-bench-merge}
HIDDEN=${HIDDEN:-4096} LAYERS=${LAYERS:-30} HEADS=${HEADS:-32} VOCAB=${VOCAB:-250880} RANK=${RANK:-16}
SHARDS=${SHARDS:-3} MAX_SHARD=${MAX_SHARD:-5GB}

need=$(( (VOCAB * HIDDEN + LAYERS * 12 * HIDDEN * HIDDEN) * 2 * (${REUSE:-0} == 1 ? 1 : 2) / 1000000000 + 1 ))
avail=$(df -BG --output=avail "$(dirname "$BENCH_DIR")" | tail -1 | tr -dc 0-9)
echo "disk: need ~${need} GB (base + output), ${avail} GB free"
if (( avail < need + 5 )); then
    echo "not enough disk for this shape; set LAYERS lower" >&2
    exit 1
fi

cleanup() { if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$BENCH_DIR"; fi; }
trap cleanup EXIT
if [[ "${REUSE:-0}" == 1 && -d "$BENCH_DIR/base" && -d "$BENCH_DIR/adapter" ]]; then
    rm -rf "$BENCH_DIR/merged"
else
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"

echo "== base: hidden $HIDDEN, $LAYERS layers, $HEADS heads, vocab $VOCAB, f16, $SHARDS shard(s)"
"$PYTHON" scripts/make-random-bloom.py "$BENCH_DIR/base" --hidden "$HIDDEN" --layers "$LAYERS" --heads "$HEADS" \
    --vocab "$VOCAB" --dtype f16 --format safetensors --shards "$SHARDS" --tokenizer Tests/Fixtures/tokenizer

echo "== adapter: r $RANK on query_key_value (current PEFT layout, f32 safetensors)"
"$PYTHON" - "$BENCH_DIR/adapter" "$HIDDEN" "$LAYERS" "$RANK" <<'EOF'
import json, struct, sys
from pathlib import Path
import numpy as np
out, h, layers, r = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
tensors = {}
for i in range(layers):
    p = "base_model.model.transformer.h.%d.self_attention.query_key_value." % i
    tensors[p + "lora_A.weight"] = (rng.standard_normal((r, h), dtype=np.float32) / np.sqrt(h)).astype("<f4")
    tensors[p + "lora_B.weight"] = (rng.standard_normal((3 * h, r), dtype=np.float32) * 0.01).astype("<f4")
header, off = {"__metadata__": {"format": "pt"}}, 0
for k in sorted(tensors):
    header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + tensors[k].nbytes]}
    off += tensors[k].nbytes
hb = json.dumps(header, separators=(",", ":")).encode()
hb += b" " * (-len(hb) % 8)
with open(out / "adapter_model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hb)) + hb)
    for k in sorted(tensors):
        tensors[k].tofile(f)
json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0,
           "target_modules": ["query_key_value"], "bias": "none", "fan_in_fan_out": False,
           "base_model_name_or_path": "bigscience/bloom-7b1"}, open(out / "adapter_config.json", "w"), indent=2)
print("adapter: %.1f MB" % (off / 1e6))
EOF
fi

echo "== build (release)"
swift build -c release --product bloomkit 2>&1 | tail -1
BIN=$(swift build -c release --show-bin-path)/bloomkit

echo "== merge"
sync
/usr/bin/time -v "$BIN" merge "$BENCH_DIR/base" "$BENCH_DIR/adapter" -o "$BENCH_DIR/merged" \
    --max-shard-size "$MAX_SHARD" \
    2> "$BENCH_DIR/time.txt"
grep -E "Elapsed \(wall|Maximum resident|User time|System time" "$BENCH_DIR/time.txt"
bytes=$(du -cb "$BENCH_DIR"/merged/*.safetensors | tail -1 | cut -f1)
wall=$(grep "Elapsed (wall" "$BENCH_DIR/time.txt" | awk '{print $NF}')
rss_kb=$(grep "Maximum resident" "$BENCH_DIR/time.txt" | awk '{print $NF}')
"$PYTHON" - "$bytes" "$wall" "$rss_kb" <<'EOF'
import sys
b, wall, rss = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
parts = [float(x) for x in wall.split(":")]
sec = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
print("written %.2f GB in %.1f s: %.0f MB/s, peak RSS %.2f GB" % (b / 1e9, sec, b / 1e6 / sec, rss * 1024 / 1e9))
EOF
ls -la "$BENCH_DIR/merged"
