"""Fixtures for bloomkit's quality measures (KL divergence), from transformers' logits.

Writes expected/kld/:
  statistics.json  transformers logits of tiny-b (f32) and of the same model with its matrices quantized and
                   dequantized as `bloomkit convert --type q4_0` stores them (gguf-py's ggml-exact quantizers:
                   block matrices Q4_0, token_embd = tied head Q8_0; each product's input quantized to Q8_0 as
                   a ggml runtime computes it), sliced to a small vocabulary so the file stays small; the
                   base's 16-bit log-probability records and every statistic, computed in numpy
                   the way llama-perplexity computes them (tools/perplexity/perplexity.cpp: log_softmax into
                   uint16, the kl_divergence_result sums, mean_and_uncertainty, covariance, percentiles), in f32
                   where it uses f32.
  tiny-b.json      the same statistics for the whole held-out text (expected/perplexity/heldout.txt, n_ctx 64,
                   llama-perplexity's chunking: the second half of each chunk scored) with the full vocabulary,
                   for f32 vs Q8_0 and f32 vs Q4_0.

Run with the main fixture venv (see README.md); it reuses generate.py's model loader:
  V/bin/python Tests/Fixtures/generate_quality.py
"""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate as g  # noqa: E402

SLICE_VOCAB = 64
SLICE_CHUNKS = 4


def quantize_activations(module, args):
    """ggml's CPU products with Q8_0/Q4_0 weights take the activations as Q8_0 blocks (the weight type's
    vec_dot_type): each input row is quantized and dequantized the same way before the product."""
    import gguf
    import torch
    (x,) = args
    flat = x.detach().reshape(-1, x.shape[-1]).numpy().astype(np.float32)
    t = gguf.GGMLQuantizationType.Q8_0
    return (torch.from_numpy(gguf.quants.dequantize(gguf.quants.quantize(flat, t), t).reshape(x.shape)),)


def quantized_copy(model, matrix_type):
    """The model as a ggml runtime computes bloomkit's file of `matrix_type`: 2-D block weights quantized,
    embeddings (= the tied head) Q8_0, and every product's input quantized to Q8_0."""
    import copy
    import gguf
    import torch
    q = copy.deepcopy(model)
    for m in q.modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_pre_hook(quantize_activations)
    embed_type = gguf.GGMLQuantizationType.Q8_0
    with torch.no_grad():
        for name, p in q.named_parameters():
            if p.ndim != 2:
                continue
            t = embed_type if "word_embeddings" in name else matrix_type
            w = p.detach().numpy().astype(np.float32)
            p.copy_(torch.from_numpy(gguf.quants.dequantize(gguf.quants.quantize(w, t), t).reshape(w.shape)))
    q.tie_weights()
    return q


def chunk_logits(model, ids, n_ctx, chunks):
    """Logits (f32) at the scored positions n_ctx/2 … n_ctx-2 of each chunk, and the next tokens."""
    import torch
    first = n_ctx // 2
    rows, nexts = [], []
    for c in range(chunks):
        x = torch.tensor([ids[c * n_ctx:(c + 1) * n_ctx]])
        with torch.no_grad():
            lg = model(input_ids=x).logits[0].float().numpy()
        rows.append(lg[first:n_ctx - 1])
        nexts.extend(ids[c * n_ctx + first + 1:(c + 1) * n_ctx])
    return np.concatenate(rows).astype(np.float32), np.array(nexts)


def nearest_int(v):
    """ggml's nearest_int: v + 1.5·2^23 in f32, low 23 bits minus 2^22 (round half to even)."""
    b = (np.float32(v) + np.float32(12582912.0)).astype(np.float32).view(np.int32)
    return (b & 0x007FFFFF) - 0x00400000


def encode(logits):
    """llama-perplexity's log_softmax(n_vocab, logits, uint16_t*, tok): (scale, min_log_prob, codes)."""
    f = np.float32
    mx, mn = logits.max(), logits.min()
    mn = max(mn, f(mx - f(16)))
    sum_exp = float(np.sum(np.exp(logits - mx).astype(np.float64)))
    lse = f(np.log(sum_exp))
    min_log_prob = f(f(mn - mx) - lse)
    scale = f(f(mx - mn) / f(65535))
    codes = np.zeros(len(logits), dtype=np.int64)
    if scale != 0:
        inv = f(f(1) / scale)
        keep = logits > mn
        codes[keep] = nearest_int(f(inv) * (logits[keep] - mn).astype(np.float32))
    return scale, min_log_prob, codes


class Sums:
    """kl_divergence_result, filled as llama-perplexity's log_softmax(…, kl_divergence_result &) does."""

    def __init__(self):
        self.nll = self.nll2 = self.nll_base = self.nll_base2 = self.nll_nll_base = 0.0
        self.kld = self.kld2 = self.p_diff = self.p_diff2 = self.p_diff4 = 0.0
        self.max_p_diff = np.float32(0)
        self.same_top = self.count = 0
        self.kld_values, self.p_diff_values = [], []

    def add(self, logits, record, tok):
        f = np.float32
        scale, min_log_prob, codes = record
        imax = int(np.argmax(logits))  # first maximum, as the strict '>' scan finds it
        mx = logits[imax]
        lse = f(np.log(float(np.sum(np.exp(logits - mx).astype(np.float64)))))
        nll = f(f(mx + lse) - logits[tok])
        self.nll += float(nll)
        self.nll2 += float(f(nll * nll))
        nll_base = f(-(f(scale * f(codes[tok])) + min_log_prob))
        self.nll_base += float(nll_base)
        self.nll_base2 += float(f(nll_base * nll_base))
        self.nll_nll_base += float(f(nll * nll_base))
        norm = f(mx + lse)
        log_p = (f(scale) * codes.astype(np.float32)).astype(np.float32) + min_log_prob
        imax_base = int(np.argmax(log_p))
        keep = log_p > f(-16)
        terms = (np.exp(log_p[keep]) * ((log_p[keep] - logits[keep]) + norm)).astype(np.float32)
        kld = 0.0
        for t in terms.astype(np.float64):  # sequential f64 sum, as the C loop adds
            kld += t
        self.kld += kld
        self.kld2 += kld * kld
        self.count += 1
        self.same_top += int(imax == imax_base)
        p_diff = f(np.exp(-nll) - np.exp(-nll_base))
        self.p_diff += float(p_diff)
        p2 = float(f(p_diff * p_diff))
        self.p_diff2 += p2
        self.p_diff4 += p2 * p2
        self.max_p_diff = max(self.max_p_diff, abs(p_diff))
        self.kld_values.append(f(kld))
        self.p_diff_values.append(p_diff)

    def statistics(self):
        n = self.count

        def mean_unc(s, s2):
            m = s / n
            d = s2 / n - m * m
            return m, (np.sqrt(d / (n - 1)) if d > 0 and n > 10 else 0.0)

        cov = 0.0 if n < 10 else (self.nll_nll_base / n - (self.nll / n) * (self.nll_base / n)) / (n - 1)
        lq, lb = mean_unc(self.nll, self.nll2), mean_unc(self.nll_base, self.nll_base2)
        ppl, ppl_b = np.exp(lq[0]), np.exp(lb[0])
        ratio_unc = np.sqrt(lq[1] ** 2 + lb[1] ** 2 - 2 * cov)
        ratio = np.exp(lq[0] - lb[0])
        mse = mean_unc(self.p_diff2, self.p_diff4)
        rms = np.sqrt(mse[0])
        top = self.same_top / n
        kv = np.sort(np.array(self.kld_values, dtype=np.float32))
        pv = np.sort(np.array(self.p_diff_values, dtype=np.float32))

        def pct(v, frac):
            f = np.float32
            p = f(f(frac) * f(len(v) - 1))
            i = int(p)
            p = f(p - f(i))
            return float(f(f(f(1) - p) * v[i]) + f(p * v[min(i + 1, len(v) - 1)]))

        def median(v):
            m = len(v) // 2
            return float(np.float32(0.5) * (v[m] + v[m - 1])) if len(v) % 2 == 0 else float(v[m])

        def table(v, fracs):
            out = {"max": float(v[-1])}
            for fr in fracs:
                out["median" if fr == 0.5 else "%.1f" % (fr * 100)] = median(v) if fr == 0.5 else pct(v, fr)
            out["min"] = float(v[0])
            return out

        est = lambda v, u: {"value": float(v), "uncertainty": float(u)}  # noqa: E731
        return {
            "count": n, "same_top_count": self.same_top,
            "perplexity": est(ppl, ppl * lq[1]), "base_perplexity": est(ppl_b, ppl_b * lb[1]),
            "ln_ppl_correlation": float(cov / (lq[1] * lb[1])),
            "ln_ppl_ratio": est(lq[0] - lb[0], ratio_unc), "ppl_ratio": est(ratio, ratio * ratio_unc),
            "ppl_difference": est(ppl - ppl_b, np.sqrt((ppl * lq[1]) ** 2 + (ppl_b * lb[1]) ** 2
                                                        - 2 * ppl * ppl_b * cov)),
            "kld": est(*mean_unc(self.kld, self.kld2)),
            "kld_percentiles": table(kv, [0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001]),
            "delta_p": est(*mean_unc(self.p_diff, self.p_diff2)),
            "delta_p_percentiles": table(pv, [0.999, 0.99, 0.95, 0.90, 0.75, 0.5, 0.25, 0.10, 0.05, 0.01, 0.001]),
            "rms_delta_p": est(rms, 0.5 / rms * mse[1]),
            "same_top": est(top, np.sqrt(top * (1 - top) / (n - 1))),
        }


def statistics_of(base_logits, model_logits, nexts):
    s = Sums()
    for b, q, t in zip(base_logits, model_logits, nexts):
        s.add(q, encode(b), int(t))
    return s.statistics()


def main():
    import gguf
    g.torch_setup()
    ids = g.read_json(g.OUT / "expected" / "perplexity" / "tiny-b.json")["token_ids"]
    n_ctx = g.PPL_CTX
    chunks = len(ids) // n_ctx
    base = g.load_tiny("tiny-b")
    models = {"q8_0": quantized_copy(base, gguf.GGMLQuantizationType.Q8_0),
              "q4_0": quantized_copy(base, gguf.GGMLQuantizationType.Q4_0)}
    base_logits, nexts = chunk_logits(base, ids, n_ctx, chunks)
    versions = {p: importlib.metadata.version(p) for p in ["torch", "transformers", "gguf", "numpy"]}
    method = ("llama-perplexity --kl-divergence on n_ctx %d chunks (second half scored), base = tiny-b f32 "
              "(transformers), model = the same with 2-D block weights quantized+dequantized by gguf-py "
              "(token_embd/tied head Q8_0); statistics in numpy as tools/perplexity/perplexity.cpp computes them"
              % n_ctx)
    full = {"method": method, "versions": versions, "n_ctx": n_ctx, "chunks": chunks, "text": "heldout.txt"}
    for name, m in models.items():
        q_logits, _ = chunk_logits(m, ids, n_ctx, chunks)
        full[name] = statistics_of(base_logits, q_logits, nexts)
        g.log("kld tiny-b %s: mean %.6f same top %.4f" % (name, full[name]["kld"]["value"],
                                                          full[name]["same_top"]["value"]))
    d = g.OUT / "expected" / "kld"
    g.write_json(d / "tiny-b.json", full)

    # The small exact case: the first SLICE_CHUNKS chunks, logits of tokens 0..SLICE_VOCAB-1 only, next token
    # taken modulo SLICE_VOCAB so it lies in the slice.
    q_logits, _ = chunk_logits(models["q4_0"], ids, n_ctx, SLICE_CHUNKS)
    rows = SLICE_CHUNKS * (n_ctx - 1 - n_ctx // 2)
    b = np.ascontiguousarray(base_logits[:rows, :SLICE_VOCAB])
    q = np.ascontiguousarray(q_logits[:rows, :SLICE_VOCAB])
    toks = [int(t) % SLICE_VOCAB for t in nexts[:rows]]
    records = [encode(r) for r in b]
    small = {
        "method": method + "; sliced to the first %d logits of the first %d chunks, next token modulo %d"
                  % (SLICE_VOCAB, SLICE_CHUNKS, SLICE_VOCAB),
        "versions": versions, "vocab": SLICE_VOCAB, "positions": rows, "tokens": toks,
        "base_logits": g.f32_list(b), "model_logits": g.f32_list(q),
        "base_scale": g.f32_list([r[0] for r in records]), "base_min_log_prob": g.f32_list([r[1] for r in records]),
        "base_codes": [int(c) for r in records for c in r[2]],
        "statistics": statistics_of(b, q, toks),
    }
    g.write_json(d / "statistics.json", small, indent=None)
    g.log("kld slice: %d positions, mean %.6f" % (rows, small["statistics"]["kld"]["value"]))


if __name__ == "__main__":
    main()
