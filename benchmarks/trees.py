"""Issue 11's numbers (tree manifests): what a version costs in catalog bytes and seconds.

    python benchmarks/trees.py                 # full sizes: 100,000 files, 1,000 versions
    python benchmarks/trees.py --million       # also scenario E: 1,000,000 tiny files
    python benchmarks/trees.py --quick --peers ""   # seconds: keeps the script working (tests)

Scenarios (each row: artstore figure, baseline figure, ratio, target, met):

A. catalog growth for ONE changed file (a line appended) in a 100k-file version, for
   (a) 100 folders x 1,000 files and (b) one flat folder of 100k files: bytes added to
   catalog.db, measured after ``PRAGMA wal_checkpoint(TRUNCATE)`` before and after the
   command (target <= 64 KiB); beside restic's repository growth and git's .git growth for
   the same edit.
B. time of that re-add (target <= 0.5x restic).
C. re-add of 100k unchanged files (target <= 0.4x restic; also against ``git status``).
D. add of 100k new text-like files of mixed sizes (0.5-5 KB, nested folders) (target
   <= 0.7x restic).
E. (``--million`` only) add and re-add of 1,000,000 tiny files: peak RSS <= 500 MB, times
   against restic.
F. 1,000 versions of a 10k-file dataset, one file changed each (logged through the Python
   API in one subprocess): catalog <= 100 MB; CLI ``versions``, ``show`` and ``diff`` of
   two of them each < 0.3 s.

The data lives under ``--base`` (default: a temporary folder under /work/benchtmp or /work
when they exist: file creation in /tmp can be much slower) and is removed afterwards.
Writes the rows as JSON to benchmarks/results/trees.json.
"""

import argparse
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ARTSTORE, best_of, print_table, save_json, timed  # noqa: E402
from peers import available_peers, dir_size, peer_versions  # noqa: E402

KIB = 1024
MB = 1_000_000
COLUMNS = ["scenario", "artstore", "baseline", "baseline_value", "ratio", "target", "met", "unit",
           "peak_rss_mb", "baseline_rss_mb", "note"]


def row(scenario, ours, baseline_name, baseline, unit, *, target=None, target_on="ratio", rss=None,
        baseline_rss=None, note="", met=None):
    """One result. ``target_on`` says what the target bounds: the ratio to the baseline, or
    the artstore figure itself ("value")."""
    ratio = (ours / baseline) if (baseline and ours is not None) else None
    if met is None and target is not None:
        checked = ratio if target_on == "ratio" else ours
        met = None if checked is None else checked <= target
    shown = None
    if target is not None:
        shown = f"ratio <= {target}" if target_on == "ratio" else f"<= {_human(target, unit)}"
    return {
        "scenario": scenario,
        "artstore": ours,
        "baseline": baseline_name,
        "baseline_value": baseline,
        "ratio": ratio,
        "target": shown,
        "target_value": target,
        "target_on": target_on if target is not None else None,
        "met": met,
        "unit": unit,
        "peak_rss_mb": rss,
        "baseline_rss_mb": baseline_rss,
        "note": note,
    }


def _human(value, unit):
    if unit == "bytes":
        if value >= MB:
            return f"{value / MB:.0f} MB"
        return f"{value / KIB:.0f} KiB"
    if unit == "s":
        return f"{value} s"
    return str(value)


# -- data ----------------------------------------------------------------------------------

WORDS = ("alpha beta gamma delta train test val cat dog bird car tree house river cloud stone "
         "red green blue small large fast slow north south east west image label score mean").split()


def line_pool(rng, n=20_000):
    """CSV-ish text lines: ids, words, floats, ints (what a tabular/text dataset holds)."""
    pool = []
    for i in range(n):
        pool.append(
            f"{i},{rng.choice(WORDS)},{rng.choice(WORDS)}_{rng.randrange(1000)},"
            f"{rng.uniform(-1000, 1000):.6f},{rng.random():.8f},{rng.randrange(10**6)},"
            f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}\n"
        )
    return pool


def text_file_bytes(rng, pool, index, low=512, high=5120):
    """A unique text file of low..high bytes (its header names it, so no two are equal)."""
    size = rng.randint(low, high)
    header = f"# file {index} seed {rng.getrandbits(64):016x}\nid,word,token,x,p,n,text\n"
    parts = [header]
    total = len(header)
    while total < size:
        chunk = rng.choices(pool, k=max(1, (size - total) // 60 + 1))
        for line in chunk:
            parts.append(line)
            total += len(line)
            if total >= size:
                break
    return "".join(parts).encode()[:size]


def make_tree(root, count, layout, seed, low=512, high=5120):
    """``count`` text files under ``root``: layout "nested" (g0..g9/d0..d9/, so 100 leaf
    folders of count/100 files) or "flat" (one folder). Returns (files, bytes)."""
    rng = random.Random(seed)
    pool = line_pool(rng)
    total = 0
    per_dir = max(1, count // 100)
    made = set()
    for i in range(count):
        if layout == "flat":
            d = root
        else:
            leaf = min(i // per_dir, 99)
            d = os.path.join(root, f"g{leaf // 10}", f"d{leaf % 10}")
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        data = text_file_bytes(rng, pool, i, low, high)
        with open(os.path.join(d, f"part-{i:07d}.csv"), "wb") as f:
            f.write(data)
        total += len(data)
    age_tree(root)
    return count, total


def make_tiny_tree(root, count, seed):
    """``count`` tiny files (10-100 bytes) in folders of 1,000."""
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        d = os.path.join(root, f"d{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        data = f"{i},{rng.choice(WORDS)},{rng.random():.6f}\n".encode() * rng.randint(1, 3)
        with open(os.path.join(d, f"t{i:07d}.txt"), "wb") as f:
            f.write(data)
        total += len(data)
    age_tree(root)
    return count, total


def age_tree(root):
    """Set every mtime an hour back: past the racy window, as data not just written is."""
    old = time.time() - 3600
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(dirpath, name), (old, old))


def all_files(root):
    out = []
    for dirpath, _dirs, files in os.walk(root):
        out.extend(os.path.join(dirpath, n) for n in files)
    out.sort()
    return out


def append_line(path, n):
    with open(path, "ab") as f:
        f.write(f"{n},edited,appended_{n},0.5,0.25,{n},one more line\n".encode())


# -- measuring ----------------------------------------------------------------------------

def artstore(project, *args):
    return timed(ARTSTORE + list(args), cwd=project)


def catalog_path(project):
    return os.path.join(project, ".artstore", "catalog.db")


def checkpointed_size(project):
    """Size of catalog.db after folding the WAL into it (the fair figure: what stays)."""
    db = catalog_path(project)
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return os.path.getsize(db), free * page


def payload_by_table(project):
    """{table or index: bytes of cell payload} from SQLite's dbstat (None if not compiled in)."""
    conn = sqlite3.connect(catalog_path(project))
    try:
        return dict(conn.execute("SELECT name, SUM(payload) FROM dbstat GROUP BY name").fetchall())
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def payload_delta(before, after):
    """Total payload bytes added and the tables/indexes that grew most, as text."""
    if before is None or after is None:
        return "dbstat unavailable"
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    top = sorted(((v, k) for k, v in delta.items() if v), reverse=True)[:4]
    return f"payload +{sum(delta.values())} B (" + ", ".join(f"{k} {v:+d}" for v, k in top) + ")"


def raw_size(project):
    """catalog.db + catalog.db-wal as the command left them."""
    db = catalog_path(project)
    wal = db + "-wal"
    return os.path.getsize(db) + (os.path.getsize(wal) if os.path.exists(wal) else 0)


class Git:
    """A git repository (GIT_DIR outside the data) over the same files."""

    def __init__(self, base, tree):
        os.makedirs(base)
        timed(["git", "init", "-q", base])
        self.dir = os.path.join(base, ".git")
        self.tree = tree
        self.env = {"GIT_DIR": self.dir, "GIT_WORK_TREE": tree, "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
        # No automatic gc: it would pack the 100k loose objects in the middle of an edit's
        # commit, and the .git growth would measure the repack, not the edit.
        timed(["git", "config", "gc.auto", "0"], env=self.env)

    def commit(self, message):
        """Seconds of ``git add -A`` + ``git commit``."""
        a = timed(["git", "add", "-A", "."], cwd=self.tree, env=self.env)[0]
        c = timed(["git", "commit", "-q", "--no-verify", "-m", message], cwd=self.tree, env=self.env)[0]
        return a + c

    def status(self):
        return timed(["git", "status", "--porcelain"], cwd=self.tree, env=self.env)

    def size(self):
        return dir_size(self.dir)


def make_restic(base, label, peer_names):
    if "restic" not in peer_names:
        return None
    factory = available_peers().get("restic")
    if factory is None:
        return None
    home = os.path.join(base, f"restic-{label}")
    os.makedirs(home)
    return factory(home)


def like_for_like_add_rows(base, tree, scen, add_s, restic_off_s, layout, peer_names):
    """D with the two tools at the same compression setting: both compressing at their
    defaults (artstore zstd auto, restic auto), and both storing raw bytes."""
    factory = available_peers().get("restic") if "restic" in peer_names else None
    if factory is None:
        return []
    home = os.path.join(base, f"restic-defaults-{layout}")
    os.makedirs(home)
    restic_auto = factory(home, defaults=True).add(tree)
    raw = os.path.join(base, f"proj-raw-{layout}")
    os.makedirs(raw)
    artstore(raw, "init", "--workspace", "bench", "--compression", "none")
    raw_s, raw_rss, _ = artstore(raw, "add", "ds", tree)
    shutil.rmtree(home)
    shutil.rmtree(raw)
    return [
        row(scen + ", both compressing", add_s, "restic (auto)", restic_auto[0], "s", target=0.7,
            baseline_rss=restic_auto[1], note="artstore zstd auto (default) vs restic's default auto"),
        row(scen + ", neither compressing", raw_s, "restic (off)", restic_off_s, "s", target=0.7, rss=raw_rss,
            note="artstore --compression none vs restic --compression off (the same restic run as above)"),
    ]


# -- scenarios ----------------------------------------------------------------------------

def dataset_scenarios(base, count, layout, label, edits, repeats, peer_names, with_add_rows):
    """Build one 100k-file dataset; rows for its add (D), re-add (C) and one-file edits (A, B)."""
    rows = []
    project = os.path.join(base, f"proj-{layout}")
    tree = os.path.join(project, "data")
    os.makedirs(tree)
    t0 = time.perf_counter()
    files, total = make_tree(tree, count, layout, seed=11 if layout == "nested" else 12)
    gen_s = time.perf_counter() - t0
    shape = f"100 folders (g0-9/d0-9) x {count // 100} files" if layout == "nested" else "one flat folder"
    data_note = f"{files} files, {total / MB:.1f} MB ({shape}, 0.5-5 KB text; generated in {gen_s:.0f} s)"
    print(f"[{label}] {data_note}", flush=True)
    artstore(project, "init", "--workspace", "bench")
    restic = make_restic(base, layout, peer_names)
    git = Git(os.path.join(base, f"git-{layout}"), tree)

    # D. Add of new files.
    add_s, add_rss, _ = artstore(project, "add", "ds", "data")
    cat_first, _ = checkpointed_size(project)
    restic_add = restic.add(tree) if restic else (None, None, None)
    git_add_s = git.commit("v1")
    if with_add_rows:
        scen = f"D. add {count} new files ({layout})"
        rows.append(row(scen, add_s, "restic", restic_add[0], "s", target=0.7, rss=add_rss,
                        baseline_rss=restic_add[1],
                        note=f"{data_note}; catalog {cat_first / MB:.1f} MB; artstore compresses (its "
                        "default, zstd auto), restic does not (--compression off)"))
        rows.append(row(scen, add_s, "git add+commit", git_add_s, "s", rss=add_rss))
        rows += like_for_like_add_rows(base, tree, scen, add_s, restic_add[0], layout, peer_names)
    print(f"[{label}] add: artstore {add_s:.2f}s restic {restic_add[0]} git {git_add_s:.2f}s", flush=True)

    # C. Re-add of unchanged files (each tool has seen the files once already).
    if with_add_rows:
        scen = f"C. re-add {count} unchanged ({layout})"
        before, _ = checkpointed_size(project)
        readd_s, readd_rss, _ = best_of(repeats, lambda: artstore(project, "add", "ds", "data"))
        after, _ = checkpointed_size(project)
        note = f"best of {repeats}; catalog +{(after - before) / repeats:.0f} B per re-add"
        s = None
        if restic:
            s, rss, _ = best_of(repeats, lambda: restic.add(tree))
            rows.append(row(scen, readd_s, "restic", s, "s", target=0.4, rss=readd_rss, baseline_rss=rss,
                            note=note))
        else:
            rows.append(row(scen, readd_s, "restic", None, "s", target=0.4, rss=readd_rss, note=note))
        status_s, status_rss, _ = best_of(repeats, git.status)
        rows.append(row(scen, readd_s, "git status", status_s, "s", rss=readd_rss, baseline_rss=status_rss))
        print(f"[{label}] re-add: artstore {readd_s:.2f}s restic {s} git status {status_s:.2f}s", flush=True)

    # A and B. One file changed: a line appended.
    targets = all_files(tree)
    payloads = []
    growth, raw_growth, free_used, times, restic_growth, restic_times, git_growth, git_times, store_growth = \
        [], [], [], [], [], [], [], [], []
    for k in range(edits):
        victim = targets[(len(targets) // 2 + k * 7919) % len(targets)]
        db_before, free_before = checkpointed_size(project)
        payload_before = payload_by_table(project)
        store_before = dir_size(os.path.join(project, ".artstore"))
        restic_before = restic.stored() if restic else None
        git_before = git.size()
        append_line(victim, k)
        s, rss, _ = artstore(project, "add", "ds", "data")
        raw_after = raw_size(project)
        db_after, free_after = checkpointed_size(project)
        times.append(s)
        growth.append(db_after - db_before)
        payloads.append(payload_delta(payload_before, payload_by_table(project)))
        raw_growth.append(raw_after - db_before)
        free_used.append(free_before - free_after)
        store_growth.append(dir_size(os.path.join(project, ".artstore")) - store_before)
        if restic:
            rs = restic.add(tree)[0]
            restic_times.append(rs)
            restic_growth.append(restic.stored() - restic_before)
        git_times.append(git.commit(f"edit {k}"))
        git_growth.append(git.size() - git_before)
        print(f"[{label}] edit {k}: artstore {s:.2f}s +{growth[-1]} B (raw db+wal +{raw_growth[-1]}, "
              f"free pages reused {free_used[-1]} B; {payloads[-1]}); restic {restic_times[-1] if restic else '-'}s "
              f"+{restic_growth[-1] if restic else '-'} B; git {git_times[-1]:.2f}s +{git_growth[-1]} B",
              flush=True)

    scen = f"A. catalog growth, 1 file changed of {count} ({layout})"
    worst = max(growth)
    note = (f"bytes added to catalog.db after wal_checkpoint(TRUNCATE), worst of {edits} edits: {growth}; "
            f"db+wal right after the command: {raw_growth}; freelist bytes reused: {free_used}; "
            f"whole .artstore grew {store_growth}; {payloads[growth.index(worst)]}")
    rows.append(row(scen, worst, "restic", max(restic_growth) if restic_growth else None, "bytes",
                    target=64 * KIB, target_on="value",
                    note=note + (f"; restic repo grew {restic_growth}" if restic else "")))
    rows.append(row(scen, worst, "git", max(git_growth), "bytes", target=64 * KIB, target_on="value",
                    note=f".git grew {git_growth} (loose objects + index)"))
    scen = f"B. re-add, 1 file changed of {count} ({layout})"
    rows.append(row(scen, min(times), "restic", min(restic_times) if restic_times else None, "s", target=0.5,
                    rss=rss, note=f"best of {edits}: artstore {_list(times)}; restic {_list(restic_times)}"))
    rows.append(row(scen, min(times), "git add+commit", min(git_times), "s",
                    note=f"git {_list(git_times)}"))
    shutil.rmtree(project)
    shutil.rmtree(os.path.join(base, f"git-{layout}"))
    if restic:
        shutil.rmtree(os.path.join(base, f"restic-{layout}"))
    return rows


def _list(values):
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def million_scenario(base, count, repeats, peer_names):
    rows = []
    project = os.path.join(base, "proj-million")
    tree = os.path.join(project, "data")
    os.makedirs(tree)
    t0 = time.perf_counter()
    files, total = make_tiny_tree(tree, count, seed=13)
    gen_s = time.perf_counter() - t0
    note = f"{files} files, {total / MB:.1f} MB (10-100 B each, folders of 1,000; generated in {gen_s:.0f} s)"
    print(f"[E] {note}", flush=True)
    artstore(project, "init", "--workspace", "bench")
    restic = make_restic(base, "million", peer_names)
    add_s, add_rss, _ = artstore(project, "add", "tiny", "data")
    radd = restic.add(tree) if restic else (None, None, None)
    scen = f"E. add {count} tiny files"
    rows.append(row(scen, add_s, "restic", radd[0], "s", rss=add_rss, baseline_rss=radd[1], note=note))
    rows.append(row(scen + ": peak RSS", add_rss, None, None, "MB", target=500, target_on="value"))
    readd_s, readd_rss, _ = best_of(repeats, lambda: artstore(project, "add", "tiny", "data"))
    rreadd = best_of(repeats, lambda: restic.add(tree)) if restic else (None, None, None)
    scen = f"E. re-add {count} tiny files unchanged"
    rows.append(row(scen, readd_s, "restic", rreadd[0], "s", rss=readd_rss, baseline_rss=rreadd[1],
                    note=f"best of {repeats}"))
    rows.append(row(scen + ": peak RSS", readd_rss, None, None, "MB", target=500, target_on="value"))
    print(f"[E] add {add_s:.1f}s ({add_rss:.0f} MB) re-add {readd_s:.1f}s ({readd_rss:.0f} MB); "
          f"restic {radd[0]} / {rreadd[0]}", flush=True)
    shutil.rmtree(project)
    if restic:
        shutil.rmtree(os.path.join(base, "restic-million"))
    return rows


# Logs ``versions`` versions of the dataset through the Python API, one file appended to
# before each version after the first; prints seconds per version at a few milestones.
_HISTORY_SCRIPT = """
import os, sys, time
from artstore.store import Store
from artstore.ingest import sources_for_path
project, tree, versions = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(os.path.join(d, n) for d, _s, ns in os.walk(tree) for n in ns)
store = Store.open(project)
start = time.perf_counter()
last = start
for v in range(versions):
    if v:
        victim = files[(v * 7919) % len(files)]
        with open(victim, "ab") as f:
            f.write(("%d,edited,history,%d\\n" % (v, v)).encode())
    sources, _skipped = sources_for_path(tree)
    store.log("hist", sources)
    if (v + 1) % max(1, versions // 10) == 0 or v + 1 == versions:
        now = time.perf_counter()
        batch = (now - last) / max(1, versions // 10)
        print("%d versions, %.1f s, last batch %.3f s/version" % (v + 1, now - start, batch), flush=True)
        last = now
store.close()
"""


def history_scenario(base, count, versions, repeats):
    rows = []
    project = os.path.join(base, "proj-history")
    tree = os.path.join(project, "data")
    os.makedirs(tree)
    files, total = make_tree(tree, count, "nested", seed=14)
    artstore(project, "init", "--workspace", "bench")
    # cwd=project: "python -c" puts the cwd first on sys.path, ahead of PYTHONPATH.
    log_s, log_rss, out = timed([sys.executable, "-c", _HISTORY_SCRIPT, project, tree, str(versions)], cwd=project)
    print(out.decode(), end="", flush=True)
    size, _free = checkpointed_size(project)
    per = log_s / versions
    note = (f"{versions} versions of {files} files ({total / MB:.1f} MB, 100 folders), one file appended to "
            f"per version; logged via the API in {log_s:.0f} s ({per:.3f} s/version, peak RSS {log_rss:.0f} MB)")
    print(f"[F] {note}; catalog {size / MB:.2f} MB", flush=True)
    rows.append(row(f"F. catalog after {versions} versions of {count} files", size, None, None, "bytes",
                    target=100 * MB, target_on="value", note=note))
    mid = max(2, versions // 2)
    py_s = best_of(repeats, lambda: timed([sys.executable, "-c", "pass"]))[0]
    a, b = f"hist:{mid - 1}.0.0", f"hist:{mid}.0.0"
    for label, args in (("versions hist", ["versions", "hist"]), (f"show {b}", ["show", b]),
                        (f"diff {a} {b}", ["diff", a, b])):
        s, rss, out = best_of(repeats, lambda cmd=args: artstore(project, *cmd))
        rows.append(row(f"F. artstore {label} ({versions} versions)", s, "python -c pass", py_s, "s",
                        target=0.3, target_on="value", rss=rss,
                        note=f"best of {repeats}; {len(out.splitlines())} lines of output"))
    shutil.rmtree(project)
    return rows


def artstore_source():
    """Where the measured artstore was imported from, its commit and whether it had local changes."""
    import subprocess

    try:
        where = subprocess.run([sys.executable, "-c", "import artstore, os; print(os.path.dirname(artstore.__file__))"],
                               capture_output=True, text=True, timeout=60, cwd="/").stdout.strip()
        head = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{where} at {head or '?'}" + (" with uncommitted changes" if dirty else "")


def default_base():
    for candidate in ("/work/benchtmp", "/work"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every scenario")
    parser.add_argument("--files", type=int, help="files per dataset in A-D (default 100000; quick 300)")
    parser.add_argument("--edits", type=int, help="one-file edits measured in A/B (default 3; quick 1)")
    parser.add_argument("--million", action="store_true", help="run scenario E (1,000,000 tiny files)")
    parser.add_argument("--tiny-files", type=int, help="files in scenario E (default 1000000)")
    parser.add_argument("--history-files", type=int, help="files of F's dataset (default 10000; quick 200)")
    parser.add_argument("--versions", type=int, help="versions logged in F (default 1000; quick 20)")
    parser.add_argument("--repeats", type=int, help="runs per timing, best kept (default 3; quick 1)")
    parser.add_argument("--only", default="ABCDEF", help="scenario letters to run (default all; E needs --million)")
    parser.add_argument("--peers", default="restic", help="peers to compare with ('' for none; restic used)")
    parser.add_argument("--base", default=None, help="folder for the data (default: a temp dir under "
                        "/work/benchtmp or /work if present, else the system's temp dir)")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "trees.json"))
    args = parser.parse_args()
    quick = args.quick
    count = args.files or (300 if quick else 100_000)
    edits = args.edits or (1 if quick else 3)
    repeats = args.repeats or (1 if quick else 3)
    hist_files = args.history_files or (200 if quick else 10_000)
    versions = args.versions or (20 if quick else 1000)
    tiny = args.tiny_files or 1_000_000
    peer_names = [name for name in args.peers.split(",") if name]
    only = set(args.only.upper())

    rows = []
    started = time.time()
    source = artstore_source()
    print(f"artstore from {source}", flush=True)
    base_parent = args.base or default_base()
    if base_parent:
        os.makedirs(base_parent, exist_ok=True)
    def save(complete):
        save_json(args.json, {
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "seconds": round(time.time() - started),
            "quick": quick,
            "complete": complete,
            "artstore": source,
            "peers": peer_versions(),
            "rows": [r for r in rows if r["scenario"][0] in only],
        })

    with tempfile.TemporaryDirectory(prefix="artstore-trees-", dir=base_parent) as base:
        # The JSON is written after each group, so a failure later keeps what was measured.
        if only & set("ABCD"):
            rows += dataset_scenarios(base, count, "nested", "a", edits, repeats, peer_names,
                                      with_add_rows=bool(only & set("CD")))
            save(False)
        if only & set("AB"):
            rows += dataset_scenarios(base, count, "flat", "b", edits, repeats, peer_names, with_add_rows=False)
            save(False)
        if args.million and "E" in only:
            rows += million_scenario(base, tiny, repeats, peer_names)
            save(False)
        if "F" in only:
            rows += history_scenario(base, hist_files, versions, repeats)
    rows = [r for r in rows if r["scenario"][0] in only]
    print_table(rows, COLUMNS[:-1])
    save(True)


if __name__ == "__main__":
    main()
