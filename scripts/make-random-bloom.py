#!/usr/bin/env python3
"""Write a BLOOM-shaped Hugging Face model folder with random weights, for benchmarks (never for tests).

    python scripts/make-random-bloom.py OUT --hidden 4096 --layers 30 --heads 32 --vocab 250880 \
        --dtype f16 --format safetensors --shards 3

bloom-7b1 is --hidden 4096 --layers 30 --heads 32 --vocab 250880 (about 14.1 GB in f16).
safetensors is written without torch, in pieces (memory: a few hundred MB); bin uses torch.save
per shard (memory: one shard). Values: N(0, 0.02) (layer-norm weights 1, biases 0.01·N), drawn from a pool
of 16 Mi values that each tensor reads from a random offset, in pieces: random enough to benchmark, fast to write.
Tensor names carry the `transformer.` prefix, as BloomForCausalLM.save_pretrained writes them; no lm_head (tied).
--tokenizer DIR copies tokenizer.json, tokenizer_config.json and special_tokens_map.json from DIR.
--fresh draws every value anew (for compression benchmarks: the pool's repeated windows are long matches for
an LZ compressor, which no trained model has).
"""
import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np

POOL = 16 << 20


def tensor_specs(h, layers, vocab):
    specs = [("transformer.word_embeddings.weight", (vocab, h)),
             ("transformer.word_embeddings_layernorm.weight", (h,)),
             ("transformer.word_embeddings_layernorm.bias", (h,))]
    for i in range(layers):
        p = "transformer.h.%d." % i
        specs += [(p + "input_layernorm.weight", (h,)), (p + "input_layernorm.bias", (h,)),
                  (p + "self_attention.query_key_value.weight", (3 * h, h)),
                  (p + "self_attention.query_key_value.bias", (3 * h,)),
                  (p + "self_attention.dense.weight", (h, h)), (p + "self_attention.dense.bias", (h,)),
                  (p + "post_attention_layernorm.weight", (h,)), (p + "post_attention_layernorm.bias", (h,)),
                  (p + "mlp.dense_h_to_4h.weight", (4 * h, h)), (p + "mlp.dense_h_to_4h.bias", (4 * h,)),
                  (p + "mlp.dense_4h_to_h.weight", (h, 4 * h)), (p + "mlp.dense_4h_to_h.bias", (h,))]
    specs += [("transformer.ln_f.weight", (h,)), ("transformer.ln_f.bias", (h,))]
    return specs


def encode(values_f32, dtype):
    """f32 array -> (safetensors dtype name, raw little-endian bytes as a numpy array)."""
    if dtype == "f32":
        return "F32", values_f32.astype("<f4")
    if dtype == "f16":
        return "F16", values_f32.astype("<f2")
    # bf16: round to nearest even on the upper 16 bits
    u = values_f32.astype("<f4").view("<u4")
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return "BF16", u.astype("<u2")


class Source:
    def __init__(self, seed, fresh=False):
        self.fresh = fresh
        self.rng = np.random.default_rng(seed)
        self.pool = (self.rng.standard_normal(POOL, dtype=np.float32) * 0.02).astype(np.float32)

    def chunks(self, name, shape):
        """The tensor's values as f32 pieces of at most POOL elements (a random window into the pool)."""
        n = int(np.prod(shape))
        ones = name.endswith("layernorm.weight") or name.endswith("ln_f.weight")
        pos = int(self.rng.integers(0, POOL))
        done = 0
        while done < n:
            k = min(n - done, POOL - pos)
            if ones:
                piece = np.ones(k, np.float32)
            elif self.fresh:
                piece = self.rng.standard_normal(k, dtype=np.float32) * np.float32(0.02)
            else:
                piece = self.pool[pos:pos + k]
            yield piece * 0.5 if name.endswith(".bias") else piece
            done += k
            pos = (pos + k) % POOL

    def values(self, name, shape):
        return np.concatenate(list(self.chunks(name, shape)))


def split(specs, shards, itemsize):
    sizes = [int(np.prod(s)) * itemsize for _, s in specs]
    target = sum(sizes) / shards
    groups, cur, acc = [], [], 0
    for spec, size in zip(specs, sizes):
        if cur and acc + size > target and len(groups) < shards - 1:
            groups.append(cur)
            cur, acc = [], 0
        cur.append(spec)
        acc += size
    groups.append(cur)
    return groups


def write_safetensors(path, specs, src, dtype):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    itemsize = {"f32": 4, "f16": 2, "bf16": 2}[dtype]
    for name, shape in specs:
        nbytes = int(np.prod(shape)) * itemsize
        header[name] = {"dtype": {"f32": "F32", "f16": "F16", "bf16": "BF16"}[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape in specs:
            for piece in src.chunks(name, shape):
                encode(piece, dtype)[1].tofile(f)
    return offset


def write_bin(path, specs, src, dtype):
    import torch
    tdtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    sd = {}
    total = 0
    for name, shape in specs:
        t = torch.from_numpy(src.values(name, shape).reshape(shape)).to(tdtype)
        sd[name] = t
        total += t.numel() * t.element_size()
    torch.save(sd, path)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=250880)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f16")
    ap.add_argument("--format", choices=["safetensors", "bin"], default="safetensors")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", help="folder to copy tokenizer files from")
    ap.add_argument("--fresh", action="store_true",
                    help="draw every value anew instead of windows into the shared pool (slower to write; for "
                         "compression benchmarks, where repeated windows would be long matches no trained model has)")
    a = ap.parse_args()
    if a.hidden % a.heads:
        ap.error("--heads must divide --hidden")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = tensor_specs(a.hidden, a.layers, a.vocab)
    src = Source(a.seed, a.fresh)
    itemsize = {"f32": 4, "f16": 2, "bf16": 2}[a.dtype]
    groups = split(specs, max(1, a.shards), itemsize)
    ext = "safetensors" if a.format == "safetensors" else "bin"
    stem = "model" if a.format == "safetensors" else "pytorch_model"
    writer = write_safetensors if a.format == "safetensors" else write_bin
    weight_map, total = {}, 0
    for k, group in enumerate(groups):
        name = "%s.%s" % (stem, ext) if len(groups) == 1 else "%s-%05d-of-%05d.%s" % (stem, k + 1, len(groups), ext)
        total += writer(str(out / name), group, src, a.dtype)
        weight_map.update({n: name for n, _ in group})
        print("wrote", out / name, flush=True)
    if len(groups) > 1:
        with open(out / ("%s.%s.index.json" % (stem, ext)), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    config = {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "hidden_size": a.hidden,
              "n_layer": a.layers, "n_head": a.heads, "vocab_size": a.vocab, "layer_norm_epsilon": 1e-5,
              "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3, "unk_token_id": 0,
              "apply_residual_connection_post_layernorm": False, "tie_word_embeddings": True,
              "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype]}
    with open(out / "config.json", "w") as f:
        json.dump(config, f, indent=2)
    if a.tokenizer:
        for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (Path(a.tokenizer) / n).exists():
                shutil.copy(Path(a.tokenizer) / n, out / n)
    print("total %.2f GB in %d file(s)" % (total / 1e9, len(groups)))


if __name__ == "__main__":
    main()
