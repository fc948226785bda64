#!/usr/bin/env bash
# Regenerates Tests/Fixtures/publish/expected.json: the general.* keys llama.cpp's converter would write for the merged
# fixture model in folders named as a user might name them, with and without a model card (Alpacoom-shaped, and the
# PEFT-generated card of adapters/alpaca-b), a --metadata override file and a --model-name
# (Tests/Fixtures/publish/generate.py, run with the gguf-py of LLAMA_CPP). The Swift test
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
folder() {  # NAME CARD: a copy of the merged folder named NAME, with CARD as its README.md (or none)
    cp -r "$work/merged" "$work/$1"
    if [ "$2" != - ]; then cp "$2" "$work/$1/README.md"; fi
    echo "$work/$1"
}
specs=(
    "card=$(folder Alpacoom-7B "$fx/alpacoom-card.md")=-=-"
    "peft-card=$(folder bloom-560m-alpaca-v1.1-chat Tests/Fixtures/adapters/alpaca-b/README.md)=-=-"
    "no-card=$(folder st-f16 -)=-=-"
    "override=$(folder alpacoom-override "$fx/alpacoom-card.md")=$fx/override.json=Alpacoom Override"
)
PYTHONPATH="$LLAMA_CPP/gguf-py" "$VENV/bin/python" "$fx/generate.py" "$fx/expected.json" "${specs[@]}"
echo "wrote $fx/expected.json"
