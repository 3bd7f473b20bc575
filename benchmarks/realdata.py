"""Compression on real data: artstore against restic, borg and git at their DEFAULT settings.

    python benchmarks/realdata_fetch.py            # once: pip-downloads the data into /tmp
    python benchmarks/realdata.py [--data DIR] [--random-size BYTES] [--repeats N]

For each kind of data (realdata_fetch.py: sympy sdists, text-heavy; numpy wheels,
binary-heavy) every tool logs the successive releases as versions of one folder: the
folder is refilled with release n (untimed, ``cp -a``-like, so every file has a new inode
and every tool reads every file again), then the tool's add is timed. Tools: artstore with
``none``, ``auto`` at zstd levels 1, 3 (the default) and 6, and ``zstd`` (every chunk
tried, level 3); restic 0.14 (repository v2, default ``auto`` compression); borg 1.2
(default lz4); git (``add -A`` + ``commit``, loose objects, then ``git gc``). Stored is
the size on disk of each tool's whole repository (artstore: ``.artstore``, catalog
included).

Then, on the text data stored with the default and with ``none``: ``download`` of the
last version, ``download`` of a tar of every release logged as one file, and ``verify
--read-data``, as throughput beside ``zstd -d`` / ``zstd -t`` of the same bytes as one
tar (zstd -3; see read_throughput); and a random file (default 1 GiB) added to fresh stores
with ``none`` and with the default, alternating, best of ``--repeats``.

Writes benchmarks/results/realdata.json. Every figure comes from this one run.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ARTSTORE, make_random_file, print_table, save_json, timed  # noqa: E402
from peers import Borg, Restic, dir_size, peer_versions  # noqa: E402
from realdata_fetch import KINDS, fetch  # noqa: E402

VARIANTS = [
    ("artstore none", ["--compression", "none"]),
    ("artstore auto, level 1", ["--compression", "auto", "--compression-level", "1"]),
    ("artstore auto, level 3 (default)", []),
    ("artstore auto, level 6", ["--compression", "auto", "--compression-level", "6"]),
    ("artstore zstd, level 3", ["--compression", "zstd", "--compression-level", "3"]),
]
DEFAULT_VARIANT = "artstore auto, level 3 (default)"
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b", "GIT_CONFIG_GLOBAL": os.devnull}


def stage(release, data):
    """Make ``data`` hold exactly ``release`` (untimed)."""
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(release, data, symlinks=True)


def tree_bytes(path):
    return dir_size(path)


class Artstore:
    def __init__(self, base, label, init_args):
        self.name = label
        self.project = os.path.join(base, label.replace(" ", "_").replace(",", ""))
        os.makedirs(self.project)
        timed(ARTSTORE + ["init", "--workspace", "bench", *init_args], cwd=self.project)

    def add(self, path):
        return timed(ARTSTORE + ["add", "data", path], cwd=self.project)

    def stored(self):
        return dir_size(os.path.join(self.project, ".artstore"))


class Git:
    name = "git (loose objects)"

    def __init__(self, base):
        self.gitdir = os.path.join(base, "git-repo")
        timed(["git", "init", "-q", "--bare", self.gitdir])

    def add(self, path):
        env = {**GIT_ENV, "GIT_DIR": self.gitdir, "GIT_WORK_TREE": path}
        return timed(["sh", "-c", "git add -A . && git commit -q -m v"], cwd=path, env=env)

    def gc(self):
        return timed(["git", "gc", "-q"], env={**GIT_ENV, "GIT_DIR": self.gitdir})

    def stored(self):
        return dir_size(self.gitdir)


def series(kind, releases, base, repeats):
    """One row per tool: total add time over every release and the stored size."""
    data = os.path.join(base, "data")
    logical = sum(tree_bytes(r) for r in releases)
    tools = [Artstore(base, label, args) for label, args in VARIANTS]
    for cls, exe in ((Restic, shutil.which("restic")), (Borg, shutil.which("borg"))):
        if exe:
            home = os.path.join(base, cls.name)
            os.makedirs(home)
            tools.append(cls(home, exe, defaults=True))
    git = Git(base)
    tools.append(git)
    rows = []
    for tool in tools:
        seconds = 0.0
        for release in releases:
            stage(release, data)
            seconds += tool.add(data)[0]
        rows.append({"data": kind, "tool": tool.name, "versions": len(releases), "logical_mb": logical / 1e6,
                     "stored_mb": tool.stored() / 1e6, "add_s": seconds})
    gc_s = git.gc()[0]
    rows.append({"data": kind, "tool": "git gc (after the adds)", "versions": len(releases),
                 "logical_mb": logical / 1e6, "stored_mb": git.stored() / 1e6, "add_s": gc_s,
                 "note": "add_s: time of git gc alone"})
    restic = next((r for r in rows if r["tool"] == "restic"), None)
    for r in rows:
        if restic:
            r["stored_vs_restic"] = r["stored_mb"] / restic["stored_mb"]
            r["add_vs_restic"] = r["add_s"] / restic["add_s"]
    stores = {"default": next(t for t in tools if t.name == DEFAULT_VARIANT),
              "none": next(t for t in tools if t.name == "artstore none")}
    return rows, stores


def _best(repeats, fn):
    return min(fn() for _ in range(repeats))


def _download_s(project, ref, dest, repeats):
    def once():
        shutil.rmtree(dest, ignore_errors=True)
        return timed(ARTSTORE + ["download", ref, dest], cwd=project)[0]

    return _best(repeats, once)


def read_throughput(stores, releases, base, repeats):
    """download and verify --read-data with the default store and with ``none``, beside
    zstd -d / zstd -t of the same bytes as one tar compressed with zstd -3.

    Two shapes: the last text version (~2,000 files, mostly one chunk each: per-file work
    dominates) and one tar of every text release logged as a single file (long runs of
    compressed chunks: the decompression path itself)."""
    rows = []
    dest = os.path.join(base, "download")
    tar = os.path.join(base, "releases.tar")
    timed(["tar", "-cf", tar, "-C", os.path.dirname(releases[0]), "."])
    last_tar = os.path.join(base, "last.tar")
    timed(["tar", "-cf", last_tar, "-C", releases[-1], "."])
    zstd_rows = {}
    for label, path in (("last", last_tar), ("all", tar)):
        timed(["zstd", "-q", "-3", "-f", path, "-o", path + ".zst"])
        out = os.path.join(base, "zstd.out")
        decompress = ["zstd", "-q", "-d", "-f", path + ".zst", "-o", out]
        check = ["zstd", "-q", "-t", path + ".zst"]
        zstd_rows[label] = (os.path.getsize(path), _best(repeats, lambda c=decompress: timed(c)[0]),
                            _best(repeats, lambda c=check: timed(c)[0]))
        os.unlink(out)
    for label, store in stores.items():
        timed(ARTSTORE + ["add", "tar", tar], cwd=store.project)
        du = json.loads(timed(ARTSTORE + ["du", "--json"], cwd=store.project)[2])
        nbytes, zd_s, zt_s = zstd_rows["last"]
        seconds = _download_s(store.project, "data", dest, repeats)
        rows.append(_read_row(f"download last text version, {label}", seconds, tree_bytes(releases[-1]),
                              "zstd -d (its tar)", zd_s, nbytes))
        nbytes, zd_s, zt_s = zstd_rows["all"]
        seconds = _download_s(store.project, "tar", dest, repeats)
        rows.append(_read_row(f"download all text releases as one tar, {label}", seconds, nbytes,
                              "zstd -d (same tar)", zd_s, nbytes))
        seconds = _best(repeats, lambda s=store: timed(ARTSTORE + ["verify", "--read-data"], cwd=s.project)[0])
        rows.append(_read_row(f"verify --read-data, {label}", seconds, du["distinct_bytes"],
                              "zstd -t (the tar)", zt_s, nbytes,
                              note=f"{du['compressed_bytes'] / 1e6:.1f} MB stored for "
                                   f"{du['distinct_bytes'] / 1e6:.1f} MB of chunks"))
    return rows


def _read_row(what, seconds, nbytes, baseline, base_s, base_bytes, note=""):
    return {"scenario": what, "artstore_s": seconds, "mb": nbytes / 1e6, "artstore_mb_s": nbytes / seconds / 1e6,
            "baseline": baseline, "baseline_s": base_s, "baseline_mb_s": base_bytes / base_s / 1e6,
            "ratio": (base_bytes / base_s) / (nbytes / seconds), "note": note}


def random_add(base, size, repeats):
    """Add time of a random file to a fresh store, none vs the default, alternating."""
    src = os.path.join(base, "random.bin")
    make_random_file(src, size)
    times = {"none": [], "default (auto, 3)": []}
    for _ in range(repeats):
        for label, args in (("none", ["--compression", "none"]), ("default (auto, 3)", [])):
            project = os.path.join(base, "random-store")
            shutil.rmtree(project, ignore_errors=True)
            os.makedirs(project)
            timed(ARTSTORE + ["init", "--workspace", "bench", *args], cwd=project)
            times[label].append(timed(ARTSTORE + ["add", "big", src], cwd=project)[0])
    none_s = min(times["none"])
    auto_s = min(times["default (auto, 3)"])
    os.unlink(src)
    shutil.rmtree(os.path.join(base, "random-store"), ignore_errors=True)
    return [{"scenario": f"add {size / 2**30:.2f} GiB random, fresh store", "artstore_s": auto_s,
             "baseline": "same with --compression none", "baseline_s": none_s, "ratio": auto_s / none_s,
             "note": f"runs: none {' '.join(f'{t:.2f}' for t in times['none'])}, "
                     f"default {' '.join(f'{t:.2f}' for t in times['default (auto, 3)'])}"}]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/tmp/artstore-realdata", help="where realdata_fetch.py put the data")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: " + ",".join(KINDS))
    parser.add_argument("--random-size", type=int, default=1 << 30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "realdata.json"))
    args = parser.parse_args()
    series_rows, read_rows = [], []
    with tempfile.TemporaryDirectory(prefix="artstore-realdata-") as tmp:
        for kind in args.kinds.split(","):
            releases = fetch(args.data, kind)
            base = os.path.join(tmp, kind)
            os.makedirs(base)
            rows, stores = series(kind, releases, base, args.repeats)
            series_rows += rows
            if kind == "text":
                read_rows += read_throughput(stores, releases, base, args.repeats)
            shutil.rmtree(base)
        if args.random_size:
            read_rows += random_add(tmp, args.random_size, args.repeats)
    print_table(series_rows, ["data", "tool", "versions", "logical_mb", "stored_mb", "add_s",
                              "stored_vs_restic", "add_vs_restic", "note"])
    print()
    print_table(read_rows, ["scenario", "artstore_s", "mb", "artstore_mb_s", "baseline", "baseline_s",
                            "baseline_mb_s", "ratio", "note"])
    save_json(args.json, {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "peers": peer_versions(),
        "packages": {kind: f"{spec['package']} {', '.join(spec['versions'])}" for kind, spec in KINDS.items()},
        "series": series_rows,
        "reads": read_rows,
    })


if __name__ == "__main__":
    main()
