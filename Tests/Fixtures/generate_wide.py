#!/usr/bin/env python3
"""models/wide/st-f16 and expected/wide/: a BLOOM whose rows are 256 and 1024 values wide, so llama-quantize's
K-quant mixes reach the real K kernels (Q2_K … Q6_K, plain and importance-weighted) instead of the fallback types
the tiny models' rows (64/96/384) take. Every expected value comes from llama.cpp: its converter writes the F16
GGUF, llama-imatrix the importance matrix, llama-quantize the quantized files; bloomkit is never run here.

    .tools/venv/bin/python Tests/Fixtures/generate_wide.py [--llama-cpp .tools/llama.cpp]
    (main venv: torch, transformers, gguf, numpy as in requirements.txt; llama.cpp built by
     scripts/build-llama-cpp.sh, its binaries in DIR/build/bin)

1. The checkpoint: BloomForCausalLM, hidden 256, 1 layer, 4 heads (head_dim 64), tiny-b's tokenizer and vocabulary
   (1536), tied head. Weights are numpy draws (seeded; torch's initialiser is not used), shaped like trained ones:
   N(0, 0.02) times a log-normal scale per input column (sd 0.5) and per output row (sd 0.2), with 1 in 2000 values
   multiplied by 8 (outliers); layer-norm weights 1 + N(0, 0.1), biases N(0, 0.02). Saved by transformers'
   save_pretrained in f16 (model.safetensors, ~2.4 MB); the script checks transformers' logits are finite.
2. `convert_hf_to_gguf.py DIR --outtype f16` (a temporary file; its per-tensor type and sha256 are recorded as
   `input`, so a test can check that it made the same F16 file).
3. `llama-imatrix -c 64 --no-ppl -t 2` on expected/perplexity/heldout.txt -> expected/wide/imatrix-c64.gguf
   (run from the repository root: the dataset path it records is relative).
4. For each K mix (Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K): `llama-quantize F16 OUT TYPE 2` and
   `llama-quantize --imatrix Tests/Fixtures/expected/wide/imatrix-c64.gguf F16 OUT TYPE 2`;
   expected/wide/quantized-sha256.json holds, per run, every tensor's [ggml type, sha256 of its bytes],
   general.file_type and the quantize.imatrix.* keys. The outputs themselves are not committed.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MODEL = HERE / "models" / "wide" / "st-f16"
OUT = HERE / "expected" / "wide"
TEXT = "Tests/Fixtures/expected/perplexity/heldout.txt"
IMATRIX = "Tests/Fixtures/expected/wide/imatrix-c64.gguf"
MIXES = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"]
HIDDEN, LAYERS, HEADS, VOCAB = 256, 1, 4, 1536


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def weights(rng):
    """HF state-dict names -> f32 arrays, trained-like (see the docstring)."""
    def matrix(rows, cols):
        w = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02)
        w *= np.exp(rng.normal(0, 0.5, cols)).astype(np.float32)[None, :]
        w *= np.exp(rng.normal(0, 0.2, rows)).astype(np.float32)[:, None]
        w[rng.random((rows, cols)) < 1 / 2000] *= 8
        return w

    def norm(n):
        return (1 + rng.normal(0, 0.1, n)).astype(np.float32), (rng.normal(0, 0.02, n)).astype(np.float32)

    h = HIDDEN
    sd = {"transformer.word_embeddings.weight": matrix(VOCAB, h)}
    sd["transformer.word_embeddings_layernorm.weight"], sd["transformer.word_embeddings_layernorm.bias"] = norm(h)
    for i in range(LAYERS):
        p = "transformer.h.%d." % i
        sd[p + "input_layernorm.weight"], sd[p + "input_layernorm.bias"] = norm(h)
        sd[p + "self_attention.query_key_value.weight"] = matrix(3 * h, h)
        sd[p + "self_attention.query_key_value.bias"] = rng.normal(0, 0.02, 3 * h).astype(np.float32)
        sd[p + "self_attention.dense.weight"] = matrix(h, h)
        sd[p + "self_attention.dense.bias"] = rng.normal(0, 0.02, h).astype(np.float32)
        sd[p + "post_attention_layernorm.weight"], sd[p + "post_attention_layernorm.bias"] = norm(h)
        sd[p + "mlp.dense_h_to_4h.weight"] = matrix(4 * h, h)
        sd[p + "mlp.dense_h_to_4h.bias"] = rng.normal(0, 0.02, 4 * h).astype(np.float32)
        sd[p + "mlp.dense_4h_to_h.weight"] = matrix(h, 4 * h)
        sd[p + "mlp.dense_4h_to_h.bias"] = rng.normal(0, 0.02, h).astype(np.float32)
    sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"] = norm(h)
    return sd


def make_model():
    import torch
    from transformers import BloomConfig, BloomForCausalLM
    torch.manual_seed(0)
    config = BloomConfig(vocab_size=VOCAB, hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                         layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=3, unk_token_id=0,
                         hidden_dropout=0.0, attention_dropout=0.0, tie_word_embeddings=True)
    config.architectures = ["BloomForCausalLM"]
    model = BloomForCausalLM(config).eval()
    sd = {k: torch.from_numpy(v) for k, v in weights(np.random.default_rng(20261206)).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and missing == ["lm_head.weight"], (missing, unexpected)
    model = model.half()
    if MODEL.exists():
        shutil.rmtree(MODEL)
    model.save_pretrained(MODEL, safe_serialization=True)
    for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(HERE / "tokenizer" / n, MODEL / n)
    with torch.no_grad():
        logits = model.float()(torch.arange(4, 68).unsqueeze(0)).logits
    assert torch.isfinite(logits).all()
    log("model: %s, logits sd %.3f" % (MODEL, float(logits.std())))


def sha(t):
    return hashlib.sha256(t.data.tobytes()).hexdigest()


def tensors(path):
    import gguf
    r = gguf.GGUFReader(str(path))
    keys = {f.name: f.contents() for f in r.fields.values()
            if f.name.startswith("quantize.") or f.name == "general.file_type"}
    return {t.name: [t.tensor_type.name, sha(t)] for t in r.tensors}, keys


def run(cmd, **kw):
    log(" ".join(str(c) for c in cmd))
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=REPO, **kw)
    if p.returncode != 0:
        sys.exit("failed:\n" + (p.stdout + p.stderr)[-3000:])
    return p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp", default=os.environ.get("BLOOMKIT_LLAMA_CPP", str(REPO / ".tools" / "llama.cpp")))
    a = ap.parse_args()
    llama = Path(a.llama_cpp)
    bin_dir = llama / "build" / "bin"
    make_model()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        f16 = Path(tmp) / "wide-f16.gguf"
        run([sys.executable, llama / "convert_hf_to_gguf.py", MODEL, "--outtype", "f16", "--outfile", f16])
        inp, _ = tensors(f16)
        run([bin_dir / "llama-imatrix", "-m", f16, "-f", TEXT, "-c", "64", "-t", "2", "--no-ppl", "-o", IMATRIX])
        doc = {"method": "F16: convert_hf_to_gguf.py models/wide/st-f16 --outtype f16; imatrix: llama-imatrix -c 64 "
                         "--no-ppl on " + TEXT + "; outputs: llama-quantize [--imatrix " + IMATRIX + "] F16 OUT TYPE "
                         "2 (each file type's own mix); per tensor [ggml type, sha256 of its data bytes]",
               "input": inp, "plain": {}, "imatrix": {}}
        for mix in MIXES:
            for kind, flags in (("plain", []), ("imatrix", ["--imatrix", IMATRIX])):
                out = Path(tmp) / ("%s-%s.gguf" % (mix, kind))
                text = run([bin_dir / "llama-quantize"] + flags + [f16, out, mix, "2"])
                doc["llama_cpp"] = re.search(r"^version: (.*)$", text, re.M).group(1).strip()
                ts, keys = tensors(out)
                assert sorted(ts) == sorted(inp), mix
                doc[kind][mix] = {"tensors": ts, "keys": keys}
                out.unlink()
    with open(OUT / "quantized-sha256.json", "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    types = {m: sorted({t for t, _ in doc["plain"][m]["tensors"].values()}) for m in MIXES}
    log("wrote %s; types per mix: %s" % (OUT / "quantized-sha256.json", types))


if __name__ == "__main__":
    main()
