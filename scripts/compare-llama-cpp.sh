#!/usr/bin/env bash
# Speed of `bloomkit bench` next to llama.cpp's llama-bench on the same GGUF files, same machine, same run (issue 6).
#   1. builds llama.cpp from the llama-cpp-python sdist (scripts/build-llama-cpp.sh) and bloomkit (release);
#   2. makes a BLOOM-560M-shaped random checkpoint (scripts/make-random-bloom.py, f16) and converts it with
#      `bloomkit convert` to F16, Q8_0 and Q4_0 (and, with PURE=1, Q4_0 with a Q4_0 embedding too); the K-quant mixes
#      (Q4_K_M, Q5_K_M, Q6_K) come from llama-quantize on the F16 file (TYPES picks the files);
#   3. measures the read bandwidth with a plain AVX2 loop on THREADS threads (the tg limit: bandwidth ÷ bytes of
#      weights one token reads);
#   4. for ROUNDS rounds, alternating: llama-bench then bloomkit bench on each file (pp128, pp512, tg128, REPS
#      repetitions each), and prints mean ± sd per tool, the ratios, the share of the bandwidth limit and bloomkit's
#      time to first token (16-token prompt).
# Usage: scripts/compare-llama-cpp.sh
#   env: THREADS=2 ROUNDS=3 REPS=3 WORK=/tmp/bloomkit-compare KEEP=1 (keep the files) PURE=1 (also an all-Q4_0 file)
#        TYPES="f16 q8_0 q4_0 q4_k_m q5_k_m q6_k" (the files to compare)
#        LLAMA_BIN=dir (an existing llama.cpp build) BLOOMKIT=path (an existing release build) PYTHON=python with numpy
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${THREADS:-2}; rounds=${ROUNDS:-3}; reps=${REPS:-3}
work=${WORK:-/tmp/bloomkit-compare}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -f "$work"/*.gguf "$work"/readbw; rm -rf "$work/bloom-560m"' EXIT

bin=${LLAMA_BIN:-$root/.tools/llama.cpp/build/bin}
[ -x "$bin/llama-bench" ] || "$root/scripts/build-llama-cpp.sh" >&2
bloomkit=${BLOOMKIT:-}
if [ -z "$bloomkit" ]; then
  (cd "$root" && swift build -c release --product bloomkit >&2)
  bloomkit="$root/.build/release/bloomkit"
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
  if python3 -c "import numpy" 2>/dev/null; then python=python3; else
    [ -x "$root/.tools/venv-numpy/bin/python" ] || { python3 -m venv "$root/.tools/venv-numpy"; "$root/.tools/venv-numpy/bin/pip" install -q numpy; }
    python="$root/.tools/venv-numpy/bin/python"
  fi
fi
if [ ! -f "$work/bloom-560m/model.safetensors" ]; then
  "$python" "$root/scripts/make-random-bloom.py" "$work/bloom-560m" --hidden 1024 --layers 24 --heads 16 --vocab 250880 \
    --dtype f16 --format safetensors --shards 1 --tokenizer "$root/Tests/Fixtures/tokenizer" >&2
fi
files=()
[ -f "$work/b560-f16.gguf" ] || "$bloomkit" convert "$work/bloom-560m" -o "$work/b560-f16.gguf" --type f16 --quiet
for t in ${TYPES:-f16 q8_0 q4_0 q4_k_m q5_k_m q6_k}; do
  f="$work/b560-$t.gguf"
  case $t in
    f16) ;;
    q8_0|q4_0) [ -f "$f" ] || "$bloomkit" convert "$work/bloom-560m" -o "$f" --type "$t" --quiet ;;
    *) [ -f "$f" ] || LD_LIBRARY_PATH="$bin" "$bin/llama-quantize" "$work/b560-f16.gguf" "$f" "$t" "$threads" >/dev/null 2>&1 ;;
  esac
  files+=("$f")
done
if [ -n "${PURE:-}" ]; then
  "$bloomkit" convert "$work/bloom-560m" -o "$work/b560-q4_0-pure.gguf" --type q4_0 --embedding-type q4_0 --quiet
  files+=("$work/b560-q4_0-pure.gguf")
fi

# A plain AVX2 read loop: each thread sums its half of a 1 GiB buffer; best of 10 passes.
cat > "$work/readbw.c" <<'C'
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static size_t n; static char *buf; static int nt;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void *run(void *a) {
  long i = (long)a; const __m256i *p = (const __m256i *)(buf + n / nt * i), *e = (const __m256i *)(buf + n / nt * (i + 1));
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (; p < e; p += 4) { s0 = _mm256_add_epi64(s0, _mm256_load_si256(p)); s1 = _mm256_add_epi64(s1, _mm256_load_si256(p + 1));
                          s2 = _mm256_add_epi64(s2, _mm256_load_si256(p + 2)); s3 = _mm256_add_epi64(s3, _mm256_load_si256(p + 3)); }
  s0 = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  return (void *)(long)_mm256_extract_epi64(s0, 0);
}
int main(int argc, char **argv) {
  nt = atoi(argv[1]); n = (size_t)1 << 30; buf = aligned_alloc(64, n); memset(buf, 1, n);
  double best = 1e9;
  for (int r = 0; r < 10; r++) {
    pthread_t th[64]; double t0 = now();
    for (long i = 0; i < nt; i++) pthread_create(&th[i], 0, run, (void *)i);
    for (int i = 0; i < nt; i++) pthread_join(th[i], 0);
    double t = now() - t0; if (t < best) best = t;
  }
  printf("%.2f\n", n / best / 1e9);
}
C
cc -O2 -mavx2 -pthread "$work/readbw.c" -o "$work/readbw"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); threads $threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
features=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|f16c|avx512f|avx512_vnni|avx_vnni' | xargs)
echo "cpu features used by the kernels: ${features:-none} (AVX-512 VNNI: $(echo "$features" | grep -q avx512_vnni && echo yes || echo no))"
echo "llama.cpp: $("$bin/llama-bench" --version 2>&1 | grep -m1 -i 'version' || echo unknown)"
results="$work/results.jsonl"; : > "$results"
for round in $(seq "$rounds"); do
  echo "{\"tool\":\"readbw\",\"round\":$round,\"gbps\":$("$work/readbw" "$threads")}" >> "$results"
  for f in "${files[@]}"; do
    "$bin/llama-bench" -m "$f" -p 128,512 -n 128 -t "$threads" -r "$reps" -o jsonl 2>/dev/null \
      | sed "s|^{|{\"tool\":\"llama.cpp\",\"round\":$round,\"file\":\"$(basename "$f")\",|" >> "$results"
    for p in 128 512; do
      n=0; [ "$p" = 128 ] && n=128
      "$bloomkit" bench "$f" -p "$p" -n "$n" --threads "$threads" -r "$reps" --json \
        | sed "s|^{|{\"tool\":\"bloomkit\",\"round\":$round,\"file\":\"$(basename "$f")\",|" >> "$results"
    done
  done
  echo "round $round done ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bandwidth = {r["round"]: r["gbps"] for r in rows if r["tool"] == "readbw"}
print(f"read bandwidth (plain AVX2 loop, {len(bandwidth)} rounds): " + ", ".join(f"{b:.1f}" for b in bandwidth.values()) + " GB/s")
def ms(v): return f"{statistics.mean(v):8.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:5.2f}"
def pick(tool, f, test):
    """(round, tokens/s) of every run of `test` by `tool` on file f."""
    n = int(test[2:])
    out = []
    for r in rows:
        if r["tool"] != tool or r["file"] != f: continue
        if tool == "llama.cpp":
            if test.startswith("pp") and r["n_prompt"] == n and r["n_gen"] == 0: out.append((r["round"], r["avg_ts"]))
            if test.startswith("tg") and r["n_gen"] == n and r["n_prompt"] == 0: out.append((r["round"], r["avg_ts"]))
        else:
            if test.startswith("pp") and r["n_prompt"] == n: out.append((r["round"], r["prompt_tokens_per_s"]))
            if test.startswith("tg") and r["n_gen"] == n: out.append((r["round"], r["generated_tokens_per_s"]))
    return out
files = sorted({r["file"] for r in rows if "file" in r})
print(f"{'file':<22} {'test':<6} {'llama.cpp t/s':>17} {'bloomkit t/s':>17} {'ratio':>6}  notes")
for f in files:
    per_token = [r["bytes_per_token"] for r in rows if r["tool"] == "bloomkit" and r["file"] == f][0]
    for test in ("pp128", "pp512", "tg128"):
        ll, bk = pick("llama.cpp", f, test), pick("bloomkit", f, test)
        if not ll or not bk: continue
        llv, bkv = [v for _, v in ll], [v for _, v in bk]
        note = ""
        if test == "tg128":
            # each run against its own round's limit (bandwidth ÷ bytes of weights per token): the bandwidth moves
            share = lambda runs: statistics.mean(v / (bandwidth[r] * 1e9 / per_token) * 100 for r, v in runs)
            ttft = [r["time_to_first_token_ms"] for r in rows if r["tool"] == "bloomkit" and r["file"] == f]
            note = (f"{per_token / 1e6:.0f} MB/token; of the bandwidth limit: bloomkit {share(bk):.0f}%, "
                    f"llama.cpp {share(ll):.0f}%; bloomkit first token {statistics.mean(ttft):.0f} ms")
        print(f"{f:<22} {test:<6} {ms(llv)} {ms(bkv)} {statistics.mean(bkv) / statistics.mean(llv):5.2f}x  {note}")
PY
