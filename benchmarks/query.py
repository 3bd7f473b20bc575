"""Benchmarks for finding and keeping (search, find, prune, du --by-artifact).

    python benchmarks/query.py            # 10,000 versions across 100 artifacts
    python benchmarks/query.py --quick    # 300 versions: keeps the script working (tests run it)

Versions are logged through the Python API (each a real commit with its own transaction)
with realistic metadata: a few dozen keys, nested (metrics, params, data), numbers and
strings. Each query is timed in-process (the query's own time, the issue's target) and as
a whole CLI command (with interpreter start-up), against `artstore --version` run in the
same script as the start-up baseline. Writes benchmarks/results/query.json.
"""

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import ARTSTORE, best_of, print_table, save_json, timed  # noqa: E402

from artstore import Store  # noqa: E402
from artstore.ingest import InMemory, StoredFile  # noqa: E402

WORDS = ["resnet", "bert", "vit", "mnist", "imagenet", "kaggle", "cleaned", "raw", "augmented", "baseline"]


def metadata(rng, i):
    return {
        "framework": rng.choice(["torch", "jax", "tensorflow"]),
        "source": rng.choice(["kaggle/" + rng.choice(WORDS), "s3://data/" + rng.choice(WORDS), "internal"]),
        "metrics": {k: round(rng.random(), 4) for k in ("accuracy", "loss", "f1", "precision", "recall", "auc")},
        "params": {"lr": rng.choice([1e-3, 3e-4, 1e-4]), "batch": rng.choice([32, 64, 128]),
                   "epochs": rng.randint(1, 50), "optimizer": rng.choice(["adam", "sgd", "adamw"]),
                   "schedule": {"kind": rng.choice(["cosine", "step"]), "warmup": rng.randint(0, 1000)}},
        "data": {"rows": rng.randint(1000, 10**7), "columns": rng.randint(5, 500),
                 "split": rng.choice(["train", "val"]),
                 "classes": rng.randint(2, 1000), "checksum": f"{rng.getrandbits(64):016x}"},
        "git": {"commit": f"{rng.getrandbits(160):040x}", "branch": rng.choice(["main", "dev", "exp/" + str(i)])},
        "notes": " ".join(rng.choice(WORDS) for _ in range(6)),
        "owner": rng.choice(["alice", "bob", "carol", "dan"]),
        "seed": rng.randint(0, 2**31),
        "gpu": rng.choice(["a100", "v100", "t4", None]),
        "version_note": f"run {i}",
    }


def populate(project, versions, artifacts):
    rng = random.Random(7)
    Store.init(project, workspace="bench")
    with Store.open(project) as store:
        digests = []
        for j in range(artifacts):
            name = f"{rng.choice(WORDS)}-{j:03d}"
            v = store.log(name, [InMemory(os.urandom(2000), "data.bin")], metadata=metadata(rng, j),
                          artifact_type="model" if j % 3 == 0 else "dataset")
            digests.append((name, v))
        for i in range(versions - artifacts):
            name, first = digests[i % artifacts]
            asset = store.assets(first["artifact_version_id"])[0]
            aliases = ["production"] if i % 97 == 0 else ()
            tags = [rng.choice(WORDS)] if i % 5 == 0 else ()
            store.log(name, [StoredFile(bytes.fromhex(asset["content_hash"]), asset["size"], "data.bin"),
                             InMemory(f"{i}".encode(), "extra.txt")],
                      metadata=metadata(rng, i), aliases=aliases, version_tags=tags,
                      artifact_type="model" if (i % artifacts) % 3 == 0 else "dataset")
        return digests[0][0]


def in_process(project, repeats):
    out = {}
    with Store.open(project) as store:
        cases = {
            "search 'kaggle resnet'": lambda: store.search_rows("kaggle resnet", limit=50),
            "find 3 conditions": lambda: store.find_rows(
                ["metrics.accuracy>0.9", "framework=torch", "params.epochs>=10"], limit=50),
            "prune --dry-run --keep-last 5": lambda: store.prune(keep_last=5, dry_run=True),
            "du --by-artifact": lambda: store.du_by_artifact(),
        }
        for label, fn in cases.items():
            best = None
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - t
                best = elapsed if best is None else min(best, elapsed)
            out[label] = best
    return out


TARGETS = {"search 'kaggle resnet'": 0.1, "find 3 conditions": 0.1, "prune --dry-run --keep-last 5": 1.0,
           "du --by-artifact": 2.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--versions", type=int)
    parser.add_argument("--artifacts", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base", default="/work" if os.path.isdir("/work") else None)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "query.json"))
    args = parser.parse_args()
    versions = args.versions or (300 if args.quick else 10_000)
    artifacts = min(args.artifacts, versions)
    rows = []
    with tempfile.TemporaryDirectory(prefix="artstore-query-", dir=args.base) as base:
        project = os.path.join(base, "p")
        t = time.perf_counter()
        name = populate(project, versions, artifacts)
        log_s = time.perf_counter() - t
        rows.append({"scenario": f"log {versions} versions (API)", "artstore_s": log_s, "baseline": None,
                     "baseline_s": None, "ratio": None, "target": None, "met": None,
                     "note": f"{log_s / versions * 1000:.1f} ms per version"})
        for label, seconds in in_process(project, args.repeats).items():
            target = TARGETS[label]
            rows.append({"scenario": f"{label} (in-process)", "artstore_s": seconds, "baseline": "target",
                         "baseline_s": target, "ratio": seconds / target, "target": 1.0,
                         "met": seconds <= target, "note": f"{versions} versions"})
        startup = best_of(args.repeats, lambda: timed(ARTSTORE + ["--version"], cwd=project))[0]
        commands = {
            "search": ["search", "kaggle resnet"],
            "find": ["find", "--where", "metrics.accuracy>0.9", "--where", "framework=torch",
                     "--where", "params.epochs>=10", "--limit", "50"],
            "prune --dry-run": ["prune", "--keep-last", "5", "--dry-run"],
            "du --by-artifact": ["du", "--by-artifact"],
            "versions NAME": ["versions", name],
        }
        for label, argv in commands.items():
            seconds = best_of(args.repeats, lambda a=argv: timed(ARTSTORE + a, cwd=project))[0]
            rows.append({"scenario": f"artstore {label} (CLI)", "artstore_s": seconds,
                         "baseline": "artstore --version", "baseline_s": startup, "ratio": seconds / startup,
                         "target": None, "met": None, "note": "wall time with interpreter start-up"})
    print_table(rows, ["scenario", "artstore_s", "baseline", "baseline_s", "ratio", "target", "met", "note"])
    save_json(args.json, {"date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "versions": versions,
                          "rows": rows})


if __name__ == "__main__":
    main()
