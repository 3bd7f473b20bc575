"""Issue 16's numbers: server time of `artstore ui` pages on big stores (target < 300 ms).

    python benchmarks/ui.py            # an artifact of 10,000 versions; versions of 100,000 files
    python benchmarks/ui.py --quick    # 300 versions, 3,000 files: keeps the script working (tests)

The first 300 versions of the big artifact are logged through the Python API (a real
commit each), the rest crafted as catalog rows (see log_history); the 100,000-file
versions are logged through the API. Pages are requested
in-process through Starlette's TestClient: the time is the server's (routing, catalog
reads, tree walks, template), with no network or browser; each request opens its own
Store, as the server does. "first" is the first request after the store was built, "best"
the fastest of --repeats. Writes benchmarks/results/ui.json.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import print_table, save_json  # noqa: E402

from artstore import Store  # noqa: E402
from artstore.ingest import InMemory, StoredFile  # noqa: E402

TARGET_S = 0.3


def metadata(rng, i):
    return {"seed": i, "metrics": {"accuracy": round(rng.random(), 4), "loss": rng.random()},
            "params": {"lr": rng.choice([1e-3, 3e-4]), "batch": rng.choice([32, 64])}}


def log_history(store, versions, logged):
    """Artifact 'hist': ``versions`` versions of a shared data file plus a small file of
    their own, with metadata like a training run's, an alias every 1,000 and a tag every 7.
    The first ``logged`` are logged through the API (a real commit each); the rest are
    inserted as catalog rows sharing the last logged version's tree, as conftest's
    craft_version does: logging 10,000 versions one by one takes a quarter of an hour
    here (each commit reads every earlier version's row), and the pages read the rows the
    same however they were made."""
    import sqlite3
    import uuid
    from datetime import datetime, timedelta, timezone

    rng = random.Random(16)
    first = store.log("hist", [InMemory(os.urandom(4000), "data.bin")], metadata={"seed": 0})
    asset = store.assets(first["artifact_version_id"])[0]
    shared = (bytes.fromhex(asset["content_hash"]), asset["size"])
    for i in range(1, min(logged, versions)):
        store.log("hist", [StoredFile(*shared, "data.bin"), InMemory(f"{i}\n".encode(), "run.txt")],
                  metadata=metadata(rng, i), aliases=[f"best-{i}"] if i % 1000 == 0 else (),
                  version_tags=["sweep"] if i % 7 == 0 else ())
    if versions <= logged:
        return
    conn = sqlite3.connect(os.path.join(store.dir, "catalog.db"))
    with conn:
        template = conn.execute("SELECT * FROM versions ORDER BY created_at DESC LIMIT 1").fetchone()
        columns = [d[0] for d in conn.execute("SELECT * FROM versions LIMIT 0").description]
        row = dict(zip(columns, template, strict=True))
        start = datetime.now(timezone.utc)
        rows, aliases, tags = [], [], []
        for i in range(logged, versions):
            vid = uuid.uuid4().hex
            rows.append(row | {"id": vid, "version": f"{i + 1}.0.0", "run_id": None,
                               "created_at": (start + timedelta(seconds=i)).isoformat(timespec="microseconds"),
                               "metadata": json.dumps(metadata(rng, i), sort_keys=True, separators=(",", ":"))})
            if i % 1000 == 0:
                aliases.append((row["artifact_id"], f"best-{i}", vid))
            if i % 7 == 0:
                tags.append((vid, "sweep"))
        conn.executemany(f"INSERT INTO versions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [tuple(r.values()) for r in rows])
        conn.executemany("INSERT INTO aliases (artifact_id, alias, version_id) VALUES (?, ?, ?)", aliases)
        conn.executemany("INSERT INTO version_tags (version_id, tag) VALUES (?, ?)", tags)
    conn.close()


def log_wide(store, files, folders):
    """Artifact 'wide': one version of ``files`` files in ``folders`` folders; artifact
    'flat': the same number of files in one folder."""
    per = files // folders
    store.log("wide", [InMemory(f"{i}\n".encode(), f"d{i // per:03d}/f{i % per:05d}.txt") for i in range(files)],
              version="1.0.0")
    store.log("flat", [InMemory(f"{i}\n".encode(), f"f{i:06d}.txt") for i in range(files)], version="1.0.0")


def time_pages(client, pages, repeats):
    rows = []
    for label, url in pages:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            r = client.get(url)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, (url, r.status_code, r.text[-500:])
        best = min(times)
        rows.append({"scenario": label, "url": url, "first_s": times[0], "best_s": best, "target_s": TARGET_S,
                     "met": best <= TARGET_S, "bytes": len(r.content)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--versions", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument("--logged", type=int, default=300,
                        help="versions of 'hist' logged through the API; the rest are crafted rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base", default="/work/benchtmp-ui" if os.path.isdir("/work/benchtmp-ui") else None)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "ui.json"))
    args = parser.parse_args()
    versions = args.versions or (300 if args.quick else 10_000)
    files = args.files or (3_000 if args.quick else 100_000)
    warnings.simplefilter("ignore")  # StarletteDeprecationWarning: TestClient over httpx
    from starlette.testclient import TestClient

    from artstore.ui.app import create_app

    with tempfile.TemporaryDirectory(prefix="artstore-ui-bench-", dir=args.base) as base:
        project = os.path.join(base, "p")
        store = Store.init(project, workspace="bench")
        t = time.perf_counter()
        log_history(store, versions, args.logged)
        log_hist_s = time.perf_counter() - t
        t = time.perf_counter()
        log_wide(store, files, 100)
        log_wide_s = time.perf_counter() - t
        store.close()
        print(f"made {versions} versions ({min(args.logged, versions)} logged) in {log_hist_s:.1f} s, "
              f"logged 2 x {files} files in {log_wide_s:.1f} s", flush=True)
        mid = versions // 2
        pages = [
            (f"artifact page, {versions} versions (page 1)", "/a/bench/hist"),
            (f"artifact page, {versions} versions (middle page)", f"/a/bench/hist?page={versions // 100}"),
            (f"artifact page, {versions} versions, 3 metadata columns",
             "/a/bench/hist?cols=metrics.accuracy,params.lr,seed"),
            (f"version page in an artifact of {versions} versions", f"/a/bench/hist/{mid}.0.0"),
            (f"compare two of {versions} versions", f"/compare/bench/hist:{mid}.0.0...bench/hist:{mid + 1}.0.0"),
            (f"version page, {files} files in 100 folders", "/a/bench/wide/1.0.0"),
            (f"folder page, {files // 100} files of {files}", "/a/bench/wide/1.0.0/files/d050"),
            (f"version page, {files} files in one folder", "/a/bench/flat/1.0.0"),
            (f"version page, {files} files in one folder, a page from the middle",
             f"/a/bench/flat/1.0.0?after=f{files // 2:06d}.txt"),
            (f"file page in a version of {files} files", f"/a/bench/flat/1.0.0/files/f{files - 1:06d}.txt"),
            ("artifacts page", "/"),
        ]
        with TestClient(create_app(os.path.join(project, ".artstore"))) as client:
            rows = time_pages(client, pages, args.repeats)
    print_table(rows, ["scenario", "first_s", "best_s", "target_s", "met", "bytes"])
    save_json(args.json, {"date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "versions": versions,
                          "logged_versions": min(args.logged, versions),
                          "files": files, "log_history_s": log_hist_s, "log_wide_s": log_wide_s, "rows": rows})
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
