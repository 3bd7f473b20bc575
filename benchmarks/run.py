"""artstore benchmarks: every scenario against a baseline run on the same data, same run.

    python benchmarks/run.py            # full sizes (1 GiB file, 100,000 small files, 4 GiB RSS run)
    python benchmarks/run.py --quick    # a few seconds: keeps the harness working (the test suite runs it)

Prints a table (scenario, artstore seconds, baseline, baseline seconds, ratio, the issue's
target ratio and whether it is met, peak RSS of both) and writes it as JSON to
benchmarks/results/latest.json. Every scenario is measured against cp / raw BLAKE3 / git and
against each peer of ``--peers`` that is installed (restic, borg, dvc; see peers.py): a peer
that is missing has no row, and its versions are recorded in the JSON.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (  # noqa: E402
    ARTSTORE,
    best_of,
    edit_file,
    make_random_file,
    print_table,
    save_json,
    timed,
)
from peers import available_peers, peer_versions  # noqa: E402

B3_SCRIPT = (
    "import blake3, sys\n"
    "h = blake3.blake3(max_threads=1)\n"
    "f = open(sys.argv[1], 'rb', buffering=0)\n"
    "buf = bytearray(8 << 20)\n"
    "view = memoryview(buf)\n"
    "while True:\n"
    "    n = f.readinto(buf)\n"
    "    if not n: break\n"
    "    h.update(view[:n])\n"
    "print(h.hexdigest())\n"
)


def row(scenario, ours, baseline_name, baseline, rss=None, note="", target=None, baseline_rss=None, met=None):
    ratio = (ours / baseline) if baseline else None
    if met is None and ratio is not None and target is not None:
        met = ratio <= target
    return {
        "scenario": scenario,
        "artstore_s": ours,
        "baseline": baseline_name,
        "baseline_s": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
        "peak_rss_mb": rss,
        "baseline_rss_mb": baseline_rss,
        "note": note,
    }


def artstore(project, *args, env=None):
    return timed(ARTSTORE + list(args), cwd=project, env=env)


def stored(project):
    return json.loads(artstore(project, "du", "--json")[2])["stored_bytes"]


def make_peers(base, names, label):
    found = available_peers()
    peers = []
    for name in names:
        if name in found:
            home = os.path.join(base, f"{name}-{label}")
            os.makedirs(home)
            peers.append(found[name](home))
    return peers


def big_file_scenarios(base, size, repeats, peer_names):
    rows = []
    project = os.path.join(base, "big")
    os.makedirs(project)
    artstore(project, "init", "--workspace", "bench")
    src = os.path.join(project, "big.bin")
    make_random_file(src, size)
    peers = make_peers(base, peer_names, "big")
    copy = os.path.join(base, "cp-copy.bin")
    cp_s = best_of(repeats, lambda: timed(["sh", "-c", f"rm -f {copy} && cp {src} {copy}"]))[0]
    cp_sync_s = best_of(repeats, lambda: timed(["sh", "-c", f"rm -f {copy} && cp {src} {copy} && sync {copy}"]))[0]
    os.unlink(copy)
    b3_s = best_of(repeats, lambda: timed([sys.executable, "-c", B3_SCRIPT, src]))[0]
    mib = f"{size / 2**20:.0f} MiB"

    # 1. A new file.
    add_s, add_rss, _ = artstore(project, "add", "big", "big.bin")
    rows.append(row("1. add new file", add_s, "cp", cp_s, add_rss, mib, target=1.0))
    rows.append(row("1. add new file", add_s, "cp + fsync", cp_sync_s, add_rss,
                    "artstore fsyncs its packs; cp alone leaves dirty pages"))
    for peer in peers:
        s, rss, _ = peer.add(src)
        rows.append(row("1. add new file", add_s, peer.name, s, add_rss, baseline_rss=rss))

    # 2. The same file again: every tool should find it unchanged without reading it.
    old = time.time() - 3600  # past the racy window, as a file not just written would be
    os.utime(src, (old, old))
    artstore(project, "add", "big", "big.bin")  # records the stat-cache entry as non-racy
    readd_s, readd_rss, _ = best_of(repeats, lambda: artstore(project, "add", "big", "big.bin"))
    rows.append(row("2. re-add unchanged", readd_s, "raw blake3", b3_s, readd_rss, "stat cache: no content read"))
    for peer in peers:
        peer.add(src)  # sees the new mtime once, like artstore above
        s, rss, _ = best_of(repeats, lambda p=peer: p.add(src))
        rows.append(row("2. re-add unchanged", readd_s, peer.name, s, readd_rss, baseline_rss=rss,
                        target=0.5 if peer.name == "restic" else None))

    # 3. A small edit: the store should grow by little more than the edited bytes.
    before = stored(project)
    peer_before = {peer.name: peer.stored() for peer in peers}
    edit_file(src)
    edit_s, edit_rss, _ = artstore(project, "add", "big", "big.bin")
    growth = stored(project) - before
    rows.append(row("3. edit + re-add", edit_s, "raw blake3", b3_s, edit_rss,
                    f"store grew {growth / 2**20:.2f} MiB (target <= 2.5)"))
    for peer in peers:
        s, rss, _ = peer.add(src)
        peer_growth = peer.stored() - peer_before[peer.name]
        rows.append(row("3. edit + re-add", edit_s, peer.name, s, edit_rss, baseline_rss=rss,
                        target=0.5 if peer.name == "borg" else None,
                        note=f"{peer.name} grew {peer_growth / 2**20:.2f} MiB"))
    for peer in peers:
        if hasattr(peer, "forget"):
            peer.forget()

    dest = os.path.join(base, "download")
    dl_s, dl_rss, _ = best_of(repeats, lambda: _fresh_download(project, dest))
    rows.append(row("6. download", dl_s, "cp", cp_s, dl_rss, target=1.1))

    verify_s, verify_rss, _ = artstore(project, "verify", "--read-data")
    stored_now = stored(project)
    b3_scaled = b3_s * stored_now / size
    rows.append(row("7. verify --read-data", verify_s, "raw blake3 1 thread", b3_scaled, verify_rss,
                    f"{stored_now / 2**20:.0f} MiB stored", target=round(1 / 0.7, 2)))
    return rows


def _fresh_download(project, dest):
    import shutil

    shutil.rmtree(dest, ignore_errors=True)
    return artstore(project, "download", "big", dest)


def small_files_scenarios(base, count, repeats, peer_names):
    rows = []
    project = os.path.join(base, "small")
    tree = os.path.join(project, "tree")
    os.makedirs(tree)
    import random

    rng = random.Random(3)
    for i in range(count):
        d = os.path.join(tree, f"d{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(rng.randbytes(4096))
    old = time.time() - 3600
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            os.utime(os.path.join(dirpath, name), (old, old))
    peers = make_peers(base, peer_names, "small")
    artstore(project, "init", "--workspace", "bench")
    scenario = f"4. add {count} small files"
    add_s, add_rss, _ = artstore(project, "add", "small", "tree")
    gitdir = os.path.join(base, "gitrepo")
    timed(["git", "init", "-q", gitdir])
    env = {"GIT_DIR": os.path.join(gitdir, ".git"), "GIT_WORK_TREE": tree}
    git_s = timed(["git", "add", "-A", "."], cwd=tree, env=env)[0]
    rows.append(row(scenario, add_s, "git add", git_s, add_rss, "target: peak RSS <= 300 MB"))
    peer_add = {}
    for peer in peers:
        s, rss, _ = peer.add(tree)
        peer_add[peer.name] = s
        rows.append(row(scenario, add_s, peer.name, s, add_rss, baseline_rss=rss,
                        target=0.7 if peer.name == "restic" else None))

    scenario = f"5. re-add {count} unchanged"
    readd_s, readd_rss, _ = best_of(repeats, lambda: artstore(project, "add", "small", "tree"))
    status_s = best_of(repeats, lambda: timed(["git", "status", "--porcelain"], cwd=tree, env=env))[0]
    rows.append(row(scenario, readd_s, "git status", status_s, readd_rss, target=2.0))
    for peer in peers:
        s, rss, _ = peer.add(tree)
        rows.append(row(scenario, readd_s, peer.name, s, readd_rss, baseline_rss=rss))
    for peer in peers:
        if hasattr(peer, "forget"):
            peer.forget()
    return rows


def rss_scenario(base, size):
    project = os.path.join(base, "rss")
    os.makedirs(project)
    artstore(project, "init", "--workspace", "bench")
    src = os.path.join(project, "huge.bin")
    make_random_file(src, size)
    add_s, add_rss, _ = artstore(project, "add", "huge", "huge.bin")
    os.unlink(src)
    return [row(f"8. peak RSS adding {size / 2**30:.2f} GiB", add_s, None, None, add_rss, "target <= 150 MB",
                met=add_rss is not None and add_rss <= 150)]


def startup_scenarios(base, repeats):
    project = os.path.join(base, "startup")
    os.makedirs(project)
    artstore(project, "init", "--workspace", "bench")
    with open(os.path.join(project, "f"), "wb") as f:
        f.write(b"x")
    artstore(project, "add", "tiny", "f")
    py_s = best_of(repeats, lambda: timed([sys.executable, "-c", "pass"]))[0]
    version_s, rss, _ = best_of(repeats, lambda: artstore(project, "--version"))
    versions_s, rss2, _ = best_of(repeats, lambda: artstore(project, "versions", "tiny"))
    return [
        row("9. artstore --version", version_s, "python -c pass", py_s, rss, "target <= 150 ms",
            met=version_s <= 0.150),
        row("9. artstore versions NAME", versions_s, "python -c pass", py_s, rss2, "target <= 150 ms",
            met=versions_s <= 0.150),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every scenario")
    parser.add_argument("--size", type=int, help="bytes of the big file (default 1 GiB; quick 8 MiB)")
    parser.add_argument("--small-files", type=int, help="count of small files (default 100000; quick 200)")
    parser.add_argument("--rss-size", type=int, help="bytes of the RSS file (default 4 GiB; quick 16 MiB)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per baseline, best kept")
    parser.add_argument("--peers", default="restic,borg,dvc",
                        help="peer tools to compare with when installed (comma-separated; '' for none)")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "latest.json"))
    args = parser.parse_args()
    size = args.size or ((8 << 20) if args.quick else (1 << 30))
    small = args.small_files or (200 if args.quick else 100_000)
    rss_size = args.rss_size or ((16 << 20) if args.quick else (4 << 30))
    repeats = args.repeats or (1 if args.quick else 3)
    peer_names = [name for name in args.peers.split(",") if name]

    rows = []
    with tempfile.TemporaryDirectory(prefix="artstore-bench-") as base:
        rows += big_file_scenarios(base, size, repeats, peer_names)
        rows += small_files_scenarios(base, small, repeats, peer_names)
        rows += rss_scenario(base, rss_size)
        rows += startup_scenarios(base, repeats)
    print_table(rows, ["scenario", "artstore_s", "baseline", "baseline_s", "ratio", "target", "met",
                       "peak_rss_mb", "baseline_rss_mb", "note"])
    save_json(args.json, {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": args.quick,
        "peers": peer_versions(),
        "rows": rows,
    })


if __name__ == "__main__":
    main()
