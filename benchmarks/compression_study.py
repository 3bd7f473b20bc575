"""How a chunk's compression should be chosen: in-process figures on the real data.

    python benchmarks/realdata_fetch.py          # once
    python benchmarks/compression_study.py [--data DIR]

Cuts every release of each kind (realdata_fetch.py) with the store's FastCDC parameters,
keeps the distinct chunks in the order a store would meet them, and reports, per policy,
the bytes the chunks would take and the CPU seconds (process time, one thread) spent
choosing and compressing: zstd levels 1-6 with and without the ``auto`` probe, the 1/8
minimum saving against 1/32, and two things the store does not do (the issue's stretch):

- delta: a chunk of a file that changed is compressed with the previous version of the
  same logical path as a zstd raw-content dictionary (git's deltas, one hop);
- trained: one 112 KiB dictionary trained on the first release's small chunks, used for
  every chunk below 64 KiB.
"""

import argparse
import os
import sys
import time

import blake3
import pyfastcdc
import zstandard

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from realdata_fetch import KINDS, fetch  # noqa: E402

from artstore import chunkstore  # noqa: E402
from artstore.config import DEFAULT_CHUNKING as CH  # noqa: E402


def releases_chunks(releases):
    """[(version, path, chunk bytes)] of distinct chunks in first-seen order, and the
    {(version, path): file bytes} of every file."""
    cdc = pyfastcdc.FastCDC(CH["avg_size"], min_size=CH["min_size"], max_size=CH["max_size"],
                            normalized_chunking=CH["normalized_chunking"])
    seen, out, files = set(), [], {}
    for v, root in enumerate(releases):
        for dirpath, _dirs, names in os.walk(root):
            for name in sorted(names):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                with open(full, "rb") as f:
                    data = f.read()
                files[(v, rel)] = data
                pieces = [data] if len(data) < CH["min_size"] else [
                    data[c.offset:c.offset + c.length] for c in cdc.cut_buf(data)]
                for piece in pieces:
                    cid = blake3.blake3(piece).digest()
                    if cid not in seen:
                        seen.add(cid)
                        out.append((v, rel, piece))
    return out, files


def policy(chunks, mode, level, min_saving=chunkstore._MIN_SAVING):
    enc = chunkstore.Encoder(mode, level)
    old = chunkstore._MIN_SAVING
    chunkstore._MIN_SAVING = min_saving
    try:
        start = time.process_time()
        stored = sum(len(enc.encode(piece)[0]) for _v, _p, piece in chunks)
        return stored, time.process_time() - start
    finally:
        chunkstore._MIN_SAVING = old


def delta(chunks, files, level=3):
    """Chunks of a changed file compressed against the previous version of the path."""
    plain = zstandard.ZstdCompressor(level=level)
    start = time.process_time()
    stored = with_base = 0
    for v, path, piece in chunks:
        base = files.get((v - 1, path)) if v else None
        best = plain.compress(piece)
        if base:
            d = zstandard.ZstdCompressionDict(base[-(1 << 20):], dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            packed = zstandard.ZstdCompressor(level=level, dict_data=d).compress(piece)
            if len(packed) < len(best):
                best = packed
                with_base += 1
        stored += min(len(best), len(piece))
    return stored, time.process_time() - start, with_base


def trained(chunks, level=3):
    small = [piece for v, _p, piece in chunks if v == 0 and len(piece) < 65536]
    start = time.process_time()
    d = zstandard.train_dictionary(112640, small[:4000])
    with_dict = zstandard.ZstdCompressor(level=level, dict_data=d)
    plain = zstandard.ZstdCompressor(level=level)
    stored = 0
    for _v, _p, piece in chunks:
        packed = (with_dict if len(piece) < 65536 else plain).compress(piece)
        stored += min(len(packed), len(piece))
    return stored + len(d.as_bytes()), time.process_time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/tmp/artstore-realdata")
    args = parser.parse_args()
    print(f"{'data':7} {'policy':34} {'MB':>8} {'vs raw':>7} {'CPU s':>7}")
    for kind in KINDS:
        chunks, files = releases_chunks(fetch(args.data, kind))
        raw = sum(len(p) for _v, _pa, p in chunks)

        def show(name, stored, cpu, kind=kind, raw=raw):
            print(f"{kind:7} {name:34} {stored / 1e6:8.2f} {stored / raw:7.3f} {cpu:7.2f}", flush=True)

        show("none", raw, 0.0)
        for level in (1, 2, 3, 4, 5, 6):
            show(f"auto, level {level}", *policy(chunks, "auto", level))
        show("zstd (no probe), level 3", *policy(chunks, "zstd", 3))
        show("auto, level 3, keep if saves 1/32", *policy(chunks, "auto", 3, 1 / 32))
        stored, cpu, based = delta(chunks, files)
        show(f"delta vs previous version ({based})", stored, cpu)
        show("trained dictionary (<64 KiB)", *trained(chunks))


if __name__ == "__main__":
    main()
