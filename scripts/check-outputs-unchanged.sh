#!/usr/bin/env bash
# Checks that a change leaves every GGUF file bloomkit writes byte-identical: builds BASE_REV (default: the merge-base
# with main) in a temporary git worktree with its own scratch path, builds this checkout (working tree included), then
# converts every fixture model (Tests/Fixtures/models/*/*), alone and with each fixture adapter made for it
# (adapter_config.json's base_model_name_or_path, --lora), to every type bloomkit writes, with both builds, and
# compares the files' sha256. Both builds read the same fixture paths, so the provenance keys match too.
#
# usage: scripts/check-outputs-unchanged.sh [BASE_REV]
# env:   TYPES="f32 f16 bf16 q8_0 q4_0 q4_1"   the --type values to write
#        KEEP=1                                 keep the base worktree and its build for the next run
# exit:  0 all identical, 1 a difference or a failed conversion, 2 bad usage or a failed build
set -euo pipefail

root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
cd "$root"
if [ $# -gt 1 ]; then echo "usage: $0 [BASE_REV]" >&2; exit 2; fi
base_ref=${1:-$(git merge-base HEAD main)}
base=$(git rev-parse --verify --quiet "$base_ref^{commit}") || {
  echo "error: '$base_ref' is not a commit" >&2; exit 2
}
types=${TYPES:-f32 f16 bf16 q8_0 q4_0 q4_1}

# .build-*/ is git-ignored: the base worktree, its scratch path and the outputs live there.
work="$root/.build-outputs-check"
src="$work/src-${base:0:12}"
out="$work/out"
mkdir -p "$work"
cleanup() {
    if [ "${KEEP:-0}" != 1 ] && [ -d "$src" ]; then
        git worktree remove --force "$src" >/dev/null 2>&1 || true
        rm -rf "$src" "$work/scratch-${base:0:12}"
    fi
}
trap cleanup EXIT

if [ ! -d "$src" ]; then
    git worktree add --detach "$src" "$base" >/dev/null
fi
# The dependency pins of this checkout, so that the base resolves from SwiftPM's cache without the network.
if [ -f Package.resolved ] && [ ! -f "$src/Package.resolved" ]; then cp Package.resolved "$src/"; fi

echo "building base ${base:0:12} in $src" >&2
swift build --package-path "$src" --scratch-path "$work/scratch-${base:0:12}" --product bloomkit >&2 \
    || { echo "error: the base build failed" >&2; exit 2; }
base_bin="$(swift build --package-path "$src" --scratch-path "$work/scratch-${base:0:12}" --show-bin-path)/bloomkit"
echo "building this checkout ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', modified'))" >&2
swift build --product bloomkit >&2 || { echo "error: the build of this checkout failed" >&2; exit 2; }
head_bin="$(swift build --show-bin-path)/bloomkit"

fixtures="$root/Tests/Fixtures"
# "model-folder|adapter-folder" (adapter empty for the model alone).
jobs=()
for model in "$fixtures"/models/*/*/; do
    model=${model%/}
    jobs+=("$model|")
    family=$(basename "$(dirname "$model")")
    for adapter in "$fixtures"/adapters/*/; do
        adapter=${adapter%/}
        for_base=$(jq -r '.base_model_name_or_path // ""' "$adapter/adapter_config.json")
        if [ "$(basename "$for_base")" = "$family" ]; then jobs+=("$model|$adapter"); fi
    done
done

rm -rf "$out"
mkdir -p "$out/base" "$out/head"
compared=0
failed=0
for job in "${jobs[@]}"; do
    model=${job%%|*}
    adapter=${job#*|}
    label="$(basename "$(dirname "$model")")-$(basename "$model")"
    lora=()
    if [ -n "$adapter" ]; then label="$label+$(basename "$adapter")"; lora=(--lora "$adapter"); fi
    for type in $types; do
        name="$label.$type.gguf"
        for side in base head; do
            bin=$base_bin
            [ "$side" = head ] && bin=$head_bin
            if ! "$bin" convert "$model" "${lora[@]}" --type "$type" -o "$out/$side/$name" \
                    >"$out/$side/$name.log" 2>&1; then
                echo "FAILED  $side $name (see $out/$side/$name.log)"
                failed=$((failed + 1))
                continue 2
            fi
        done
        a=$(sha256sum "$out/base/$name" | cut -d' ' -f1)
        b=$(sha256sum "$out/head/$name" | cut -d' ' -f1)
        compared=$((compared + 1))
        if [ "$a" = "$b" ]; then
            echo "same    $name ${a:0:16}"
        else
            echo "DIFFERS $name base ${a:0:16} head ${b:0:16}"
            failed=$((failed + 1))
        fi
    done
done
echo "$compared files compared, $failed differing or failed (base ${base:0:12})"
[ "$failed" -eq 0 ]
