"""Store growth and add throughput at 16, 64 and 256 KiB average chunk sizes.

The edit is the core-store issue's: a file of SIZE bytes, 128 bytes inserted in the middle
and 1 MiB overwritten at 3/4, then added again. Run: python benchmarks/chunk_size.py [--size N]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import ARTSTORE, edit_file, make_random_file, print_table, save_json, timed  # noqa: E402

AVERAGES = [16 * 1024, 64 * 1024, 256 * 1024]


def stored_bytes(project):
    import json

    _s, _r, out = timed(ARTSTORE + ["du", "--json"], cwd=project)
    return json.loads(out)["stored_bytes"]


def measure(base, size, avg):
    from artstore import Store

    project = os.path.join(base, f"avg{avg}")
    os.makedirs(project)
    Store.init(project, workspace="bench", chunking={
        "avg_size": avg, "min_size": avg // 4, "max_size": avg * 4,
    }).close()
    data = os.path.join(project, "big.bin")
    make_random_file(data, size)
    seconds, rss, _ = timed(ARTSTORE + ["add", "big", "big.bin"], cwd=project)
    before = stored_bytes(project)
    edit_file(data)
    seconds_edit, _rss, _ = timed(ARTSTORE + ["add", "big", "big.bin"], cwd=project)
    growth = stored_bytes(project) - before
    chunks = int(__import__("sqlite3").connect(os.path.join(project, ".artstore", "catalog.db"))
                 .execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    return {
        "avg_kib": avg // 1024,
        "add_s": seconds,
        "add_mb_s": size / seconds / 1e6,
        "edit_add_s": seconds_edit,
        "growth_mib": growth / 2**20,
        "chunks": chunks,
        "peak_rss_mb": rss,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1 << 30)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "chunk_size.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="artstore-bench-") as base:
        for avg in AVERAGES:
            rows.append(measure(base, args.size, avg))
            print(f"avg {avg // 1024} KiB done", file=sys.stderr)
    print_table(rows, ["avg_kib", "add_s", "add_mb_s", "edit_add_s", "growth_mib", "chunks", "peak_rss_mb"])
    save_json(args.json, {"size": args.size, "rows": rows})


if __name__ == "__main__":
    main()
