#!/usr/bin/env python3
"""bloomkit pack/unpack vs zipnn 0.5.4 vs `zstd -19` on the same files: ratio and throughput (run by
scripts/compare-zipnn.sh, which makes the files and the venv).

    compare-zipnn.py BLOOMKIT THREADS FILE:DTYPE...      DTYPE: bfloat16, float16, float32 or gguf

zipnn is given the whole file as bytes with the file's dtype (threads=THREADS), compresses a copy (it rewrites the
buffer it is given) and decompresses it back; its round trip is checked. bloomkit packs the file (`--threads`),
`verify` decodes every byte and checks every checksum without writing, `unpack` also writes the file (and fsyncs it:
that is what an atomic output costs); its round trip is compared byte for byte. `zstd -19 -T THREADS` and a plain
copy (`cp`, then sync) of the same bytes are timed too. Times are wall-clock seconds of one run each; throughput is
input MB/s. zipnn imports torch and safetensors at module level but compresses bytes without them: they are
replaced by empty stand-ins here, so the venv needs no torch.
"""
import os
import resource
import subprocess
import sys
import time
import types


def stub_torch():
    class Any(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Any(name)

        def __call__(self, *a, **k):
            return Any("call")

    for m in ["torch", "torch.nn", "safetensors", "safetensors.torch"]:
        sys.modules.setdefault(m, Any(m))


CPU = {}


def timed(cmd, key=None, **kw):
    """Wall seconds of `cmd`; its CPU seconds (user + sys, all threads) go to CPU[key]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if key:
        CPU[key] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall


def main():
    bloomkit, threads, specs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    stub_torch()
    from zipnn import ZipNN

    rows = []
    f = lambda r, k, fmt: (fmt % r[k]) if k in r else "–"
    # bloomkit is a process: its start (Swift runtime, Foundation) is timed with every command. Measured once on a
    # one-file .bkz and shown apart ("net" = with it subtracted), so small benchmark files are not dominated by it.
    tiny_src, tiny = specs[0].rsplit(":", 1)[0] + ".tiny", specs[0].rsplit(":", 1)[0] + ".tiny.bkz"
    open(tiny_src, "wb").write(b"{}")
    timed([bloomkit, "pack", tiny_src, "-o", tiny, "--quiet"])
    start_wall = min(timed([bloomkit, "verify", tiny, "--quiet"], "start") for _ in range(5))
    start_cpu = CPU["start"]
    os.remove(tiny)
    os.remove(tiny_src)
    for spec in specs:
        path, dtype = spec.rsplit(":", 1)
        raw = open(path, "rb").read()
        n = len(raw)
        mb = n / 1e6
        row = {"file": os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path), "dtype": dtype, "mb": mb}
        # bloomkit
        # UNPACK_DIR (e.g. a tmpfs such as /dev/shm): pack, unpack and copy there, so none of them waits on a disk
        # and the comparison with zipnn's in-memory compression and decompression is memory to memory.
        out_dir = os.environ.get("UNPACK_DIR") or os.path.dirname(path)
        bkz = os.path.join(out_dir, os.path.basename(path) + ".bkz")
        out = os.path.join(out_dir, os.path.basename(path) + ".unpacked")
        for p in (bkz, out):
            if os.path.exists(p):
                os.remove(p)
        t = timed([bloomkit, "pack", path, "-o", bkz, "--threads", str(threads), "--quiet"], "pack")
        row["bk_ratio"], row["bk_pack"], row["bk_pack_cpu"] = n / os.path.getsize(bkz), mb / t, mb / CPU["pack"]
        row["bk_verify"] = mb / timed([bloomkit, "verify", bkz, "--quiet"], "verify")
        row["bk_verify_cpu"] = mb / CPU["verify"]
        row["bk_verify_net"] = mb / max(mb / row["bk_verify"] - start_wall, 1e-6)
        row["bk_verify_cpu_net"] = mb / max(CPU["verify"] - start_cpu, 1e-6)
        row["bk_pack_cpu_net"] = mb / max(CPU["pack"] - start_cpu, 1e-6)
        row["bk_unpack"] = mb / timed([bloomkit, "unpack", bkz, "-o", out, "--threads", str(threads), "--quiet"])
        assert open(out, "rb").read() == raw, "bloomkit round trip differs: " + path
        os.remove(out)
        if os.environ.get("UNPACK_DIR"):
            os.remove(bkz)
        # plain copy of the same bytes (to a new file, synced)
        t = time.perf_counter()
        subprocess.run(["cp", path, out], check=True)
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        row["copy"] = mb / (time.perf_counter() - t)
        os.remove(out)
        # zipnn
        if dtype != "gguf":
            z = ZipNN(bytearray_dtype=dtype, threads=threads)
            buf = bytearray(raw)  # zipnn rewrites the buffer it is given
            t, cpu = time.perf_counter(), time.process_time()
            c = z.compress(buf)
            row["zn_pack"], row["zn_pack_cpu"] = mb / (time.perf_counter() - t), mb / (time.process_time() - cpu)
            c = bytes(c)
            t, cpu = time.perf_counter(), time.process_time()
            d = z.decompress(c)
            row["zn_unpack"], row["zn_unpack_cpu"] = mb / (time.perf_counter() - t), mb / (time.process_time() - cpu)
            assert bytes(d) == raw, "zipnn round trip differs: " + path
            row["zn_ratio"] = n / len(c)
        # zstd -19 (SKIP_ZSTD=1 leaves it out: about 3 MB/s per thread, an hour for a 560M-shaped F32 file)
        if os.environ.get("SKIP_ZSTD"):
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
            continue
        zst = path + ".zst"
        t = timed(["zstd", "-19", "-T%d" % threads, "-q", "-f", path, "-o", zst])
        row["zs_ratio"], row["zs_pack"] = n / os.path.getsize(zst), mb / t
        row["zs_unpack"] = mb / timed(["zstd", "-d", "-q", "-f", zst, "-o", os.devnull])
        os.remove(zst)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)

    print("\nbloomkit process start: %.0f ms wall, %.0f ms CPU (net = with it subtracted)"
          % (start_wall * 1000, start_cpu * 1000))
    print("\nCPU throughput (MB per CPU-second, all threads; robust to other load on the machine):")
    print("| file | bloomkit pack (net) | zipnn pack | bloomkit verify: decode + check (net) | zipnn decompress |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s (%s) | %s (%s) | %s | %s (%s) | %s |" % (r["file"], r["dtype"], f(r, "bk_pack_cpu", "%.0f"),
              f(r, "bk_pack_cpu_net", "%.0f"), f(r, "zn_pack_cpu", "%.0f"), f(r, "bk_verify_cpu", "%.0f"),
              f(r, "bk_verify_cpu_net", "%.0f"), f(r, "zn_unpack_cpu", "%.0f")))
    print("\nWall-clock (one run each, threads=%d):" % threads)
    print("| file | MB | bloomkit ratio | zipnn ratio | zstd -19 ratio | bloomkit pack MB/s | zipnn pack MB/s | "
          "zstd -19 pack MB/s | bloomkit verify MB/s (net) | bloomkit unpack MB/s | zipnn unpack MB/s | "
          "zstd -d MB/s | cp+sync MB/s |")
    print("|" + "---|" * 13)
    for r in rows:
        print("| %s (%s) | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["file"], r["dtype"], r["mb"], f(r, "bk_ratio", "%.4f"), f(r, "zn_ratio", "%.4f"),
            f(r, "zs_ratio", "%.4f"), f(r, "bk_pack", "%.0f"), f(r, "zn_pack", "%.0f"), f(r, "zs_pack", "%.1f"),
            f(r, "bk_verify", "%.0f") + " (" + f(r, "bk_verify_net", "%.0f") + ")", f(r, "bk_unpack", "%.0f"),
            f(r, "zn_unpack", "%.0f"), f(r, "zs_unpack", "%.0f"), f(r, "copy", "%.0f")))


if __name__ == "__main__":
    main()
