#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (address sanitizer on) and runs each for SECONDS, one after the other, niced.
#
#   scripts/fuzz.sh SECONDS [TARGET ...]        e.g. scripts/fuzz.sh 30, scripts/fuzz.sh 600 fuzz-gguf
#
# Seeds: Fuzz/corpus/<target>/ and the crash inputs fixed since, Fuzz/regressions/<target>/ (committed, read only).
# Inputs the fuzzer finds go to fuzz-out/<target>/corpus/,
# crashes, timeouts and out-of-memory inputs to fuzz-out/<target>/crashes/ (fuzz-out/ is ignored by git), the log to
# fuzz-out/<target>/log. Prints one line per target: executions, executions per second, crash files. Exits 1 when a
# target crashed. Environment: FUZZ_JOBS_NICE (default 10), FUZZ_RSS_MB (default 2048), FUZZ_MALLOC_MB (default 512:
# one allocation past it is reported as a crash — inputs are at most 64 KB, so such an allocation was sized by an
# unchecked number from the input).
set -euo pipefail

if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET ...]" >&2
    exit 2
fi
seconds=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
all=(fuzz-safetensors fuzz-shard-index fuzz-torch-zip fuzz-unpickler fuzz-gguf fuzz-json fuzz-adapter-config fuzz-config
     fuzz-tokenizer fuzz-regex fuzz-bkz fuzz-imatrix fuzz-lora-gguf fuzz-split fuzz-model-card)
targets=("${@:-${all[@]}}")
nice_level=${FUZZ_JOBS_NICE:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
malloc_mb=${FUZZ_MALLOC_MB:-512}

# Most inputs are headers; the JSON targets see tokenizer.json-sized seeds.
max_len() {
    case $1 in
        fuzz-json | fuzz-tokenizer) echo 65536 ;;
        fuzz-torch-zip | fuzz-gguf | fuzz-bkz | fuzz-imatrix | fuzz-lora-gguf | fuzz-split) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

echo "building Fuzz/ with -sanitize=fuzzer,address ..."
(cd "$root/Fuzz" && nice -n "$nice_level" swift build -c debug -Xswiftc -sanitize=fuzzer,address 2>&1 |
    grep -vE "Cannot export local symbol|^\[[0-9]+/[0-9]+\]" || true)
bin=$(cd "$root/Fuzz" && swift build -c debug -Xswiftc -sanitize=fuzzer,address --show-bin-path)

status=0
for t in "${targets[@]}"; do
    if [[ ! -x "$bin/$t" ]]; then
        echo "$t: not built" >&2
        status=1
        continue
    fi
    out="$root/fuzz-out/$t"
    mkdir -p "$out/corpus" "$out/crashes"
    set +e
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1} \
        nice -n "$nice_level" "$bin/$t" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb="$rss_mb" -malloc_limit_mb="$malloc_mb" \
        -max_len="$(max_len "$t")" \
        $([[ -f "$root/Fuzz/dict/$t.dict" ]] && echo "-dict=$root/Fuzz/dict/$t.dict") \
        -print_final_stats=1 -artifact_prefix="$out/crashes/" "$out/corpus" "$root/Fuzz/corpus/$t" \
        $([[ -d "$root/Fuzz/regressions/$t" ]] && echo "$root/Fuzz/regressions/$t") >"$out/log" 2>&1
    rc=$?
    set -e
    runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$out/log" | grep -oE "[0-9]+$" | tail -1)
    speed=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$out/log" | grep -oE "[0-9]+$" | tail -1)
    crashes=$(find "$out/crashes" -type f | wc -l)
    echo "$t: ${runs:-?} executions in ${seconds}s (${speed:-?}/s), exit $rc, crash files: $crashes"
    if [[ $rc -ne 0 || $crashes -ne 0 ]]; then
        status=1
        grep -E "ERROR|INVARIANT|Fatal error|SUMMARY|deadly signal|out-of-memory|timeout" "$out/log" | head -5 |
            sed 's/^/    /'
        find "$out/crashes" -type f | sed 's/^/    /'
    fi
done
exit $status
