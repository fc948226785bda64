#!/usr/bin/env python3
"""expected/quant-types/*.json: the type (and, for the tiny models, the bytes) llama-quantize gives every tensor of
a BLOOM GGUF, for every file type `bloomkit convert/quantize --type` offers.

Needs only gguf-py, numpy and xxhash (no torch):
`python3 -m venv V && V/bin/pip install gguf==0.19.0 numpy xxhash==4.1.0`, a built
llama-quantize (scripts/build-llama-cpp.sh) and a built bloomkit (`swift build`).

    V/bin/python Tests/Fixtures/generate_quant_types.py \
        [--llama-quantize .tools/llama.cpp/build/bin/llama-quantize] [--bloomkit .build/debug/bloomkit]

1. Tiny models (rows of 64/96/384 values exercise llama-quantize's fallbacks for rows that are not a multiple of
   256): the input is the F16 file (the BF16 file for the bf16 checkpoint) that `bloomkit convert --type f16|bf16`
   writes; its quantizable tensors' xxh64 are recorded so a test can check it made the same input.
   For every file type, `llama-quantize IN OUT TYPE 1` (one thread) runs on it; per quantizable tensor (2-D
   weights) the JSON holds [ggml type, xxh64 of its bytes]. Every other tensor is checked here to be copied
   unchanged, and general.file_type is recorded.
2. Real shapes (BLOOM-560M: 24 layers of 1024; BLOOM-7b1: 30 layers of 4096; vocabulary 250880): a GGUF with
   the real tensor list and an all-zero sparse data section (no weights are read), quantized with `--dry-run`;
   llama-quantize's log gives each tensor's type. The JSON holds, per file type, the base type and only the
   tensors that get another one; a few override variants (--pure, --tensor-type, --output-tensor-type,
   --token-embedding-type, an untied head) are recorded the same way.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import gguf
import xxhash

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "expected" / "quant-types"

FILE_TYPES = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
              "Q5_0", "Q5_1", "Q8_0", "Q4_0", "Q4_1"]

TINY = [  # (json name, checkpoint folder, input type, extra convert flags)
    ("tiny-a-bf16", "models/tiny-a/st-bf16-sharded", "bf16", []),
    ("tiny-b-f16", "models/tiny-b/st-f16", "f16", []),
    ("tiny-b-f16-separate-output", "models/tiny-b/st-f16", "f16", ["--separate-output"]),
]

SHAPES = [  # (json name, hidden, layers, heads)
    ("bloom-560m", 1024, 24, 16),
    ("bloom-7b1", 4096, 30, 32),
]
VOCAB = 250880

VARIANTS = [  # (name, file type, llama-quantize flags, untied head)
    ("pure", "Q4_K_M", ["--pure"], False),
    ("tensor-type", "Q4_K_M", ["--tensor-type", "blk.0.attn_qkv=q8_0", "--tensor-type", "ffn_down=q5_k"], False),
    ("output-tensor-type", "Q4_K_M", ["--output-tensor-type", "q8_0"], False),
    ("output-and-embedding-type", "Q4_K_M", ["--output-tensor-type", "q8_0", "--token-embedding-type", "q4_k"],
     False),
    ("untied", "Q4_K_M", [], True),
    ("untied-output-tensor-type", "Q4_0", ["--output-tensor-type", "q5_0"], True),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def xxh64(b):
    # bloomkit's tensor checksum (BloomGGUF XXHash64, seed 0), so the Swift tests need no SHA-256.
    return xxhash.xxh64(bytes(b)).hexdigest()


def quantizable(t):
    # llama-quantize's tensor_allows_quantization for BLOOM names: 2-D weights except norms.
    return len(t.shape) >= 2 and t.name.endswith("weight") and "_norm.weight" not in t.name


def tensors_of(path):
    r = gguf.GGUFReader(str(path))
    return r, {t.name: t for t in r.tensors}


def quantize(args, flags):
    """Runs llama-quantize; returns its log and keeps the version line it prints first."""
    p = subprocess.run([args.llama_quantize] + flags, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("llama-quantize %s failed:\n%s" % (" ".join(flags), p.stderr[-2000:]))
    out = p.stdout + p.stderr
    m = re.search(r"^version: (.*)$", out, re.M)
    if m:
        args.version = m.group(1).strip()
    return out


def tiny(args, tmp):
    for name, folder, in_type, flags in TINY:
        src = tmp / (name + ".gguf")
        cmd = [args.bloomkit, "convert", str(HERE / folder), "-o", str(src), "--type", in_type, "--quiet"] + flags
        log("tiny:", " ".join(cmd))
        subprocess.run(cmd, check=True)
        _, inp = tensors_of(src)
        doc = {
            "input": {
                "made_by": "bloomkit convert %s --type %s%s" % (folder, in_type, "".join(" " + f for f in flags)),
                "tensors": {n: [t.tensor_type.name, xxh64(t.data.tobytes())] for n, t in inp.items() if quantizable(t)},
            },
            "outputs": {},
        }
        for ftype in FILE_TYPES:
            dst = tmp / ("%s-%s.gguf" % (name, ftype))
            quantize(args, [str(src), str(dst), ftype, "1"])
            r, out = tensors_of(dst)
            assert sorted(out) == sorted(inp), name
            for n, t in out.items():
                if not quantizable(t):
                    assert t.tensor_type == inp[n].tensor_type and t.data.tobytes() == inp[n].data.tobytes(), n
            doc["outputs"][ftype] = {
                "file_type": int(r.fields["general.file_type"].contents()),
                "tensors": {n: [t.tensor_type.name, xxh64(t.data.tobytes())] for n, t in out.items() if quantizable(t)},
            }
            dst.unlink()
        write(name, doc, args)


def shaped_gguf(path, hidden, layers, heads, untied):
    """A BLOOM GGUF header with the real tensor list; the data section is a sparse run of zeros."""
    w = gguf.GGUFWriter(str(path), "bloom")
    w.add_context_length(hidden)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(4 * hidden)
    w.add_block_count(layers)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_layer_norm_eps(1e-5)
    w.add_file_type(1)
    e, ff = hidden, 4 * hidden
    names = [("token_embd.weight", (VOCAB, e)), ("token_embd_norm.weight", (e,)), ("token_embd_norm.bias", (e,))]
    for i in range(layers):
        p = "blk.%d." % i
        names += [(p + "attn_norm.weight", (e,)), (p + "attn_norm.bias", (e,)),
                  (p + "attn_qkv.weight", (3 * e, e)), (p + "attn_qkv.bias", (3 * e,)),
                  (p + "attn_output.weight", (e, e)), (p + "attn_output.bias", (e,)),
                  (p + "ffn_norm.weight", (e,)), (p + "ffn_norm.bias", (e,)),
                  (p + "ffn_up.weight", (ff, e)), (p + "ffn_up.bias", (ff,)),
                  (p + "ffn_down.weight", (e, ff)), (p + "ffn_down.bias", (e,))]
    names += [("output_norm.weight", (e,)), ("output_norm.bias", (e,))]
    if untied:
        names.append(("output.weight", (VOCAB, e)))
    data = 0
    for n, shape in names:
        f16 = len(shape) == 2
        nbytes = int(np.prod(shape)) * (2 if f16 else 4)
        w.add_tensor_info(n, shape, np.float16 if f16 else np.float32, nbytes,
                          raw_dtype=gguf.GGMLQuantizationType.F16 if f16 else gguf.GGMLQuantizationType.F32)
        data += gguf.GGUFWriter.ggml_pad(nbytes, 32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(gguf.GGUFWriter.ggml_pad(size, 32) + data)
    return [n for n, shape in names if len(shape) == 2]


LINE = re.compile(r"\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s+(\S+), size =.*?(?:\((\S+)\))?\s*$")


def dry_run(args, path, ftype, flags, weights):
    types = {}
    for line in quantize(args, ["--dry-run"] + flags + [str(path), ftype]).splitlines():
        m = LINE.search(line)
        if m:
            types[m.group(1)] = (m.group(3) or m.group(2)).upper()
    missing = [w for w in weights if w not in types]
    assert not missing, (ftype, flags, missing[:3])
    return {w: types[w] for w in weights}


def compact(types, base):
    return {"base": base, "others": {n: t for n, t in sorted(types.items()) if t != base}}


def shapes(args, tmp):
    for name, hidden, layers, heads in SHAPES:
        doc = {"hidden": hidden, "layers": layers, "heads": heads, "vocab": VOCAB, "outputs": {}, "variants": {}}
        tied = tmp / (name + ".gguf")
        weights = shaped_gguf(tied, hidden, layers, heads, untied=False)
        for ftype in FILE_TYPES:
            types = dry_run(args, tied, ftype, [], weights)
            doc["outputs"][ftype] = compact(types, base_type(ftype))
        untied = tmp / (name + "-untied.gguf")
        untied_weights = shaped_gguf(untied, hidden, layers, heads, untied=True)
        for vname, ftype, flags, is_untied in VARIANTS:
            types = dry_run(args, untied if is_untied else tied, ftype, flags, untied_weights if is_untied else weights)
            doc["variants"][vname] = dict(compact(types, base_type(ftype)), file_type=ftype, flags=flags,
                                          untied=is_untied)
        tied.unlink()
        untied.unlink()
        write(name, doc, args)


def base_type(ftype):
    return {"Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K",
            "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K"}.get(ftype, ftype)


def write(name, doc, args):
    doc = {"llama_quantize": args.version, **doc}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (name + ".json")
    text = json.dumps(doc, indent=1)
    text = re.sub(r'\[\s*("[^"]*")\s*,\s*("[^"]*")\s*\]', r"[\1, \2]", text)  # [type, hash] on one line
    path.write_text(text + "\n")
    log("wrote", path.relative_to(REPO), path.stat().st_size, "bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama-quantize", default=os.environ.get(
        "BLOOMKIT_LLAMA_QUANTIZE", str(REPO / ".tools/llama.cpp/build/bin/llama-quantize")))
    ap.add_argument("--bloomkit", default=str(REPO / ".build/debug/bloomkit"))
    ap.add_argument("--stages", default="tiny,shapes")
    args = ap.parse_args()
    args.version = "unknown"
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if "tiny" in args.stages:
            tiny(args, tmp)
        if "shapes" in args.stages:
            shapes(args, tmp)


if __name__ == "__main__":
    main()
