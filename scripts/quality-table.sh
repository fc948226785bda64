#!/usr/bin/env bash
# The README's quality table: for tiny-b, each quantization type with and without an importance matrix, the
# perplexity change and the mean KL divergence against the F16 file on the held-out text, measured by bloomkit and
# by llama-perplexity on the same files (needs llama.cpp: scripts/build-llama-cpp.sh). tiny-b's rows (96 and 384
# values) do not fit 256-value super-blocks, so its K mixes hold llama-quantize's fallback types (Q4_0...Q8_0).
#   files: bloomkit convert (F16), bloomkit imatrix on the calibration text (default: /usr/share/common-licenses/GPL-3,
#   part of the fixture model's training prose; the held-out text is not), bloomkit quantize [--imatrix].
# Usage: scripts/quality-table.sh [LLAMA_BIN_DIR]   (CALIBRATION=FILE, CTX=N default 64, KEEP=1 keeps the files)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${1:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-perplexity" ] || bin=/work/main/.tools/llama.cpp/build/bin
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
out=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT
text="$root/Tests/Fixtures/expected/perplexity/heldout.txt"
calibration="${CALIBRATION:-/usr/share/common-licenses/GPL-3}"
ctx="${CTX:-64}"
# llama-perplexity drops its closing statistics at exit unless its log is flushed (see scripts/compare-kld.sh).
printf '%s\n' 'struct common_log; common_log * common_log_main(); void common_log_flush(common_log *);' \
  'int llama_perplexity(int, char **);' \
  'int main(int c, char ** v) { int r = llama_perplexity(c, v); common_log_flush(common_log_main()); return r; }' \
  > "$out/wrap.cpp"
c++ -O1 "$out/wrap.cpp" -o "$out/llama-perplexity" -L"$bin" -lllama-perplexity-impl -lllama-common -Wl,-rpath,"$bin"
lp=("$out/llama-perplexity" -f "$text" -c "$ctx" -b "$ctx" -t 2)
"$bloomkit" convert "$root/Tests/Fixtures/models/tiny-b/bin-f32-lmhead" -o "$out/f16.gguf" --type f16 --quiet
"$bloomkit" imatrix "$out/f16.gguf" -f "$calibration" -o "$out/imatrix.gguf" -c "$ctx" > /dev/null
"$bloomkit" perplexity "$out/f16.gguf" "$text" -c "$ctx" --kl-divergence-base "$out/bk-base.kld" > /dev/null 2>&1
"${lp[@]}" -m "$out/f16.gguf" --kl-divergence-base "$out/llama-base.kld" > /dev/null 2>&1
printf '%s' "| type | imatrix | PPL (bloomkit) | ΔPPL vs F16 | mean KLD (bloomkit) | PPL (llama.cpp) | ΔPPL "
echo "| mean KLD (llama.cpp) | same top (bloomkit / llama.cpp) |"
echo "|---|---|---|---|---|---|---|---|---|"
for type in q8_0 q5_1 q5_0 q4_1 q4_0 q6_k q5_k_m q4_k_m q4_k_s q3_k_m q2_k; do
  for im in no yes; do
    f="$out/$type-$im.gguf"
    args=(); [ "$im" = yes ] && args=(--imatrix "$out/imatrix.gguf")
    "$bloomkit" quantize "$out/f16.gguf" -o "$f" --type "$type" "${args[@]}" --quiet
    "$bloomkit" perplexity "$f" --kl-divergence "$out/bk-base.kld" --json > "$out/bk.json" 2>/dev/null
    "${lp[@]}" -m "$f" --kl-divergence-base "$out/llama-base.kld" --kl-divergence > "$out/llama.log" 2>&1
    python3 - "$type" "$im" "$out/bk.json" "$out/llama.log" <<'PY'
import json, re, sys
t, im, bk, log = sys.argv[1:]
d = json.load(open(bk)); s = open(log, errors="replace").read()
g = lambda p: float(re.search(p, s)[1])
lq, lb = g(r"Mean PPL\(Q\)\s*:\s*([\d.]+)"), g(r"Mean PPL\(base\)\s*:\s*([\d.]+)")
lk, lt = g(r"Mean    KLD:\s*([\d.]+)"), g(r"Same top p:\s*([\d.]+)")
bq, bb = d["perplexity"]["value"], d["base_perplexity"]["value"]
print(f"| {t} | {im} | {bq:.3f} | {100 * (bq / bb - 1):+.2f}% | {d['kld']['value']:.5f} | {lq:.3f} | "
      f"{100 * (lq / lb - 1):+.2f}% | {lk:.5f} | {100 * d['same_top']['value']:.2f}% / {lt:.2f}% |")
PY
  done
done
