#!/usr/bin/env bash
# Builds llama.cpp (for comparisons only) from the llama-cpp-python source distribution on PyPI,
# into the git-ignored folder .tools/llama.cpp. bloomkit never needs it to build, test or run.
# Usage: scripts/build-llama-cpp.sh            (idempotent: skips what is already there)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
mkdir -p "$tools"
if [ ! -x "$tools/venv-build/bin/cmake" ]; then
  python3 -m venv "$tools/venv-build"
  "$tools/venv-build/bin/pip" install -q cmake ninja
fi
if [ ! -d "$tools/llama.cpp" ]; then
  "$tools/venv-build/bin/pip" download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$version" \
    -d "$tools/sdist"
  tar -xzf "$tools/sdist/llama_cpp_python-$version.tar.gz" -C "$tools/sdist"
  mv "$tools/sdist/llama_cpp_python-$version/vendor/llama.cpp" "$tools/llama.cpp"
fi
export PATH="$tools/venv-build/bin:$PATH"
cd "$tools/llama.cpp"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF
fi
targets=${LLAMA_TARGETS:-llama-bench llama-simple llama-completion llama-tokenize llama-perplexity llama-quantize}
cmake --build build -j"${JOBS:-2}" --target $targets
# convert_hf_to_gguf.py refuses tokenizers it cannot fingerprint (ours are trained for tests): patch the local copy
# only.
base="$tools/llama.cpp/conversion/base.py"
[ -f "$base" ] || base="$tools/llama.cpp/convert_hf_to_gguf.py"
if ! grep -q 'bloomkit-patch' "$base"; then
  python3 - "$base" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
needle = "if res is None:"
i = s.find(needle, s.find("def get_vocab_base_pre"))
if i < 0: sys.exit("get_vocab_base_pre: pattern not found; patch by hand")
s = s[:i] + "if res is None:  # bloomkit-patch\n            res = \"bloom\"\n        " + s[i:]
open(p, "w").write(s)
PY
fi
echo "llama.cpp built in $tools/llama.cpp/build/bin"
