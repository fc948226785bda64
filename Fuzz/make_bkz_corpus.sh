#!/usr/bin/env bash
# Seeds of fuzz-bkz (Fuzz/corpus/fuzz-bkz/): `bloomkit pack` of a few seeds of the other targets (F16/BF16/F32
# safetensors tensors, a GGUF with F32 and Q8_0 blocks, a folder of them). Run by hand after `swift build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bk=${BLOOMKIT:-$root/.build/debug/bloomkit}
c=$root/Fuzz/corpus
out=$c/fuzz-bkz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out" "$tmp/folder/sub"
"$bk" pack "$c/fuzz-safetensors/valid-dtypes.safetensors" -o "$out/safetensors.bkz" --quiet >/dev/null
"$bk" pack "$c/fuzz-gguf/tiny-bloom.gguf" -o "$out/gguf.bkz" --quiet >/dev/null
cp "$c/fuzz-safetensors/valid-dtypes.safetensors" "$tmp/folder/a.safetensors"
cp "$c/fuzz-safetensors/valid-dtypes.safetensors" "$tmp/folder/sub/b.safetensors"  # a duplicate tensor per tensor
cp "$c/fuzz-config/"$(ls "$c/fuzz-config" | head -1) "$tmp/folder/config.json"
"$bk" pack "$tmp/folder" -o "$out/folder.bkz" --quiet >/dev/null
ls -l "$out"
