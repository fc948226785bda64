#!/usr/bin/env bash
# Checks by hand (not a test) that a bloomkit file runs across machines with llama.cpp's RPC backend: starts two
# ggml-rpc-server processes on 127.0.0.1 (standing in for two machines), runs llama-completion with --rpc on both and
# -ngl 99 (every layer offloaded to them), on a bloomkit F32 file and on the same model as a 2-part split set, and
# compares the greedy text with `bloomkit generate`'s.
# Needs a llama.cpp build with -DGGML_RPC=ON (targets ggml-rpc-server llama-completion), e.g.
#   cmake -S .tools/llama.cpp -B .tools/llama.cpp/build-rpc -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_RPC=ON \
#     -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_OPENSSL=OFF
#   cmake --build .tools/llama.cpp/build-rpc -j2 --target ggml-rpc-server llama-completion
# Usage: scripts/check-llama-cpp-rpc.sh [MODEL_FOLDER]   (default: the tiny fixture model tiny-b/st-f16)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${LLAMA_RPC_BIN:-$root/.tools/llama.cpp/build-rpc/bin}"
[ -x "$bin/ggml-rpc-server" ] || bin=/work/main/.tools/llama.cpp/build-rpc/bin
[ -x "$bin/ggml-rpc-server" ] || { echo "no ggml-rpc-server: build llama.cpp with -DGGML_RPC=ON" >&2; exit 2; }
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
model="${1:-$root/Tests/Fixtures/models/tiny-b/st-f16}"
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
ports=(${RPC_PORTS:-50152 50153})
for port in "${ports[@]}"; do
  "$bin/ggml-rpc-server" -H 127.0.0.1 -p "$port" >"$out/rpc-$port.log" 2>&1 &
  pids+=($!)
done
sleep 2
rpc=$(printf '127.0.0.1:%s,' "${ports[@]}"); rpc=${rpc%,}
"$bloomkit" convert "$model" -o "$out/m.gguf" --type f32 --quiet
tensors=$("$bloomkit" inspect "$out/m.gguf" --json | grep -c '"nbytes"')
"$bloomkit" convert "$model" -o "$out/s.gguf" --type f32 --quiet --split-max-tensors $(( (tensors + 1) / 2 ))
prompt="The capital of France is"
n=16
want=$("$bloomkit" generate "$out/m.gguf" --prompt "$prompt" --max-tokens "$n" 2>/dev/null)
failures=0
for file in "$out/m.gguf" "$out/s-00001-of-00002.gguf"; do
  log="$out/$(basename "$file").log"
  got=$("$bin/llama-completion" -m "$file" --rpc "$rpc" -ngl 99 -p "$prompt" -n "$n" --temp 0 -no-cnv -v \
        2>"$log" </dev/null)
  devices=$(grep -o 'assigned to device RPC[0-9]*' "$log" | sort | uniq -c | tr '\n' ';' || true)
  if [ "${got#"$prompt"}" = "${want#"$prompt"}" ] || [ "$got" = "$want" ]; then
    echo "OK   $(basename "$file") over RPC ($devices): ${got#"$prompt"}"
  else
    echo "DIFF $(basename "$file"): llama.cpp '$got' vs bloomkit '$want'"; failures=$((failures + 1))
  fi
done
echo "$([ "$failures" = 0 ] && echo "ALL OK" || echo "$failures failures")"
exit $(( failures > 0 ))
