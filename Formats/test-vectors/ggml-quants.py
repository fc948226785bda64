"""Writes ggml-quants.json: ggml's own bytes for Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K on edge and random blocks,
and ggml-quants-weighted.json: the bytes of quantize_<type>(rows, importance) (llama-quantize --imatrix's call) for
Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants on random rows with random importance values.

ggml-quants.c from the llama.cpp tree is compiled with exactly the flags of llama.cpp's ggml-base build (read from its
compile_commands.json: gcc -O3, no -march=native, so no FMA contraction, as llama-quantize runs it) into
ggml-quants-harness.c, which runs quantize_row_<type>_ref and dequantize_row_<type> on each case (quantize_<type>
with the importance values for the weighted cases). The same harness
linked against the built libggml-base.so must give the same bytes, or the generator stops.
Run: python ggml-quants.py [LLAMA_CPP_DIR]   (default: ../../.tools/llama.cpp; scripts/build-llama-cpp.sh builds it)
Only the standard library is needed.
"""
import base64
import glob
import hashlib
import json
import math
import os
import random
import shlex
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../.tools/llama.cpp"))
TYPES = ["q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"]
QK = 256


def cases():
    """(name, values): each a multiple of 256 f32 values."""
    r = random.Random(20261206)
    g = lambda s, n=QK: [r.gauss(0, s) for _ in range(n)]
    out = [("normal", g(0.02, 4 * QK)),
           ("normal-varied",  # sub-blocks of 16 at scales 2^-6...2^6
            [v * s for _ in range(2 * QK // 16) for s in [2.0 ** r.randint(-6, 6)] for v in g(1.0, 16)]),
           ("zeros", [0.0] * QK),
           ("negative-zeros", [-0.0] * QK),
           ("sparse", [r.gauss(0, 0.05) if (i // 32) in (2, 5) and i % 3 else 0.0 for i in range(QK)]),
           ("outlier", [v if i != 77 else 7.5 for i, v in enumerate(g(0.01))]),
           ("negative-outlier", [v if i != 200 else -9.25 for i, v in enumerate(g(0.01))]),
           ("tiny", g(1e-6)),
           ("subnormal", [v * 1e-39 for v in g(1.0, QK // 2)] + [v * 1e-20 for v in g(1.0, QK // 2)]),
           ("huge", g(3e4)),
           ("overflow", g(1e7)),
           ("positive", [r.uniform(0.5, 1.5) for _ in range(QK)]),
           ("negative", [-r.uniform(0.5, 1.5) for _ in range(QK)]),
           ("constant", [0.25] * QK),
           ("grid", [r.randint(-16, 15) * 0.125 for _ in range(QK)]),
           ("halves", [(r.randint(0, 62) + 0.5) * 2.0 ** -5 for _ in range(QK)]),
           ("nan", [v if i not in (40, 171) else math.nan for i, v in enumerate(g(0.02))]),
           ("inf", [v if i != 99 else math.inf for i, v in enumerate(g(0.02))]),
           ("negative-inf", [v if i != 3 else -math.inf for i, v in enumerate(g(0.02))]),
           ("all-inf", [math.inf] * QK)]
    return out


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def compile_harness(work):
    db = json.load(open(os.path.join(LLAMA, "build", "compile_commands.json")))
    entry = next(e for e in db if e["file"].endswith("ggml/src/ggml-quants.c") and "ggml-base" in e["command"])
    args = shlex.split(entry["command"])
    out = args.index("-o")
    obj = os.path.join(work, "ggml-quants.o")
    args[out + 1] = obj
    subprocess.run(args, cwd=entry["directory"], check=True)
    cc = args[0]
    flags = [a for a in args[1:] if a.startswith("-O") or a.startswith("-m") or a.startswith("-f") or a == "-DNDEBUG"]
    lib = os.path.join(LLAMA, "build", "bin")
    harness = os.path.join(HERE, "ggml-quants-harness.c")
    # The same source built as -march=native would on an FMA machine: gcc then contracts a*b+c into one rounding.
    fused_obj = os.path.join(work, "fused.o")
    subprocess.run(args[:out + 1] + [fused_obj] + args[out + 2:] + ["-march=haswell"], cwd=entry["directory"],
                   check=True)
    exes = {}
    for name, objs in (("own", [obj]), ("linked", []), ("fused", [fused_obj])):
        exes[name] = os.path.join(work, name)
        subprocess.run([cc, *flags, harness, *objs, "-L", lib, "-lggml-base", "-Wl,-rpath," + lib, "-lm",
                        "-o", exes[name]], check=True)
    return exes, " ".join([os.path.basename(cc)] + args[1:out] + args[out + 2:])


BLOCK_BYTES = {"q5_0": 22 * 8, "q5_1": 24 * 8, "q2_K": 84, "q3_K": 110, "q4_K": 144, "q5_K": 176, "q6_K": 210}
WEIGHTED_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"]


def weighted_cases():
    """(name, values, importance): rows of len(importance) values, importance as an imatrix holds it (mean squared
    activations: non-negative, spread over decades)."""
    r = random.Random(20261207)
    g = lambda s, n: [r.gauss(0, s) for _ in range(n)]
    spread = lambda n, decades=3: [10.0 ** r.uniform(-decades, decades) * r.random() for _ in range(n)]
    row = 2 * QK
    return [
        ("normal", g(0.02, 3 * row), spread(row)),
        ("varied", [v * s for _ in range(row // 16) for s in [2.0 ** r.randint(-6, 6)] for v in g(1.0, 16)],
         spread(row)),
        ("outliers", [v if i % 97 else v * 60 for i, v in enumerate(g(0.02, 2 * QK))], spread(QK, 6)),
        ("ones", g(0.5, 4 * QK), [1.0] * QK),
        ("some-zero", g(0.02, 2 * row), [0.0 if (i // 16) % 5 == 2 or i % 7 == 0 else w
                                         for i, w in enumerate(spread(row))]),
        ("all-zero", g(0.02, QK), [0.0] * QK),
        ("zeros", [0.0] * (2 * QK), spread(QK)),
        ("sparse", [r.gauss(0, 0.05) if (i // 32) in (2, 5) and i % 3 else 0.0 for i in range(QK)], spread(QK)),
        ("positive", [r.uniform(0.5, 1.5) for _ in range(QK)], spread(QK)),
        ("negative", [-r.uniform(0.5, 1.5) for _ in range(QK)], spread(QK)),
        ("grid", [r.randint(-16, 15) * 0.125 for _ in range(QK)], spread(QK)),
        ("tiny", g(1e-6, QK), spread(QK)),
        ("huge", g(3e4, QK), spread(QK, 8)),
    ]


def weighted_fused_cases(exes, work):
    """For each type, the first of 2048 random rows (one super-block, own importance) whose bytes FMA contraction
    changes."""
    r = random.Random(8)
    found = []
    rows = [([r.gauss(0, 0.02) for _ in range(QK)], [10.0 ** r.uniform(-3, 3) for _ in range(QK)])
            for _ in range(2048)]
    for t in WEIGHTED_TYPES:
        for i, (values, importance) in enumerate(rows):
            if run_weighted(exes["own"], t, values, importance, work) != \
                    run_weighted(exes["fused"], t, values, importance, work):
                found.append(("fused-" + t, values, importance))
                break
    return found


def run_weighted(exe, t, values, importance, work):
    x, w, out = (os.path.join(work, n) for n in ("wx.f32", "ww.f32", "wout"))
    open(x, "wb").write(f32(values))
    open(w, "wb").write(f32(importance))
    subprocess.run([exe, t, x, out, w], check=True)
    return open(out, "rb").read()


def weighted_vectors(exes, work, generator):
    result = {"generator": generator,
              "encoding": "base64 of little-endian bytes: values and importance f32 (rows of len(importance) "
                          "values), blocks as ggml stores them",
              "fused": "fusedDiffers: cases/types where ggml-quants.c built with -march=haswell (FMA contraction)"
                       " writes other bytes",
              "fusedDiffers": [], "cases": []}
    for name, values, importance in weighted_cases() + weighted_fused_cases(exes, work):
        case = {"name": name, "values": base64.b64encode(f32(values)).decode(),
                "importance": base64.b64encode(f32(importance)).decode()}
        for t in WEIGHTED_TYPES:
            a = run_weighted(exes["own"], t, values, importance, work)
            if a != run_weighted(exes["linked"], t, values, importance, work):
                sys.exit("ggml-quants.c as compiled here and libggml-base.so disagree on weighted %s/%s" % (t, name))
            if a != run_weighted(exes["fused"], t, values, importance, work):
                result["fusedDiffers"].append("%s/%s" % (name, t))
            case[t] = base64.b64encode(a).decode()
        result["cases"].append(case)
    return result


def fused_cases(exes, work):
    """For each type, the first of 4096 random super-blocks whose bytes FMA contraction changes (a case each)."""
    r = random.Random(7)
    blocks = [[r.gauss(0, 0.02) for _ in range(QK)] for _ in range(4096)]
    path = os.path.join(work, "search.f32")
    open(path, "wb").write(b"".join(f32(b) for b in blocks))
    found = []
    for t in TYPES:
        size = BLOCK_BYTES[t] * len(blocks)
        a = run(exes["own"], t, path, work)[:size]
        b = run(exes["fused"], t, path, work)[:size]
        n = BLOCK_BYTES[t]
        hit = next((i for i in range(len(blocks)) if a[i * n:(i + 1) * n] != b[i * n:(i + 1) * n]), None)
        if hit is not None:
            found.append(("fused-" + t, blocks[hit]))
    return found


def run(exe, t, path, work):
    out = os.path.join(work, "out")
    subprocess.run([exe, t, path, out], check=True)
    return open(out, "rb").read()


def main():
    with tempfile.TemporaryDirectory() as work:
        exes, command = compile_harness(work)
        source = open(os.path.join(LLAMA, "ggml", "src", "ggml-quants.c"), "rb").read()
        version = sorted(glob.glob(os.path.join(LLAMA, "build", "bin", "libggml-base.so.*.*.*")))
        result = {"generator": "ggml-quants.py: ggml-quants.c (sha256 %s, ggml %s) compiled as: %s" % (
                      hashlib.sha256(source).hexdigest()[:16], version[-1].split(".so.")[-1] if version else "?",
                      command.replace(LLAMA, "LLAMA")),
                  "encoding": "base64 of little-endian bytes: values f32, blocks as ggml stores them, dequantized f32",
                  "fused": "fusedDiffers: cases/types where ggml-quants.c built with -march=haswell (FMA contraction)"
                           " writes other bytes: these tell a contracted implementation from llama-quantize's",
                  "fusedDiffers": [], "cases": []}
        for name, values in cases() + fused_cases(exes, work):
            data = f32(values)
            path = os.path.join(work, "in.f32")
            open(path, "wb").write(data)
            case = {"name": name, "values": base64.b64encode(data).decode()}
            for t in TYPES:
                a = run(exes["own"], t, path, work)
                if a != run(exes["linked"], t, path, work):
                    sys.exit("ggml-quants.c as compiled here and libggml-base.so disagree on %s/%s" % (t, name))
                if a[:-len(values) * 4] != run(exes["fused"], t, path, work)[:-len(values) * 4]:
                    result["fusedDiffers"].append("%s/%s" % (name, t))
                n = len(values) * 4
                case[t] = {"blocks": base64.b64encode(a[:-n]).decode(),
                           "dequantized": base64.b64encode(a[-n:]).decode()}
            result["cases"].append(case)
        weighted = weighted_vectors(exes, work, result["generator"])
    missing = [t for t in TYPES if not any(d.endswith("/" + t) for d in result["fusedDiffers"])]
    print("FMA contraction changes no bytes of", missing or "none")
    with open(os.path.join(HERE, "ggml-quants.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "ggml-quants-weighted.json"), "w") as f:
        json.dump(weighted, f, indent=1)
        f.write("\n")


main()
