#!/usr/bin/env python3
"""Make adapters/lora-2023-a with PEFT 0.2.0 (the March-2023 `enable_lora` / MergedLinear layout).

Run by generate.py (stage a2023) with the python of a venv holding
peft==0.2.0 transformers==4.28.1 tokenizers==0.13.3 accelerate==0.18.0 torch "setuptools<70".

Reads  models/tiny-a/bin-f32/{config.json,pytorch_model.bin} (the f32 base, bf16-representable values).
Writes adapters/lora-2023-a/{adapter_config.json,adapter_model.bin}
       expected/merged/lora-2023-a.safetensors          merged query_key_value weights (f32)
       expected/merged/lora-2023-a.forward.safetensors  PEFT 0.2.0 layer/model outputs with the adapter enabled

PEFT 0.2.0's own merge (MergedLinear.train(False) with merge_weights) crashes (it unsqueezes the already
3-D Conv1d weight), so the merged weights use the formula as fixed upstream in commit 43cb7040c:
    delta = conv1d(lora_A.unsqueeze(0), lora_B, groups=sum(enable_lora)).squeeze(0) * lora_alpha / r,
zero-padded into the rows of the enabled thirds, and they are cross-checked against the
PEFT 0.2.0 layer's own forward (adapter enabled, not merged) to 1e-6.
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
SEED = 2023
WANT = {"peft": "0.2.0", "transformers": "4.28.1", "tokenizers": "0.13.3"}


def save_file(tensors, path, metadata):
    """Minimal safetensors writer (this venv has no safetensors package): compact JSON header padded
    with spaces to a multiple of 8, tensors in name order, contiguous little-endian data."""
    import struct
    dt = {torch.float32: "F32", torch.int64: "I64"}
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dt[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    import importlib.metadata as md
    got = {k: md.version(k) for k in WANT}
    if got != WANT:
        sys.exit("generate_2023.py needs %r, found %r" % (WANT, got))
    torch.set_num_threads(1)
    import transformers
    import peft
    from transformers import BloomConfig, BloomForCausalLM
    from peft import LoraConfig, get_peft_model

    base_dir = HERE / "models" / "tiny-a" / "bin-f32"
    cfg_json = json.loads((base_dir / "config.json").read_text())
    cfg = BloomConfig(**{k: v for k, v in cfg_json.items() if k not in ("architectures", "transformers_version", "dtype")})
    torch.manual_seed(0)
    model = BloomForCausalLM(cfg)
    sd = torch.load(str(base_dir / "pytorch_model.bin"), map_location="cpu")
    model.transformer.load_state_dict(sd, strict=True)
    assert model.lm_head.weight.data_ptr() == model.transformer.word_embeddings.weight.data_ptr()
    model.float().eval()
    base_qkv = {i: l.self_attention.query_key_value.weight.detach().clone() for i, l in enumerate(model.transformer.h)}
    base_bias = {i: l.self_attention.query_key_value.bias.detach().clone() for i, l in enumerate(model.transformer.h)}

    torch.manual_seed(SEED)
    lcfg = LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.0,
                      target_modules=["query_key_value"], bias="none", inference_mode=False)
    pm = get_peft_model(model, lcfg)
    pc = pm.peft_config
    # PEFT 0.2.0 rewrites a single-target config itself (mapping._prepare_lora_config):
    assert pc.fan_in_fan_out is True and pc.enable_lora == [True, False, True], (pc.fan_in_fan_out, pc.enable_lora)
    g = torch.Generator().manual_seed(SEED + 1)
    layers = []
    for name, mod in pm.named_modules():
        if type(mod).__name__ == "MergedLinear":
            # ...but the layer was built with fan_in_fan_out=False (nn.Linear target, warning).
            assert mod.fan_in_fan_out is False
            with torch.no_grad():
                mod.lora_B.weight.copy_(torch.randn(mod.lora_B.weight.shape, generator=g) * 0.05)
            layers.append((name, mod))
    assert len(layers) == cfg.n_layer
    pm.eval()
    pc.base_model_name_or_path = "bloomkit/tiny-a"
    out_dir = HERE / "adapters" / "lora-2023-a"
    out_dir.mkdir(parents=True, exist_ok=True)
    pm.save_pretrained(str(out_dir))
    assert not (out_dir / "adapter_model.safetensors").exists()

    merged, forward = {}, {}
    scaling = lcfg.lora_alpha / lcfg.r
    H = cfg.hidden_size
    gx = torch.Generator().manual_seed(SEED + 2)
    for i, (name, mod) in enumerate(layers):
        A = mod.lora_A.weight.detach()              # [r*k, in]
        B = mod.lora_B.weight.detach()              # [out/3*k, r, 1]
        k = sum(mod.enable_lora)
        assert mod.scaling == scaling
        delta = F.conv1d(A.unsqueeze(0), B, groups=k).squeeze(0) * scaling   # [out/3*k, in]
        full = torch.zeros_like(base_qkv[i])
        full[mod.lora_ind] = delta
        W = base_qkv[i] + full
        key = "transformer.h.%d.self_attention.query_key_value.weight" % i
        assert name.endswith(key[: -len(".weight")])
        merged[key] = W.contiguous()
        # cross-check against the 0.2.0 layer's own forward (adapter enabled, unmerged)
        x = torch.randn((1, 5, H), generator=gx)
        with torch.no_grad():
            y = mod(x)
        want = F.linear(x, W, base_bias[i])
        err = (y - want).abs().max().item()
        assert err < 1e-6, err
        forward["%s.input" % key[: -len(".weight")]] = x.contiguous()
        forward["%s.output" % key[: -len(".weight")]] = y.contiguous()
        print("layer %d: merged vs PEFT 0.2.0 forward max err %.3g" % (i, err))
    # whole model with the adapter enabled, on a fixed id sequence
    ids = torch.tensor([[5, 42, 300, 1200, 17, 999]])
    with torch.no_grad():
        logits = pm(input_ids=ids).logits[0]
    forward["input_ids"] = ids[0].to(torch.int64).contiguous()
    forward["logits"] = logits.contiguous()
    exp = HERE / "expected" / "merged"
    exp.mkdir(parents=True, exist_ok=True)
    save_file(merged, str(exp / "lora-2023-a.safetensors"), metadata={"format": "pt"})
    save_file(forward, str(exp / "lora-2023-a.forward.safetensors"),
              metadata={"format": "pt", "peft": peft.__version__, "transformers": transformers.__version__,
                        "torch": torch.__version__})
    print("lora-2023-a written with peft %s, transformers %s, torch %s" %
          (peft.__version__, transformers.__version__, torch.__version__))


if __name__ == "__main__":
    main()
