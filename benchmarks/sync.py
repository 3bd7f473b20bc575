"""Benchmarks for remotes: push and pull through moto (S3) and file://, next to the raw
transfer of the same bytes with s3fs / a plain copy, run in the same script.

    python benchmarks/sync.py                 # 1 GiB file + 100,000 small files
    python benchmarks/sync.py --quick         # 8 MiB + 300 files: keeps the script working

Rows: push / pull of a big file and of many small files against uploading / downloading
the store's own packs as plain objects (the wire baseline: the same bytes, as few large
objects); the bytes a one-file edit of the small-file dataset sends; the bytes a pull of
one version out of ten moves; requests per push (counted by moto's request log).
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import make_random_file, print_table, save_json  # noqa: E402

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from artstore import Store  # noqa: E402
from artstore.ingest import InMemory, sources_for_path  # noqa: E402


def _row(scenario, ours, baseline_name, baseline, target=None, note=""):
    ratio = ours / baseline if baseline else None
    return {"scenario": scenario, "artstore_s": ours, "baseline": baseline_name, "baseline_s": baseline,
            "ratio": ratio, "target": target, "met": (ratio <= target) if (target and ratio is not None) else None,
            "note": note}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def small_tree(root, count, seed=5):
    rng = random.Random(seed)
    for i in range(count):
        d = os.path.join(root, f"d{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.csv"), "w") as f:
            f.write("\n".join(f"{rng.randint(0, 10**6)},{rng.random():.5f}" for _ in range(rng.randint(20, 200))))


def raw_upload(fs, pack_dir, prefix):
    """One put_file per pack, one after the other."""
    names = sorted(os.listdir(pack_dir))
    for n in names:
        fs.put_file(os.path.join(pack_dir, n), f"{prefix}/{n}")
    return sum(os.path.getsize(os.path.join(pack_dir, n)) for n in names)


def raw_upload_concurrent(fs, pack_dir, prefix):
    """s3fs's own batched put of every pack at once (its default concurrency)."""
    names = sorted(os.listdir(pack_dir))
    fs.put([os.path.join(pack_dir, n) for n in names], [f"{prefix}/{n}" for n in names])


def raw_download(fs, prefix, dest):
    os.makedirs(dest, exist_ok=True)
    paths = fs.ls(prefix, detail=False)
    fs.get(paths, [os.path.join(dest, p.rsplit("/", 1)[-1]) for p in paths])


class Requests:
    """Counts the requests moto's server logs (one werkzeug log record per request)."""

    def __init__(self):
        import logging

        self.n = 0
        outer = self

        class Counter(logging.Handler):
            def emit(self, record):
                outer.n += 1

        log = logging.getLogger("werkzeug")
        log.addHandler(Counter())
        log.setLevel(logging.INFO)
        log.propagate = False


REQUESTS = None


def counted(fn):
    before = REQUESTS.n if REQUESTS else 0
    t, out = timed(fn)
    return t, out, (REQUESTS.n - before) if REQUESTS else None


def scenario(base, label, make_store, remote_url, fs, fs_prefix, target):
    """push to and clone from ``remote_url`` vs raw transfer of the packs."""
    rows = []
    project = os.path.join(base, f"{label}-a")
    store = make_store(project)
    push_s, result, reqs = counted(lambda: store.push(remote_url))
    pack_dir = store.pack_dir
    note = (f"{result['bytes_sent'] / 2**20:.1f} MiB sent in {result['packs']} pack(s)"
            + (f", {reqs} requests" if reqs is not None else ""))
    if fs is not None:
        raw_seq, nbytes = timed(lambda: raw_upload(fs, pack_dir, fs_prefix + "-seq"))
        raw_up, _ = timed(lambda: raw_upload_concurrent(fs, pack_dir, fs_prefix))
        raw_down, _ = timed(lambda: raw_download(fs, fs_prefix, os.path.join(base, f"{label}-raw")))
        rows.append(_row(f"push {label}", push_s, "s3fs put of the packs (batched)", raw_up, target,
                         note + f"; one put_file at a time: {raw_seq:.2f} s"))
    else:
        target_dir = os.path.join(base, f"{label}-rawcopy")
        raw_up, _ = timed(lambda: shutil.copytree(pack_dir, target_dir))
        nbytes = sum(os.path.getsize(os.path.join(target_dir, n)) for n in os.listdir(target_dir))
        raw_down, _ = timed(lambda: shutil.copytree(target_dir, target_dir + "-back"))
        rows.append(_row(f"push {label}", push_s, "copy of the packs", raw_up, target,
                         note + f"; raw {nbytes / 2**20:.1f} MiB"))
    clone_s, clone, reqs = counted(lambda: Store.clone(remote_url, os.path.join(base, f"{label}-b")))
    rows.append(_row(f"clone {label}", clone_s, "raw download of the packs", raw_down, None,
                     f"{len(clone.catalog.version_roots())} version(s)"
                     + (f", {reqs} requests" if reqs is not None else "")))
    clone.close()
    lazy_s, lazy, reqs = counted(lambda: Store.clone(remote_url, os.path.join(base, f"{label}-lazy"), lazy=True))
    rows.append(_row(f"clone --lazy {label}", lazy_s, None, None, None,
                     "metadata only" + (f", {reqs} requests" if reqs is not None else "")))
    lazy.close()
    store.close()
    return rows, project


def dvc_rows(dvc, base, label, data, url, endpoint):
    """dvc push / pull of the same data to the same bucket (dvc add is not timed)."""
    import subprocess

    work = os.path.join(base, f"dvc-{label}")
    os.makedirs(work)
    env = dict(os.environ)

    def run(*args):
        subprocess.run([dvc, *args], cwd=work, env=env, check=True, capture_output=True)

    target = os.path.join(work, "data")
    if os.path.isdir(data):
        shutil.copytree(data, target)
    else:
        shutil.copyfile(data, target)
    run("init", "--no-scm", "-q")
    run("remote", "add", "-d", "bench", url)
    if endpoint:
        run("remote", "modify", "bench", "endpointurl", endpoint)
    run("add", "-q", "data")
    push_s, _ = timed(lambda: run("push", "-q"))
    shutil.rmtree(os.path.join(work, ".dvc", "cache"))
    shutil.rmtree(target) if os.path.isdir(target) else os.unlink(target)
    pull_s, _ = timed(lambda: run("pull", "-q"))
    return push_s, pull_s


def restic_rows(restic, base, label, data, repo_url):
    """restic backup / restore of the same data to a repository on the same S3 server
    (the issue: "restic backup to an S3 repository on the same moto when it works").
    Returns (backup seconds, restore seconds), or (None, why) when restic fails there."""
    import subprocess

    cache = os.path.join(base, f"restic-cache-{label}")
    env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_CACHE_DIR=cache)

    def run(*args):
        subprocess.run([restic, "-r", repo_url, *args], env=env, check=True, capture_output=True, text=True)

    target = os.path.join(base, f"restic-restore-{label}")
    try:
        run("init")
        backup_s, _ = timed(lambda: run("backup", "-q", data))
        restore_s, _ = timed(lambda: run("restore", "latest", "--target", target))
    except subprocess.CalledProcessError as exc:
        return None, (exc.stderr or "").strip().splitlines()[-1:] or ["failed"]
    finally:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return backup_s, restore_s


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int)
    parser.add_argument("--small-files", type=int)
    parser.add_argument("--base", default="/work" if os.path.isdir("/work") else None)
    parser.add_argument("--backends", default="file,s3")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "sync.json"))
    parser.add_argument("--dvc", help="a dvc executable (with dvc-s3): also time dvc push / pull on s3")
    parser.add_argument("--restic", help="a restic executable: also time restic backup / restore to s3")
    args = parser.parse_args()
    size = args.size or ((8 << 20) if args.quick else (1 << 30))
    count = args.small_files or (300 if args.quick else 100_000)
    rows = []
    server = None
    with tempfile.TemporaryDirectory(prefix="artstore-sync-", dir=args.base) as base:
        big = os.path.join(base, "big.bin")
        make_random_file(big, size)
        tree = os.path.join(base, "tree")
        small_tree(tree, count)

        def big_store(project):
            Store.init(project, workspace="bench")
            s = Store.open(project)
            s.log("big", sources_for_path(big)[0])
            return s

        def small_store(project):
            Store.init(project, workspace="bench")
            s = Store.open(project)
            s.log("small", sources_for_path(tree)[0])
            return s

        for backend in args.backends.split(","):
            fs, url_of, prefix_of = None, None, None
            if backend == "s3":
                from moto.server import ThreadedMotoServer

                global REQUESTS
                REQUESTS = REQUESTS or Requests()
                server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
                server.start()
                host, port = server.get_host_and_port()
                os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"})
                import s3fs

                fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": f"http://{host}:{port}"},
                                       skip_instance_cache=True)

                def bucket_of(label, fs=fs):
                    # A bucket per scenario: moto lists in time proportional to a bucket's
                    # keys (and once answered 500 to a listing in a bucket shared by them all).
                    name = "b-" + label.lower().replace("_", "-").replace(".", "-")[:50]
                    if not fs.exists(name):
                        fs.mkdir(name)
                    return name

                def url_of(label):
                    return f"s3://{bucket_of(label)}/store"

                def prefix_of(label):
                    return f"{bucket_of(label)}/raw"
            else:
                REQUESTS = None  # only moto's server counts requests

                def url_of(label):
                    return f"file://{base}/remote-{label}"

                def prefix_of(label):
                    return None
            # The targets are for its sizes (a 1 GiB file, 100,000 small files): a
            # smaller run's fixed cost of a push (the client, format, refs: about 0.25 s)
            # is a share of the ratio those targets were not set for.
            for label, make, target, data in (
                    (f"{size / 2**30:.2f} GiB file", big_store, 1.3 if size >= 2**30 else None, big),
                    (f"{count} small files", small_store, 2.0 if count >= 100_000 else None, tree)):
                tag = f"{backend}:{label}"
                r, project = scenario(base, tag.replace(" ", "_").replace(":", "_"), make,
                                      url_of(tag.replace(" ", "_").replace(":", "_")), fs,
                                      prefix_of(tag.replace(" ", "_").replace(":", "_")), target)
                rows += [dict(x, scenario=f"[{backend}] {x['scenario']}") for x in r]
                print(json.dumps(rows[-3:]), flush=True)
                save_json(args.json, {"date": time.strftime("%Y-%m-%d %H:%M"), "partial": True, "rows": rows})
                if backend == "s3" and args.dvc:
                    ours = r[0]["artstore_s"]
                    tag_ = tag.replace(" ", "_").replace(":", "_")
                    push_s, pull_s = dvc_rows(args.dvc, base, tag_, data, f"s3://{bucket_of('dvc-' + tag_)}/dvc",
                                              os.environ["AWS_ENDPOINT_URL"])
                    rows.append(_row(f"[{backend}] push {label}", ours, "dvc push", push_s,
                                     0.1 if "small" in label else None))
                    rows.append(_row(f"[{backend}] clone {label}", r[1]["artstore_s"], "dvc pull", pull_s, None))
                    print(json.dumps(rows[-2:]), flush=True)
                if backend == "s3" and args.restic:
                    tag_ = tag.replace(" ", "_").replace(":", "_")
                    endpoint = os.environ["AWS_ENDPOINT_URL"]
                    backup_s, restore_s = restic_rows(args.restic, base, tag_, data,
                                                      f"s3:{endpoint}/{bucket_of('restic-' + tag_)}/restic")
                    if backup_s is None:
                        rows.append(_row(f"[{backend}] push {label}", r[0]["artstore_s"], "restic backup", None,
                                         note=f"restic failed on moto: {restore_s[0]}"))
                    else:
                        rows.append(_row(f"[{backend}] push {label}", r[0]["artstore_s"], "restic backup", backup_s,
                                         note="restic reads, chunks and hashes the files; artstore push sends "
                                         "chunks already stored"))
                        rows.append(_row(f"[{backend}] clone {label}", r[1]["artstore_s"], "restic restore",
                                         restore_s))
                    print(json.dumps(rows[-2:]), flush=True)
                if make is small_store:
                    # One changed file of the dataset: what the next push sends.
                    victim = os.path.join(tree, "d000", "f000007.csv")
                    with open(victim, "a") as f:
                        f.write("\n1,2")
                    with Store.open(project) as s:
                        s.log("small", sources_for_path(tree)[0])
                        url = url_of(tag.replace(" ", "_").replace(":", "_"))
                        edit_s, res = timed(lambda s=s, url=url: s.push(url))
                    rows.append(_row(f"[{backend}] push after a one-file edit of {count}", edit_s, None, None, None,
                                     f"{res['bytes_sent']} bytes sent (target <= 1 MiB), {res['packs']} pack(s), "
                                     f"{res['nodes']} node(s)"))
            # One version of ten: a pull moves only its chunks.
            label = "ten-versions"
            proj = os.path.join(base, f"{backend}-{label}")
            Store.init(proj, workspace="bench")
            with Store.open(proj) as s:
                for i in range(10):
                    s.log("ten", [InMemory(random.Random(i).randbytes(max(size // 10, 1 << 16)), "f")])
                s.push(url_of(label))
            Store.init(proj + "-b", workspace="bench")
            with Store.open(proj + "-b") as b:
                url = url_of(label)
                pull_s, res = timed(lambda b=b, url=url: b.pull(url, ["ten:5.0.0"]))
            rows.append(_row(f"[{backend}] pull 1 version of 10", pull_s, None, None, None,
                             f"{res['bytes_received']} bytes received of {10 * max(size // 10, 1 << 16)} pushed"))
            if server is not None:
                server.stop()
                server = None
    print_table(rows, ["scenario", "artstore_s", "baseline", "baseline_s", "ratio", "target", "met", "note"])
    save_json(args.json, {"date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "rows": rows})
    json.dumps(rows)


if __name__ == "__main__":
    main()
