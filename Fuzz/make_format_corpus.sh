#!/usr/bin/env bash
# Seeds of the targets for formats bloomkit writes or reads beside checkpoints: fuzz-imatrix (importance matrices),
# fuzz-lora-gguf (LoRA adapter GGUFs for Fuzz/corpus/fuzz-gguf/tiny-bloom.gguf), fuzz-split (the first part of a
# gguf-split set of tiny-bloom.gguf; the second part goes to Fuzz/parts/fuzz-split/, where the harness reads it) and
# fuzz-model-card (README.md headers). Made by bloomkit itself (`convert ADAPTER --base`,
# `quantize --split-max-tensors`) from tiny-bloom.gguf and the test fixtures; the adapter folder is written here with
# python3's standard library only. Run by hand after `swift build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bk=${BLOOMKIT:-$root/.build/debug/bloomkit}
c=$root/Fuzz/corpus
fix=$root/Tests/Fixtures
base=$c/fuzz-gguf/tiny-bloom.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$c/fuzz-imatrix" "$c/fuzz-lora-gguf" "$c/fuzz-split" "$c/fuzz-model-card" "$root/Fuzz/parts/fuzz-split"
mkdir -p "$c/fuzz-imatrix" "$c/fuzz-lora-gguf" "$c/fuzz-split" "$c/fuzz-model-card" "$root/Fuzz/parts/fuzz-split"

# Importance matrices: llama-imatrix's GGUF (one and four chunks) and legacy .dat of the fixture model.
cp "$fix/expected/imatrix/tiny-b-c64.gguf" "$fix/expected/imatrix/tiny-b-c64-chunks4.gguf" \
    "$fix/expected/imatrix/tiny-b-c64.dat" "$c/fuzz-imatrix/"

# A PEFT adapter for tiny-bloom (hidden 8, ffn 32, 1 block, r 2, every linear layer), then its GGUF in three types.
python3 - "$tmp/adapter" <<'PY'
import json, os, struct, sys
out = sys.argv[1]
os.makedirs(out)
shapes = {"self_attention.query_key_value": (24, 8), "self_attention.dense": (8, 8),
          "mlp.dense_h_to_4h": (32, 8), "mlp.dense_4h_to_h": (8, 32)}
header, data = {}, b""
for k, (name, (n_out, n_in)) in enumerate(shapes.items()):
    for part, shape in (("lora_A", (2, n_in)), ("lora_B", (n_out, 2))):
        count = shape[0] * shape[1]
        values = [((i * 7 + k) % 11 - 5) / 40 for i in range(count)]
        key = f"base_model.model.transformer.h.0.{name}.{part}.weight"
        header[key] = {"dtype": "F32", "shape": list(shape), "data_offsets": [len(data), len(data) + 4 * count]}
        data += struct.pack(f"<{count}f", *values)
text = json.dumps(header).encode()
with open(os.path.join(out, "adapter_model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
with open(os.path.join(out, "adapter_config.json"), "w") as f:
    json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4,
               "target_modules": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]}, f)
PY
for type in f32 f16 bf16; do
    "$bk" convert "$tmp/adapter" --base "$base" --type "$type" -o "$c/fuzz-lora-gguf/tiny-lora-$type.gguf" \
        --quiet >/dev/null
done

# A two-part gguf-split set of tiny-bloom (17 tensors, at most 9 per part).
"$bk" quantize "$base" -o "$tmp/set.gguf" --type f32 --split-max-tensors 9 --quiet >/dev/null
cp "$tmp/set-00001-of-00002.gguf" "$c/fuzz-split/tiny-bloom-00001-of-00002.gguf"
cp "$tmp/set-00002-of-00002.gguf" "$root/Fuzz/parts/fuzz-split/tiny-bloom-00002-of-00002.gguf"

# Model cards: the fixtures' (an adapter's, the publish test's) and a small one with every construct read.
cp "$fix/adapters/alpaca-b/README.md" "$c/fuzz-model-card/adapter-card.md"
cp "$fix/publish/alpacoom-card.md" "$c/fuzz-model-card/alpacoom-card.md"
cat >"$c/fuzz-model-card/constructs.md" <<'CARD'
---
license: bigscience-bloom-rail-1.0
language: [en, fr, "zh"]
base_model:
- bigscience/bloom-560m
tags:
  - lora
  - 'peft'
model-index:
- name: tiny
  results: []
datasets: # comment
- tatsu-lab/alpaca
pipeline_tag: text-generation
---
# tiny
CARD
ls -l "$c/fuzz-imatrix" "$c/fuzz-lora-gguf" "$c/fuzz-split" "$c/fuzz-model-card" "$root/Fuzz/parts/fuzz-split"
