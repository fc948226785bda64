#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Fuzz/corpus/<target>/): small files copied from Tests/Fixtures plus a
few tiny valid inputs made here with torch and zipfile (so each target starts from inputs that reach deep into its
parser). Run once by hand with the fixtures venv (never by tests or the build):

    /work/main/.tools/venv/bin/python Fuzz/make_corpus.py
"""
import io
import json
import os
import pickletools
import shutil
import struct
import zipfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.environ.get("BLOOMKIT_FIXTURES", os.path.join(ROOT, "Tests", "Fixtures"))
OUT = os.path.join(ROOT, "Fuzz", "corpus")
MAX_SEED = 64 * 1024  # seeds past this slow every execution; the fuzzer grows inputs itself


SEEN = set()


def put(target, name, data):
    if (target, data) in SEEN:  # identical files (the same tokenizer.json in every model folder) seed once
        return
    SEEN.add((target, data))
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def copy(target, relative, name=None):
    path = os.path.join(FIX, relative)
    if not os.path.exists(path):
        print("skip (absent):", relative)
        return
    with open(path, "rb") as f:
        data = f.read()
    if len(data) > MAX_SEED:
        print("skip (large):", relative)
        return
    put(target, name or relative.replace("/", "_"), data)


def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def torch_zip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def rezip(data, **options):
    """The same archive with every entry rewritten by Python's zipfile (deflate, ZIP64 extra fields)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=options.get("compression", zipfile.ZIP_STORED)) as dst:
        for info in src.infolist():
            with dst.open(info.filename, "w", force_zip64=options.get("zip64", False)) as f:
                f.write(src.read(info.filename))
    return out.getvalue()


def data_pkl(archive):
    z = zipfile.ZipFile(io.BytesIO(archive))
    name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
    return z.read(name)


TINY_VOCAB = ["<unk>", "<s>", "</s>", "<pad>", "H", "e", "l", "o", "He", "ll", "Hell", "Hello", "\u0120", "\u0120w"]
TINY_MERGES = ["H e", "l l", "He ll", "Hell o", "\u0120 w"]


def minimal_tokenizer():
    """BLOOM's tokenizer.json pipeline around a 14-token vocabulary."""
    with open(os.path.join(FIX, "tokenizer", "tokenizer.json")) as f:
        full = json.load(f)
    full["model"]["vocab"] = {t: i for i, t in enumerate(TINY_VOCAB)}
    full["model"]["merges"] = TINY_MERGES
    full["added_tokens"] = [t for t in full["added_tokens"] if t["id"] < 4]
    return full


def tiny_bloom_gguf():
    """A BLOOM GGUF as bloomkit writes it: hidden 8, 2 heads, 1 block, the 14-token vocabulary, f32 weights."""
    import gguf
    import numpy as np

    hidden, vocab, ff = 8, len(TINY_VOCAB), 32
    path = os.path.join(OUT, "tiny.gguf.tmp")
    w = gguf.GGUFWriter(path, "bloom")
    w.add_context_length(16)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ff)
    w.add_block_count(1)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("bloom")
    w.add_token_list(TINY_VOCAB)
    w.add_token_types([3, 3, 3, 3] + [1] * (vocab - 4))
    w.add_token_merges(TINY_MERGES)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(0)

    def t(name, *shape):
        w.add_tensor(name, rng.standard_normal(shape).astype(np.float32) * 0.1)

    t("token_embd.weight", vocab, hidden)
    t("token_embd_norm.weight", hidden); t("token_embd_norm.bias", hidden)
    for stem, out, inp in [("attn_qkv", 3 * hidden, hidden), ("attn_output", hidden, hidden),
                           ("ffn_up", ff, hidden), ("ffn_down", hidden, ff)]:
        t(f"blk.0.{stem}.weight", out, inp); t(f"blk.0.{stem}.bias", out)
    for stem in ["attn_norm", "ffn_norm"]:
        t(f"blk.0.{stem}.weight", hidden); t(f"blk.0.{stem}.bias", hidden)
    t("output_norm.weight", hidden); t("output_norm.bias", hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)

    # safetensors: the hostile fixtures and tiny valid files (every common dtype, metadata, an empty tensor).
    for name in sorted(os.listdir(os.path.join(FIX, "hostile"))):
        if name.endswith(".safetensors"):
            copy("fuzz-safetensors", "hostile/" + name, name)
    put("fuzz-safetensors", "valid-dtypes.safetensors", safetensors({
        "a": ("F32", [2], struct.pack("<2f", 1.0, -2.0)),
        "b": ("F16", [2, 2], b"\x00\x3c" * 4),
        "c": ("BF16", [1, 3], b"\x80\x3f" * 3),
        "d": ("I64", [1], struct.pack("<q", 7)),
        "e": ("U8", [0, 4], b""),
        "f": ("F4", [4], b"\x12\x34"),
    }, metadata={"format": "pt"}))
    put("fuzz-safetensors", "valid-scalar.safetensors", safetensors({"s": ("F64", [], struct.pack("<d", 0.5))}))

    # shard indexes: the fixture's, and one that matches the harness's shard (tensors a and b).
    copy("fuzz-shard-index", "models/tiny-a/st-bf16-sharded/model.safetensors.index.json", "fixture.index.json")
    copy("fuzz-shard-index", "models/tiny-b/bin-f32-lmhead/pytorch_model.bin.index.json", "fixture-bin.index.json")
    put("fuzz-shard-index", "matching.index.json", json.dumps({
        "metadata": {"total_size": 16},
        "weight_map": {"a": "model-00001-of-00001.safetensors", "b": "model-00001-of-00001.safetensors"},
    }).encode())

    # torch zips: hostile pickles (zips), the legacy format, and tiny valid state dicts in several zip spellings.
    for name in sorted(os.listdir(os.path.join(FIX, "hostile"))):
        if name.endswith(".bin"):
            copy("fuzz-torch-zip", "hostile/" + name, name)
    base = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    state = {
        "a": torch.arange(4, dtype=torch.float32),
        "b": base.t(),                      # non-contiguous (strides (1, 4))
        "c": torch.tensor([1.0, 2.0, 3.0], dtype=torch.float16),
        "b_row": base[1],                   # shares b's storage, offset 4
    }
    valid = torch_zip(state)
    put("fuzz-torch-zip", "valid.bin", valid)
    put("fuzz-torch-zip", "valid-deflated.bin", rezip(valid, compression=zipfile.ZIP_DEFLATED))
    put("fuzz-torch-zip", "valid-zip64.bin", rezip(valid, zip64=True))
    put("fuzz-torch-zip", "valid-parameter.bin", torch_zip({"p": torch.nn.Parameter(torch.ones(2, 2, dtype=torch.bfloat16))}))

    # pickles: data.pkl of the hostile archives and of state dicts whose storages match the harness's records
    # (data/0: 16 bytes, data/1: 64 bytes, data/2: 6 bytes).
    for name in sorted(os.listdir(os.path.join(FIX, "hostile"))):
        path = os.path.join(FIX, "hostile", name)
        if name.endswith(".bin") and zipfile.is_zipfile(path) and os.path.getsize(path) <= MAX_SEED:
            with open(path, "rb") as f:
                put("fuzz-unpickler", name.replace(".bin", ".pkl"), data_pkl(f.read()))
    put("fuzz-unpickler", "valid.pkl", data_pkl(valid))
    put("fuzz-unpickler", "valid-parameter.pkl", data_pkl(torch_zip({
        "p": torch.nn.Parameter(torch.ones(4)), "q": torch.zeros(16), "r": torch.zeros(6, dtype=torch.uint8)})))
    put("fuzz-unpickler", "valid-plain-dict.pkl", pickletools.optimize(data_pkl(valid)))

    # GGUF: the gguf-py samples and a complete tiny BLOOM model (so the tokenizer and the runtime's loader are reached).
    copy("fuzz-gguf", "expected/gguf/sample.gguf", "sample.gguf")
    copy("fuzz-gguf", "expected/gguf/sample-align64.gguf", "sample-align64.gguf")
    put("fuzz-gguf", "tiny-bloom.gguf", tiny_bloom_gguf())

    # config.json files of the fixture models; tokenizer.json: the fixture's and a minimal BLOOM pipeline.
    for folder, _, files in sorted(os.walk(os.path.join(FIX, "models"))):
        for name in files:
            if name == "config.json":
                copy("fuzz-config", os.path.relpath(os.path.join(folder, name), FIX))
    copy("fuzz-tokenizer", "tokenizer/tokenizer.json", "fixture-tokenizer.json")
    put("fuzz-tokenizer", "minimal-tokenizer.json", json.dumps(minimal_tokenizer(), indent=1).encode())

    # JSON: every small JSON file of the fixtures (configs, indexes, adapter configs, tokenizer configs).
    for folder, _, files in sorted(os.walk(FIX)):
        for name in sorted(files):
            if name.endswith(".json") and "expected" not in folder:
                rel = os.path.relpath(os.path.join(folder, name), FIX)
                copy("fuzz-json", rel)

    # adapter configs, r set to the harness's rank (4), in the variants the merge reads.
    adapters = os.path.join(FIX, "adapters")
    for name in sorted(os.listdir(adapters)) if os.path.isdir(adapters) else []:
        with open(os.path.join(adapters, name, "adapter_config.json")) as f:
            config = json.load(f)
        config["r"] = 4
        put("fuzz-adapter-config", name + ".json", json.dumps(config, indent=1).encode())
    put("fuzz-adapter-config", "minimal.json", b'{"peft_type":"LORA","r":4,"lora_alpha":8}')
    put("fuzz-adapter-config", "patterns.json",
        b'{"peft_type":"LORA","r":4,"lora_alpha":8,"use_rslora":true,"rank_pattern":{"dense":4},"alpha_pattern":{"h\\\\.0\\\\.self_attention\\\\.query_key_value":3.5}}')
    put("fuzz-adapter-config", "enable-lora.json",
        b'{"peft_type":"LORA","r":4,"lora_alpha":32,"enable_lora":[true,false,true],"fan_in_fan_out":true}')


if __name__ == "__main__":
    main()
