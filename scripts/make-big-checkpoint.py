#!/usr/bin/env python3
"""Write a BLOOM-shaped checkpoint with random weights, for measuring `bloomkit inspect` on multi-GB files.

    /work/main/.tools/venv/bin/python scripts/make-big-checkpoint.py /tmp/big --shape bloom-1b7

Writes OUT/st/model.safetensors (safetensors.torch.save_file) and OUT/bin/pytorch_model.bin (torch.save, zip;
over 4 GiB it uses ZIP64), each with config.json, f32, names with the `transformer.` prefix and no lm_head
(tied). Not used by the build or the tests.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

SHAPES = {  # hidden, layers, heads (bigscience configs); vocab 250880
    "bloom-560m": (1024, 24, 16),
    "bloom-1b7": (2048, 24, 16),
}


def state_dict(hidden, layers, vocab=250880):
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    sd = {"transformer.word_embeddings.weight": rnd(vocab, hidden),
          "transformer.word_embeddings_layernorm.weight": torch.ones(hidden),
          "transformer.word_embeddings_layernorm.bias": torch.zeros(hidden)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        sd.update({
            p + "input_layernorm.weight": torch.ones(hidden), p + "input_layernorm.bias": torch.zeros(hidden),
            p + "self_attention.query_key_value.weight": rnd(3 * hidden, hidden),
            p + "self_attention.query_key_value.bias": rnd(3 * hidden),
            p + "self_attention.dense.weight": rnd(hidden, hidden), p + "self_attention.dense.bias": rnd(hidden),
            p + "post_attention_layernorm.weight": torch.ones(hidden),
            p + "post_attention_layernorm.bias": torch.zeros(hidden),
            p + "mlp.dense_h_to_4h.weight": rnd(4 * hidden, hidden), p + "mlp.dense_h_to_4h.bias": rnd(4 * hidden),
            p + "mlp.dense_4h_to_h.weight": rnd(hidden, 4 * hidden), p + "mlp.dense_4h_to_h.bias": rnd(hidden),
        })
    sd["transformer.ln_f.weight"] = torch.ones(hidden)
    sd["transformer.ln_f.bias"] = torch.zeros(hidden)
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="bloom-560m")
    args = ap.parse_args()
    hidden, layers, heads = SHAPES[args.shape]
    config = {"model_type": "bloom", "architectures": ["BloomForCausalLM"], "hidden_size": hidden, "n_layer": layers,
              "n_head": heads, "vocab_size": 250880, "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
              "pad_token_id": 3, "unk_token_id": 0, "tie_word_embeddings": True, "dtype": "float32"}
    sd = state_dict(hidden, layers)
    for sub, write in (("st", lambda d: save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})),
                       ("bin", lambda d: torch.save(sd, os.path.join(d, "pytorch_model.bin")))):
        d = os.path.join(args.out, sub)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        write(d)
        print(d, sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)), "bytes")


if __name__ == "__main__":
    main()
