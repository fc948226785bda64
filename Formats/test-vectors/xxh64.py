"""Writes xxh64.json: XXH64 of test inputs, computed by the python `xxhash` package (the reference C library).

Input i of length n is bytes((k * 31 + 7) % 256 for k in range(n)). Run: python xxh64.py (needs `pip install xxhash`).
"""
import json
import xxhash

LENGTHS = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 31, 32, 33, 35, 63, 64, 65, 100, 1000, 4099]
SEEDS = [0, 877380273]


def data(n):
    return bytes((k * 31 + 7) % 256 for k in range(n))


vectors = [{"length": n, "seed": s, "xxh64": "%016x" % xxhash.xxh64_intdigest(data(n), seed=s)}
           for n in LENGTHS for s in SEEDS]
with open("xxh64.json", "w") as f:
    json.dump({"generator": "xxh64.py, python xxhash %s" % xxhash.VERSION,
               "input": "bytes((k * 31 + 7) % 256 for k in range(length))", "vectors": vectors}, f, indent=1)
    f.write("\n")
