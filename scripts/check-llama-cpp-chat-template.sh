#!/usr/bin/env bash
# Checks by hand (not a test: needs llama.cpp) that llama.cpp's own chat-template engine renders bloomkit's
# tokenizer.chat_template into the prompt transformers gives: for each Alpaca style, `bloomkit merge --template STYLE`
# + `bloomkit convert` of the fixture model, then `llama-completion --jinja -cnv -p INSTRUCTION -v` for every fixture
# case without an input (llama-completion cannot set a message's `input` field); its logged "formatted:" prompt and
# its prompt token ids must equal Tests/Fixtures/chat-template/expected.json (transformers' apply_chat_template).
# Then, when a llama-server is built (LLAMA_SERVER_BIN, default .tools/llama.cpp/build-rpc/bin, which
# scripts/check-llama-cpp-rpc.sh builds), for every fixture case (the with-input ones too, the input sent as the
# message's `input` field): llama-server's POST /apply-template and /tokenize on each style's file must give the
# prompt and token ids that `bloomkit generate --instruction I [--input X] --json` builds, and those must equal
# expected.json's.
# Usage: scripts/check-llama-cpp-chat-template.sh [LLAMA_BIN_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${1:-$root/.tools/llama.cpp/build/bin}"
[ -x "$bin/llama-completion" ] || bin=/work/main/.tools/llama.cpp/build/bin
[ -x "$bin/llama-completion" ] || { echo "llama.cpp not built: run scripts/build-llama-cpp.sh" >&2; exit 2; }
bloomkit="${BLOOMKIT:-$root/.build/release/bloomkit}"
[ -x "$bloomkit" ] || bloomkit="$root/.build/debug/bloomkit"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for style in card stanford; do
  "$bloomkit" merge "$root/Tests/Fixtures/models/tiny-b/st-f16" "$root/Tests/Fixtures/adapters/alpaca-b" \
    -o "$out/merged-$style" --template "$style" --quiet
  "$bloomkit" convert "$out/merged-$style" -o "$out/$style.gguf" --type f32 --quiet
done
status=0
python3 - "$bin" "$out" "$root/Tests/Fixtures/chat-template/expected.json" <<'PY' || status=1
import json, re, subprocess, sys
bin, out, expected = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
failures = checked = 0
for case in expected["cases"]:
    if case["input"]:
        continue
    r = subprocess.run([f"{bin}/llama-completion", "-m", f"{out}/{case['style']}.gguf", "--jinja", "-cnv",
                        "-p", case["instruction"], "--no-escape", "-n", "1", "--temp", "0", "-v",
                        "--verbose-prompt"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    log = r.stderr.decode("utf-8", errors="replace")
    text = re.search(r" D formatted: '(.*?)'\n\d+\.\d+\.\d+\.\d+ ", log, re.S)
    tail = log.split("number of tokens in prompt", 1)[-1]
    ids = [int(m) for m in re.findall(r"^\S+ I +(\d+) -> '", tail, re.M)]
    ok = text is not None and text.group(1) == case["text"] and ids == case["ids"]
    checked += 1
    failures += not ok
    print(f"{'OK  ' if ok else 'DIFF'} {case['style']:8} {case['instruction']!r}"
          + ("" if ok else f"\n     llama.cpp: {text.group(1) if text else None!r} {ids}\n     expected:  "
                           f"{case['text']!r} {case['ids']}"))
print(f"{checked - failures} of {checked} prompts: llama.cpp's chat template = transformers' (text and token ids)")
sys.exit(1 if failures else 0)
PY
server_bin="${LLAMA_SERVER_BIN:-$root/.tools/llama.cpp/build-rpc/bin}"
[ -x "$server_bin/llama-server" ] || server_bin=/work/main/.tools/llama.cpp/build-rpc/bin
if [ ! -x "$server_bin/llama-server" ]; then
  echo "no llama-server (build it with scripts/check-llama-cpp-rpc.sh's build): /apply-template not checked" >&2
  exit "$status"
fi
python3 - "$server_bin" "$out" "$root/Tests/Fixtures/chat-template/expected.json" "$bloomkit" <<'PY' || status=1
import json, subprocess, sys, time, urllib.request
bin, out, expected, bloomkit = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), sys.argv[4]
port = 50180

def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)

def generate(args):
    return json.loads(subprocess.run(args, capture_output=True, check=True).stdout)

failures = checked = dropped = 0
for style in ("card", "stanford"):
    model = f"{out}/{style}.gguf"
    log = open(f"{out}/server-{style}.log", "w")
    server = subprocess.Popen([f"{bin}/llama-server", "-m", model, "--host", "127.0.0.1", "--port", str(port),
                               "--jinja", "-c", "256", "-t", "1"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.5)
        else:
            sys.exit(f"llama-server did not start: see {out}/server-{style}.log")
        for case in (c for c in expected["cases"] if c["style"] == style):
            message = {"role": "user", "content": case["instruction"]}
            base = [bloomkit, "generate", model, "--instruction", case["instruction"], "-n", "1", "--json"]
            args = base
            if case["input"] is not None:
                message["input"] = case["input"]
                args = base + ["--input", case["input"]]
            mine = generate(args)
            prompt = post("/apply-template", {"messages": [message]})["prompt"]
            ids = post("/tokenize", {"content": prompt, "add_special": True})["tokens"]
            ok = prompt == mine["prompt"] == case["text"] and ids == mine["prompt_tokens"] == case["ids"]
            shown = case["instruction"] + (f" + input {case['input']!r}" if case["input"] is not None else "")
            if not ok and case["input"]:
                # llama-server keeps only the OpenAI fields of a message (role, content, tool calls...): `input`
                # never reaches the template, which then renders the no-input form. Named, not counted as a match.
                plain = generate(base)
                if (prompt, ids) == (plain["prompt"], plain["prompt_tokens"]):
                    dropped += 1
                    print(f"DROP {style:8} {shown!r}: llama-server dropped `input`; it rendered the no-input prompt")
                    continue
            checked += 1
            failures += not ok
            print(f"{'OK  ' if ok else 'DIFF'} {style:8} {shown!r}"
                  + ("" if ok else f"\n     llama-server: {prompt!r} {ids}\n     bloomkit:     {mine['prompt']!r} "
                                   f"{mine['prompt_tokens']}\n     expected:     {case['text']!r} {case['ids']}"))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
print(f"{checked - failures} of {checked} prompts: llama-server's /apply-template = bloomkit generate's = "
      f"transformers' (text and token ids); {dropped} with an input llama-server cannot pass to the template")
sys.exit(1 if failures else 0)
PY
exit "$status"
