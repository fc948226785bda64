#!/usr/bin/env bash
# Regenerates Tests/Fixtures/publish/expected.json: the general.* keys llama.cpp's converter would write for the merged
# fixture model in folders named as a user might name them, with and without a model card (Alpacoom-shaped, and the
# PEFT-generated card of adapters/alpaca-b), a --metadata override file and a --model-name, and with
# generation_config.json files holding sampler settings (the general.sampling.* keys, from the file and from an
# override) (Tests/Fixtures/publish/generate.py, run with the gguf-py of LLAMA_CPP). The Swift test
# (BloomConvertTests/PublishMetadataTests) builds the same folders and compares every key.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.tools/venv}
BLOOMKIT=${BLOOMKIT:-.build/debug/bloomkit}
LLAMA_CPP=${LLAMA_CPP:-/work/main/.tools/llama.cpp}
fx=Tests/Fixtures/publish
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BLOOMKIT" merge Tests/Fixtures/models/tiny-b/st-f16 Tests/Fixtures/adapters/alpaca-b -o "$work/merged" --quiet
folder() {  # NAME CARD [GENERATION_CONFIG]: a copy of the merged folder named NAME, with CARD as its README.md
            # (or none) and GENERATION_CONFIG as its generation_config.json (or the base model's)
    cp -r "$work/merged" "$work/$1"
    if [ "$2" != - ]; then cp "$2" "$work/$1/README.md"; fi
    if [ -n "${3:-}" ]; then cp "$3" "$work/$1/generation_config.json"; fi
    echo "$work/$1"
}
specs=(
    "card=$(folder Alpacoom-7B "$fx/alpacoom-card.md")=-=-"
    "peft-card=$(folder bloom-560m-alpaca-v1.1-chat Tests/Fixtures/adapters/alpaca-b/README.md)=-=-"
    "no-card=$(folder st-f16 -)=-=-"
    "override=$(folder alpacoom-override "$fx/alpacoom-card.md")=$fx/override.json=Alpacoom Override"
    "sampling=$(folder bloom-sampling - "$fx/sampling-generation_config.json")=-=-"
    "sampling-override=$(folder bloom-sampling-2 - "$fx/sampling-generation_config.json")=$fx/sampling-override.json=-"
    "both-penalties=$(folder bloom-penalties - "$fx/sampling-both-penalties.json")=-=-"
)
# With torch in the venv, convert_hf_to_gguf.py itself converts every case too, and must write the same keys.
converter=
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then converter="$LLAMA_CPP/convert_hf_to_gguf.py"; fi
CONVERTER="$converter" PYTHONPATH="$LLAMA_CPP/gguf-py" "$VENV/bin/python" "$fx/generate.py" "$fx/expected.json" \
    "${specs[@]}"
echo "wrote $fx/expected.json"
