#!/usr/bin/env bash
# Regenerates Tests/Fixtures/chat-template/expected.json: for each Alpaca style, `bloomkit merge --template STYLE` of
# the tiny fixture model and its Alpaca adapter, `bloomkit convert` of that merged folder (the template travels through
# tokenizer_config.json), then transformers' apply_chat_template and jinja2 render the fixture instructions
# (Tests/Fixtures/chat-template/generate.py). Needs a venv with jinja2, transformers, tokenizers and gguf
# (VENV, default .tools/venv); torch is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.tools/venv}
BLOOMKIT=${BLOOMKIT:-.build/debug/bloomkit}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
specs=()
for style in card stanford; do
    "$BLOOMKIT" merge Tests/Fixtures/models/tiny-b/st-f16 Tests/Fixtures/adapters/alpaca-b \
        -o "$work/merged-$style" --template "$style" --quiet
    "$BLOOMKIT" convert "$work/merged-$style" -o "$work/$style.gguf" --type f32
    specs+=("$style=$work/merged-$style=$work/$style.gguf")
done
"$VENV/bin/python" Tests/Fixtures/chat-template/generate.py Tests/Fixtures/chat-template/expected.json "${specs[@]}"
echo "wrote Tests/Fixtures/chat-template/expected.json"
