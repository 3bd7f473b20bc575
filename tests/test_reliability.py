"""Crashes, faults and locks through real subprocesses (DESIGN.md invariants 1 and 4)."""

import fcntl
import os
import subprocess
import sys
import time

import pytest
from conftest import read_tree, run_cli, write_tree

ADD_STEPS = ["pack-write", "pack-fsync", "pack-rename", "before-commit", "nodes-written", "catalog-commit"]


@pytest.fixture
def data(project):
    return write_tree(project / "data", {"a.bin": os.urandom(300_000), "b.bin": os.urandom(70_000)})


def assert_store_healthy(project, expected_versions):
    """verify --read-data passes and every committed version downloads byte-exact."""
    r = run_cli("verify", "--read-data", "--json", cwd=project)
    assert r.code == 0 and r.json()["ok"], r
    rows = run_cli("list", "--json", cwd=project).json()
    versions = {}
    for art in rows:
        for v in run_cli("versions", art["name"], "--json", cwd=project).json():
            versions[f"{art['name']}:{v['version']}"] = v
    assert set(versions) == set(expected_versions)
    for ref, tree in expected_versions.items():
        dest = project.parent / ("check-" + ref.replace(":", "-") + str(time.monotonic_ns()))
        assert run_cli("download", ref, dest, cwd=project).code == 0
        assert read_tree(dest) == tree


@pytest.mark.parametrize("step", ADD_STEPS)
def test_add_killed_at_each_step_leaves_no_trace(project, data, step):
    first = run_cli("add", "ds", "data", cwd=project)
    assert first.code == 0
    v1 = read_tree(data)
    (data / "a.bin").write_bytes(os.urandom(300_000))
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": f"{step}:kill"})
    assert r.code == -9, r
    assert_store_healthy(project, {"ds:1.0.0": v1})
    assert run_cli("gc", cwd=project).code == 0
    assert os.listdir(project / ".artstore" / "tmp") == []
    again = run_cli("add", "ds", "data", cwd=project)
    assert again.code == 0, again
    assert_store_healthy(project, {"ds:1.0.0": v1, "ds:2.0.0": read_tree(data)})


@pytest.mark.parametrize("action, code", [("kill", -9), ("sigint", 130)])
def test_add_stopped_while_its_rows_wait_in_temporary_tables(project, data, action, code):
    """A directory of more files than a log keeps in memory: its file and stat-cache rows
    wait in SQLite temporary tables (artstore.spill). Killed or interrupted after they
    spilled, nothing of the version is in the catalog, and the next add stores it whole."""
    first = run_cli("add", "ds", "data", cwd=project)
    assert first.code == 0
    v1 = read_tree(data)
    many = {f"many/d{i // 500}/f{i:04d}": b"%d" % i for i in range(4500)}
    write_tree(data, many)
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": f"rows-spilled:{action}"})
    assert r.code == code, r
    assert "Traceback" not in r.err
    assert_store_healthy(project, {"ds:1.0.0": v1})
    again = run_cli("add", "ds", "data", "--json", cwd=project)
    assert again.code == 0, again
    assert again.json()["files_read"] == 4500 and again.json()["assets_count"] == 4502
    assert_store_healthy(project, {"ds:1.0.0": v1, "ds:2.0.0": read_tree(data)})


@pytest.mark.parametrize("fault", ["eio", "enospc"])
@pytest.mark.parametrize("step", ["pack-write", "pack-fsync", "catalog-commit"])
def test_disk_errors_during_add_are_clean(project, data, fault, step):
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": f"{step}:{fault}"})
    assert r.code == 1, r
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert os.listdir(project / ".artstore" / "tmp") == []
    assert os.listdir(project / ".artstore" / "objects" / "pack") == []
    assert_store_healthy(project, {})


def test_disk_error_during_download_leaves_no_partial_file(project, data, tmp_path):
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    r = run_cli("download", "ds", tmp_path / "out", cwd=project, env={"ARTSTORE_FAULT": "download-write:enospc"})
    assert r.code == 1 and "No space left" in r.err, r
    assert [n for n in os.listdir(tmp_path / "out") if n.endswith(".tmp")] == []
    assert not (tmp_path / "out" / "a.bin").exists()


@pytest.mark.parametrize("step", ["gc-unlink-leftover", "gc-before-commit", "catalog-commit", "gc-unlink-pack"])
def test_gc_killed_at_each_step_loses_nothing(project, data, step):
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    keep = {"a.bin": os.urandom(200_000)}
    write_tree(project / "keep", keep)
    assert run_cli("add", "keep", "keep", cwd=project).code == 0
    (data / "a.bin").write_bytes(os.urandom(300_000))
    assert run_cli("add", "ds", "data", "--as", "copy", cwd=project).code == 0
    assert run_cli("rm", "ds:1.0.0", cwd=project).code == 0
    (project / ".artstore" / "tmp" / "pack-stale.tmp").write_bytes(b"x")
    r = run_cli("gc", cwd=project, env={"ARTSTORE_FAULT": f"{step}:kill"})
    assert r.code == -9, r
    expected = {"keep:1.0.0": keep, "ds:2.0.0": {"copy/" + k: v for k, v in read_tree(data).items()}}
    assert_store_healthy(project, expected)
    assert run_cli("gc", cwd=project).code == 0
    assert_store_healthy(project, expected)


def test_rm_killed_before_commit_keeps_version(project, data):
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    r = run_cli("rm", "ds:1.0.0", cwd=project, env={"ARTSTORE_FAULT": "before-rm-commit:kill"})
    assert r.code == -9
    assert_store_healthy(project, {"ds:1.0.0": read_tree(data)})


def _hold_lock(project, mode):
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(project / '.artstore' / 'lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        f"fcntl.flock(fd, {mode})\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_wait_is_bounded_and_a_killed_holder_releases_it(project, data):
    holder = _hold_lock(project, fcntl.LOCK_EX)
    try:
        start = time.monotonic()
        r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_LOCK_TIMEOUT": "1"})
        assert r.code == 8 and "locked" in r.err, r
        assert time.monotonic() - start < 15
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_LOCK_TIMEOUT": "1"}).code == 0


def test_gc_waits_for_writers(project, data):
    holder = _hold_lock(project, fcntl.LOCK_SH)  # a writer between seal and commit
    try:
        r = run_cli("gc", cwd=project, env={"ARTSTORE_LOCK_TIMEOUT": "1"})
        assert r.code == 8, r
        # Readers and other writers share the lock and go ahead.
        assert run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_LOCK_TIMEOUT": "1"}).code == 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


WRITER = """
import os, random, sys
from artstore import Store
from artstore.ingest import InMemory
store = Store.open(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
shared = random.Random(7).randbytes(400_000)
for i in range(int(sys.argv[3])):
    mine = rng.randbytes(rng.randrange(1, 200_000))
    v = store.log(sys.argv[4], [InMemory(shared, "shared.bin"), InMemory(mine, "mine.bin")])
    print(v["version"], mine.hex()[:64], len(mine), flush=True)
"""

GC_LOOP = """
import sys, time
from artstore import Store
store = Store.open(sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
runs = 0
while time.monotonic() < deadline:
    store.gc()
    runs += 1
    time.sleep(0.05)
print(runs)
"""


def test_concurrent_writers_and_gc_lose_nothing(project):
    env = {**os.environ, "ARTSTORE_LOCK_TIMEOUT": "60"}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(project), str(seed), "6", name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for seed, name in [(1, "same"), (2, "same"), (3, "other")]
    ]
    gc = subprocess.Popen([sys.executable, "-c", GC_LOOP, str(project), "8"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env)
    outputs = [w.communicate(timeout=180) for w in writers]
    gc_out = gc.communicate(timeout=180)
    assert all(w.returncode == 0 for w in writers), outputs
    assert gc.returncode == 0 and int(gc_out[0]) >= 1, gc_out
    same_versions = [line.split()[0] for out, _ in outputs[:2] for line in out.splitlines()]
    assert len(same_versions) == 12 and len(set(same_versions)) == 12, "no lost update"
    r = run_cli("verify", "--read-data", "--json", cwd=project)
    assert r.code == 0 and r.json()["ok"], r
    for (out, _), name in zip(outputs, ["same", "same", "other"], strict=True):
        for line in out.splitlines():
            version, prefix, size = line.split()
            dest = project.parent / f"dl-{name}-{version}"
            assert run_cli("download", f"{name}:{version}", dest, cwd=project).code == 0
            mine = (dest / "mine.bin").read_bytes()
            assert len(mine) == int(size) and mine.hex()[:64] == prefix


def test_alias_update_killed_midway_is_all_or_nothing(project, data):
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    assert run_cli("alias", "ds:1.0.0", "a", "b", cwd=project).code == 0
    r = run_cli("alias", "ds:2.0.0", "a", "b", cwd=project, env={"ARTSTORE_FAULT": "alias-update:kill"})
    assert r.code == -9
    rows = run_cli("versions", "ds", "--json", cwd=project).json()
    assert rows[0]["aliases"] == ["a", "b"] and rows[1]["aliases"] == ["latest"], "neither alias moved"
    assert run_cli("alias", "ds:2.0.0", "a", "b", cwd=project).code == 0
    rows = run_cli("versions", "ds", "--json", cwd=project).json()
    assert rows[0]["aliases"] == [] and rows[1]["aliases"] == ["a", "b", "latest"]
    assert_store_healthy(project, {"ds:1.0.0": read_tree(data), "ds:2.0.0": read_tree(data)})


def test_random_time_kills_of_a_large_add(project):
    import random

    rng = random.Random(1234)
    big = project / "big.bin"
    with open(big, "wb") as f:
        f.write(rng.randbytes(96 << 20))
    committed = {}
    for attempt in range(5):
        with open(big, "r+b") as f:  # a different edit each round, so there is new data to store
            f.seek(rng.randrange(96 << 20))
            f.write(rng.randbytes(1 << 20))
        proc = subprocess.Popen([sys.executable, "-m", "artstore", "add", "big", "big.bin"], cwd=project,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.8))
        proc.kill()
        proc.wait()
        # The kill may land before or after the commit: whatever version exists must be whole.
        listed = run_cli("list", "--json", cwd=project).json()
        if listed:
            for row in run_cli("versions", "big", "--json", cwd=project).json():
                committed.setdefault(f"big:{row['version']}", {"big.bin": big.read_bytes()})
        r = run_cli("verify", "--read-data", "--json", cwd=project)
        assert r.code == 0 and r.json()["ok"], (attempt, r)
    assert_store_healthy(project, committed)
    assert run_cli("gc", cwd=project).code == 0
    assert os.listdir(project / ".artstore" / "tmp") == []
    assert_store_healthy(project, committed)
    assert run_cli("add", "big", "big.bin", cwd=project).code == 0


def test_packs_are_durable_and_named_before_the_commit_that_references_them(project, data):
    """Stopped right before the catalog commit, the new data is already a sealed pack under
    its final name (complete index, name = hash of header and index), and the catalog does
    not reference it yet; a failed fsync means no commit at all."""
    from artstore.chunkstore import pack_name, read_pack_index

    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": "before-commit:kill"})
    assert r.code == -9
    pack_dir = project / ".artstore" / "objects" / "pack"
    (pack,) = os.listdir(pack_dir)
    header, index, entries = read_pack_index(pack_dir / pack)
    assert pack == pack_name(header, index) + ".pack"
    assert sum(e[3] for e in entries) >= 370_000  # both files' chunks are in it
    assert run_cli("list", "--json", cwd=project).json() == []
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": "pack-fsync:eio"})
    assert r.code == 1 and run_cli("list", "--json", cwd=project).json() == []


@pytest.mark.parametrize("action, code", [("sigint", 130), ("eio", 1)])
def test_add_interrupted_just_after_its_commit_keeps_the_version_whole(project, data, action, code):
    """Ctrl-C (or an error) that lands once the version's COMMIT went through (a signal
    that arrived during the commit's fsync is raised right after it) must neither delete
    the packs the committed version references nor say that nothing was committed."""
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": f"catalog-committed:{action}"})
    assert r.code == code, r
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
    if action == "sigint":
        assert "ds:1.0.0" in r.err and "kept" in r.err, r
    assert_store_healthy(project, {"ds:1.0.0": read_tree(data)})


@pytest.mark.parametrize("action", ["sigint", "eio"])
def test_gc_interrupted_just_after_its_commit_loses_nothing(project, data, action):
    """gc's commit moves live chunks into new packs: an interruption after it must keep them."""
    keep = {"k.bin": os.urandom(200_000)}
    write_tree(project / "keep", keep)
    assert run_cli("add", "ds", "data", "keep", cwd=project).code == 0  # one pack: live and dead chunks
    assert run_cli("add", "keep", "keep", cwd=project).code == 0
    assert run_cli("rm", "ds:1.0.0", cwd=project).code == 0
    assert "1 rewritten" in run_cli("gc", "--dry-run", cwd=project).out
    r = run_cli("gc", cwd=project, env={"ARTSTORE_FAULT": f"catalog-committed:{action}"})
    assert r.code != 0 and "Traceback" not in r.err, r
    assert_store_healthy(project, {"keep:1.0.0": keep})
    assert run_cli("gc", cwd=project).code == 0
    assert_store_healthy(project, {"keep:1.0.0": keep})
