"""Issue 13: the defects of the adversarial pass, each as the class it stands for.

Every test reproduces the defect first (it failed before the fix) and then covers the
other members of its class. CLI tests run real subprocesses; read-only media and full
disks are real (a read-only bind mount, a small tmpfs) when we may mount, as root in CI.
"""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import craft_version, read_tree, run_cli, write_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from artstore import (
    Artifact,
    ArtstoreError,
    DestinationInStore,
    Experiment,
    IntegrityError,
    InvalidInput,
    Store,
)
from artstore import materialize as materialize_mod
from artstore import metadata as metadata_mod
from artstore.ingest import InMemory

ONE_LINE_CODES = {1, 3, 4, 5, 6, 7, 8}


def one_clean_line(r):
    """The error contract: one line on stderr, no traceback, no internal error."""
    assert "Traceback" not in r.err and "internal error" not in r.err, r
    assert len(r.err.strip().splitlines()) == 1, r


def healthy(project, expected):
    """verify --read-data passes and each ref downloads byte-exact ({ref: tree})."""
    r = run_cli("verify", "--read-data", "--json", cwd=project)
    assert r.code == 0 and r.json()["ok"], r
    for ref, tree in expected.items():
        dest = project.parent / f"check-{time.monotonic_ns()}"
        r = run_cli("download", ref, dest, cwd=project)
        assert r.code == 0, r
        assert read_tree(dest) == tree


def can_mount():
    if os.geteuid() != 0:
        return False
    probe = f"/tmp/artstore-mount-probe-{os.getpid()}"
    os.makedirs(probe, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", probe], capture_output=True)
    os.rmdir(probe)
    return ok


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and mount (read-only bind, tmpfs)")


# -- 1. downloads never write into a store ---------------------------------------------------


def test_logical_path_naming_a_store_directory_is_refused_everywhere(project, store):
    write_tree(project, {"j.txt": b"evil"})
    # The issue's reproduction: `add evil j.txt --as .artstore/catalog.db`.
    for logical in (".artstore/catalog.db", ".artstore/config", "a/.artstore/x", ".ARTSTORE/x", ".artstore"):
        r = run_cli("add", "evil", "j.txt", "--as", logical, cwd=project)
        assert r.code == 5, r
        one_clean_line(r)
        with pytest.raises(InvalidInput, match="store directory"):
            Artifact("evil").add(b"x", logical_path=logical)
    # A directory walk skips anything named .artstore that is not a store.
    write_tree(project / "tree", {"ok.txt": b"ok", ".artstore/catalog.db": b"junk"})
    r = run_cli("add", "tree", "tree", cwd=project)
    assert r.code == 0 and ".artstore" in r.err, r
    assert [a["logical_path"] for a in store.assets(store.describe_ref("tree")["artifact_version_id"])] == ["ok.txt"]


def _craft_asset(store, logical_path, data=b"evil"):
    """A version holding ``logical_path`` as an older release or a hostile copy could."""
    v = store.log("seed", [InMemory(data, "seed.txt")])
    digest = bytes.fromhex(store.assets(v["artifact_version_id"])[0]["content_hash"])
    craft_version(store.catalog.path, "seed", logical_path, digest, len(data))
    return "seed:9.0.0"


def _store_files(project):
    return {name: (project / ".artstore" / name).read_bytes() for name in ("config",)}


@pytest.mark.parametrize("scenario", ["logical-into-store", "dest-inside-store", "dest-symlink-to-store",
                                      "renamed-store-by-identity", "other-store-in-dest", "asset-download"])
def test_no_download_writes_into_a_store(project, store, tmp_path, scenario):
    write_tree(project, {"data/a.txt": b"A" * 100})
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    before = _store_files(project)
    env, cwd, args = {}, project, None
    if scenario == "logical-into-store":
        ref = _craft_asset(store, ".artstore/config")
        with pytest.raises(InvalidInput):
            store.download(ref, project, overwrite_strategy="overwrite")
        args = ["download", ref, str(project), "--overwrite-strategy", "overwrite"]
    elif scenario == "dest-inside-store":
        args = ["download", "ds", str(project / ".artstore" / "objects"), "--overwrite-strategy", "overwrite"]
        with pytest.raises(DestinationInStore):
            store.download("ds", project / ".artstore" / "tmp" / "new")
    elif scenario == "dest-symlink-to-store":
        (tmp_path / "link").symlink_to(project / ".artstore")
        args = ["download", "ds", str(tmp_path / "link"), "--overwrite-strategy", "overwrite"]
    elif scenario == "renamed-store-by-identity":
        # A store found through ARTSTORE_DIR that is not called .artstore: caught by identity.
        other = tmp_path / "other"
        Store.init(other, workspace="ws").close()
        os.rename(other / ".artstore", other / "mystore")
        env = {"ARTSTORE_DIR": str(other / "mystore")}
        write_tree(tmp_path, {"cfg": b"[store]\n"})
        assert run_cli("add", "x", str(tmp_path / "cfg"), "--as", "mystore/config", cwd=tmp_path, env=env).code == 0
        before = {"config": (other / "mystore" / "config").read_bytes()}
        args, cwd = ["download", "x", str(other), "--overwrite-strategy", "overwrite"], tmp_path
    elif scenario == "other-store-in-dest":
        dest = tmp_path / "dest"
        Store.init(dest / "inner", workspace="ws").close()
        os.rename(dest / "inner" / ".artstore", dest / "kept")  # a store under any name
        ref = _craft_asset(store, "kept/config")
        args = ["download", ref, str(dest), "--overwrite-strategy", "overwrite"]
        kept = (dest / "kept" / "config").read_bytes()
    else:  # a single asset through the API
        logged = Experiment(store=store).get_artifact("ds")
        with pytest.raises(DestinationInStore):
            logged.get_asset("a.txt").download(str(project / ".artstore" / "config"), overwrite_strategy=True)
        args = ["download", "ds", str(project / ".artstore"), "--overwrite-strategy", "overwrite"]
    r = run_cli(*args, cwd=cwd, env=env)
    assert r.code == 5, r
    one_clean_line(r)
    if scenario == "other-store-in-dest":
        assert (dest / "kept" / "config").read_bytes() == kept
    elif scenario == "renamed-store-by-identity":
        assert (other / "mystore" / "config").read_bytes() == before["config"]
        assert run_cli("verify", cwd=tmp_path, env=env).code == 0
    else:
        assert _store_files(project) == before
    assert run_cli("list", cwd=project).code == 0
    assert read_tree(project / "data") == {"a.txt": b"A" * 100}


# -- 2. anything add accepts, download writes ----------------------------------------------

LONG_NAMES = ["é" * 120, "€" * 85, "😀" * 63, "a" * 255, "ü" * 127]


@pytest.mark.parametrize("name", LONG_NAMES)
def test_long_utf8_names_round_trip(project, tmp_path, name):
    assert len(name.encode()) <= 255
    write_tree(project, {f"data/{name}": b"payload", f"data/{name[:20]}/{name}": b"nested"})
    r = run_cli("add", "ds", "data", cwd=project)
    assert r.code == 0, r
    r = run_cli("download", "ds", tmp_path / "out", cwd=project)
    assert r.code == 0, r
    assert read_tree(tmp_path / "out") == read_tree(project / "data")
    # again over the existing files, through the temp-file path of overwrite
    (tmp_path / "out" / name).write_bytes(b"changed")
    assert run_cli("download", "ds", tmp_path / "out", "--overwrite-strategy", "overwrite", cwd=project).code == 0
    assert (tmp_path / "out" / name).read_bytes() == b"payload"


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=255))
def test_temp_names_always_fit_a_component(name):
    if len(name.encode()) <= 255:
        assert len(materialize_mod.temp_name(name).encode()) <= 255


def test_names_the_filesystem_cannot_hold_are_refused_at_add(project, store):
    write_tree(project, {"f": b"x"})
    too_long = "é" * 128  # 256 bytes
    r = run_cli("add", "ds", "f", "--as", too_long, cwd=project)
    assert r.code == 5, r
    one_clean_line(r)
    with pytest.raises(InvalidInput, match="255 bytes"):
        store.log("ds", [InMemory(b"x", f"dir/{too_long}")])


# -- 3. special files: never hang, never read ----------------------------------------------

SWAP_SCRIPT = r"""
import os, socket, sys
from artstore import Artifact, Experiment, Store, ArtstoreError
kind, project = sys.argv[1], sys.argv[2]
store = Store.open(project)
art = Artifact("ds")
art.add(os.path.join(project, "data"))
target = os.path.join(project, "data", sys.argv[3])
os.unlink(target)
if kind == "fifo":
    os.mkfifo(target)
elif kind == "socket":
    s = socket.socket(socket.AF_UNIX); s.bind(target)
elif kind == "chardev":
    os.symlink("/dev/zero", target)
elif kind == "directory":
    os.mkdir(target)
elif kind == "other-file":
    with open(target + ".new", "wb") as f:
        f.write(b"other bytes" * 10000)
    os.rename(target + ".new", target)
try:
    Experiment(store=store).log_artifact(art)
except ArtstoreError as exc:
    print(type(exc).__name__, exc.exit_code, str(exc))
    sys.exit(0)
print("logged")
"""


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("kind", ["fifo", "socket", "chardev", "directory", "other-file"])
def test_file_swapped_for_a_special_file_is_refused_without_hanging(project, kind, size):
    data = os.urandom(100 if size == "small" else 300_000)
    write_tree(project, {"data/keep.bin": b"k", "data/swap.bin": data})
    try:
        p = subprocess.run([sys.executable, "-c", SWAP_SCRIPT, kind, str(project), "swap.bin"],
                           capture_output=True, text=True, timeout=60, cwd=project)
    except subprocess.TimeoutExpired:
        pytest.fail(f"add hung on a file swapped for a {kind}")
    assert p.returncode == 0, p
    name, code = p.stdout.split()[:2]
    expected = {"other-file": ("Conflict", "4")}.get(kind, ("InvalidInput", "5"))
    assert (name, code) == expected, p.stdout
    assert "\n" not in p.stdout.strip()
    healthy(project, {})


def test_metadata_file_and_config_that_are_special_files_do_not_hang(project):
    os.mkfifo(project / "meta.fifo")
    write_tree(project, {"f": b"x"})
    r = run_cli("add", "ds", "f", "--metadata", "meta.fifo", cwd=project, timeout=30)
    assert r.code == 5 and "FIFO" in r.err, r
    one_clean_line(r)
    r = run_cli("add", "ds", "f", "--metadata", "/dev/zero", cwd=project, timeout=30)
    assert r.code == 5, r
    config = project / ".artstore" / "config"
    saved = config.read_bytes()
    config.unlink()
    os.mkfifo(config)
    try:
        r = run_cli("list", cwd=project, timeout=30)
        assert r.code == 6, r
        one_clean_line(r)
    finally:
        config.unlink()
        config.write_bytes(saved)


# -- 4 and 5. reading needs no writes: read-only media, full disks ----------------------------

READS = [
    ["list", "--json"], ["versions", "ds", "--json"], ["show", "ds:1.0.0", "--json"], ["cat", "ds", "b.txt"],
    ["diff", "ds:1.0.0", "ds:2.0.0", "--json"], ["lineage", "ds", "--format", "json"], ["du", "--json"],
    ["verify", "--read-data", "--json"], ["verify", "ds:1.0.0"],
]
WRITES = [["add", "ds", "{data}"], ["alias", "ds:1.0.0", "prod"], ["tag", "ds", "t"], ["rm", "ds:1.0.0"],
          ["gc"], ["download", "ds", "{out}", "--run", "r"]]


def _populate(project):
    data = write_tree(project / "data", {"a.bin": os.urandom(200_000), "b.txt": b"b"})
    assert run_cli("add", "ds", "data", "--run", "make", cwd=project).code == 0
    v1 = read_tree(data)
    (data / "a.bin").write_bytes(os.urandom(200_000))
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    return v1, read_tree(data)


def _check_reads(project_view, tmp_path, v1, v2, expect_write_error):
    env = {"ARTSTORE_DIR": str(project_view)}
    for args in READS:
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.code == 0, (args, r)
        assert "internal error" not in r.err
    for ref, tree in (("ds:1.0.0", v1), ("ds:2.0.0", v2)):
        out = tmp_path / f"out-{ref.replace(':', '-')}"
        r = run_cli("download", ref, out, cwd=tmp_path, env=env)
        assert r.code == 0, r
        assert read_tree(out) == tree
    for args in WRITES:
        args = [a.format(data=tmp_path / "src", out=tmp_path / "w") for a in args]
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.code == 1, (args, r)
        one_clean_line(r)
        assert expect_write_error in r.err, (args, r)


@needs_mount
def test_read_only_medium_is_readable(project, tmp_path):
    v1, v2 = _populate(project)
    write_tree(tmp_path / "src", {"new.txt": b"new"})
    view = tmp_path / "ro"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(project), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        _check_reads(view, tmp_path, v1, v2, "read-only")
        s = Store.open(view)  # the API too
        try:
            assert s.download("ds:1.0.0", tmp_path / "api")["written"]
            assert s.verify(read_data=True)["ok"]
        finally:
            s.close()
    finally:
        subprocess.run(["umount", "-l", str(view)], check=True)
    healthy(project, {"ds:1.0.0": v1, "ds:2.0.0": v2})


@needs_mount
def test_full_disk_blocks_only_writes(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
    try:
        project = disk / "proj"
        project.mkdir()
        Store.init(project, workspace="ws").close()
        v1, v2 = _populate(project)
        write_tree(tmp_path / "src", {"new.bin": os.urandom(100_000)})
        try:
            with open(disk / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError:
            pass
        assert os.statvfs(disk).f_bavail == 0
        _check_reads(project, tmp_path, v1, v2, "full")
        os.unlink(disk / "filler")
        healthy(project, {"ds:1.0.0": v1, "ds:2.0.0": v2})
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


# -- 6. damaged catalog records: verify names them, readers exit 6 ---------------------------

DAMAGE = {
    "metadata-json": ("versions", "metadata", "'{\"a\": 1'"),
    "metadata-not-utf8": ("versions", "metadata", "CAST(X'7B22FF223A317D' AS TEXT)"),
    "metadata-not-object": ("versions", "metadata", "'[1, 2]'"),
    "created-at": ("versions", "created_at", "'2026-13-01T99:00:00'"),
    "created-at-not-utf8": ("versions", "created_at", "CAST(X'32FF' AS TEXT)"),
    "version-number": ("versions", "version", "'1.0.x'"),
    "size": ("versions", "size", "-5"),
    # Asset fields live in hash-checked tree nodes since schema 3 (tests/test_tree.py
    # damages nodes); a version row's counts must still match its tree:
    "asset-count": ("versions", "asset_count", "7"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_catalog_fields_are_found_by_verify_and_never_crash_readers(project, tmp_path, damage):
    write_tree(project, {"data/f.txt": b"hello", "keep/k.txt": b"keep"})
    assert run_cli("add", "ds", "data", "--meta", "a=1", cwd=project).code == 0
    assert run_cli("add", "keep", "keep", cwd=project).code == 0
    table, column, value = DAMAGE[damage]
    conn = sqlite3.connect(project / ".artstore" / "catalog.db")
    for trigger in ("versions_immutable", "assets_immutable", "files_immutable"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("PRAGMA foreign_keys = OFF")
    vid = conn.execute("SELECT v.id FROM versions v JOIN artifacts a ON a.id = v.artifact_id "
                       "WHERE a.name = 'ds'").fetchone()[0]
    key = "id" if table == "versions" else "version_id"
    conn.execute(f"UPDATE {table} SET {column} = {value} WHERE {key} = ?", (vid,))
    conn.commit()
    conn.close()
    r = run_cli("verify", "--json", cwd=project)
    assert r.code == 6, r
    problems = r.json()["problems"]
    assert any(p["kind"] == "bad-record" for p in problems), problems
    # every problem about this damage names the damaged version (by ref or, if its own
    # number is what is damaged, by id)
    assert all(p["versions"] for p in problems if p["kind"] == "bad-record"), problems
    for args in (["show", "ds", "--json"], ["versions", "ds", "--json"], ["list", "--json"], ["cat", "ds", "f.txt"],
                 ["download", "ds", str(tmp_path / "out")], ["diff", "ds", "keep"], ["lineage", "ds"],
                 ["du"], ["verify", "ds"]):
        r = run_cli(*args, cwd=project)
        assert r.code in (0, 3, 6), (args, r)
        if r.code and args[0] != "verify":
            one_clean_line(r)
    r = run_cli("download", "keep", tmp_path / "keep", cwd=project)
    assert r.code == 0 and read_tree(tmp_path / "keep") == {"k.txt": b"keep"}, r


# -- 7. no version is logged on top of missing data ------------------------------------------


@pytest.mark.parametrize("loss", ["deleted", "truncated"])
@pytest.mark.parametrize("how", ["touched", "unchanged", "in-memory"])
def test_lost_pack_data_is_stored_again_not_referenced(project, store, loss, how):
    payload = os.urandom(150_000)
    small = b"small file"
    write_tree(project, {"data/big.bin": payload, "data/small.txt": small})
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    time.sleep(0.1)  # past the stat cache's racy window, so "unchanged" is a cache hit
    assert run_cli("add", "other", "data", cwd=project).code == 0  # caches the stat entries
    (pack,) = [p for p in os.listdir(project / ".artstore" / "objects" / "pack")]
    path = project / ".artstore" / "objects" / "pack" / pack
    if loss == "deleted":
        path.unlink()
    else:
        with open(path, "r+b") as f:
            f.truncate(1000)
    if how == "touched":
        os.utime(project / "data" / "big.bin")
    if how == "in-memory":
        s = Store.open(project)
        try:
            s.log("ds", [InMemory(payload, "big.bin"), InMemory(small, "small.txt")])
        finally:
            s.close()
    else:
        r = run_cli("add", "ds", "data", cwd=project)
        assert r.code == 0, r
        assert "0 B new data" not in r.out, r
    tree = {"big.bin": payload, "small.txt": small}
    # the lost chunks were stored again and their index rows moved: every version heals
    healthy(project, {"ds:1.0.0": tree, "ds:2.0.0": tree, "other:1.0.0": tree})


def test_stored_file_with_lost_bytes_is_refused(project, store, tmp_path):
    store.log("ds", [InMemory(os.urandom(50_000), "f.bin")])
    logged = Experiment(store=store).get_artifact("ds")
    local = logged.download(str(tmp_path / "dl"))
    os.unlink(tmp_path / "dl" / "f.bin")  # not on disk: logging it again relies on the store
    for name in os.listdir(store.pack_dir):
        os.unlink(os.path.join(store.pack_dir, name))
    with pytest.raises(IntegrityError, match="missing or damaged"):
        Experiment(store=store).log_artifact(local)


# -- 8, 9, 10. metadata and names: depth, Unicode, NaN on every way in ----------------------


def _nested(depth):
    value = 1
    for _ in range(depth - 1):
        value = [value]
    return {"k": value}


def test_metadata_depth_limit_on_every_way_in(project, store, tmp_path):
    deep_text = '{"k": ' + "[" * 10_000 + "]" * 10_000 + "}"
    write_tree(project, {"f": b"x"})
    (project / "deep.json").write_text(deep_text)
    for args in (["--meta", "k=" + "[" * 10_000 + "]" * 10_000], ["--metadata", "deep.json"],
                 ["--meta", "k=" + json.dumps(_nested(metadata_mod.MAX_DEPTH))]):
        r = run_cli("add", "ds", "f", *args, cwd=project)
        assert r.code == 5, (args[0], r)
        one_clean_line(r)
    deep = _nested(metadata_mod.MAX_DEPTH + 1)
    ok = _nested(metadata_mod.MAX_DEPTH)
    calls = [
        lambda m: Artifact("ds", metadata=m),
        lambda m: Artifact("ds").add(b"x", logical_path="f", metadata=m),
        lambda m: Artifact("ds").add_remote("https://example.com/x", metadata=m, sync_mode=False),
        lambda m: store.log("ds", [InMemory(b"x", "f")], metadata=m),
        lambda m: store.log("ds", [InMemory(b"x", "f", metadata=m)]),
    ]
    for call in calls:
        with pytest.raises(InvalidInput, match="nests deeper"):
            call(deep)
        with pytest.raises(InvalidInput, match="nests deeper"):
            call({"k": _nested(10_000)})
    store.log("ds", [InMemory(b"x", "f")], metadata=ok)  # the limit itself is accepted
    assert run_cli("show", "ds", "--json", cwd=project).json()["metadata"] == ok
    assert run_cli("versions", "ds", cwd=project).code == 0


def test_metadata_stored_before_the_limit_is_survived(project, store):
    store.log("ds", [InMemory(b"x", "f")])
    conn = sqlite3.connect(store.catalog.path)
    conn.execute("DROP TRIGGER versions_immutable")
    conn.execute("UPDATE versions SET metadata = ?", ('{"k": ' + "[" * 988 + "]" * 988 + "}",))
    conn.commit()
    conn.close()
    for args in (["show", "ds", "--json"], ["show", "ds"], ["versions", "ds", "--json"]):
        r = run_cli(*args, cwd=project)
        assert r.code == 6, r
        one_clean_line(r)
    r = run_cli("verify", "--json", cwd=project)
    assert r.code == 6 and r.json()["problems"][0]["versions"] == ["ws/ds:1.0.0"], r
    assert run_cli("download", "ds", project.parent / "out", cwd=project).code == 0


BAD = b"bad\xff\xfename"


@pytest.mark.parametrize("where", ["name", "alias", "tag", "run", "meta-key", "meta-value", "type", "version",
                                   "metadata-file-bytes", "metadata-file-surrogate", "ref"])
def test_undecodable_bytes_are_invalid_input(project, where):
    write_tree(project, {"f": b"x"})
    (project / "bad-bytes.json").write_bytes(b'{"k": "' + BAD + b'"}')
    (project / "bad-escape.json").write_text('{"k": "\\ud800"}')
    args = {
        "name": [b"add", BAD, b"f"],
        "alias": [b"add", b"ds", b"f", b"--alias", BAD],
        "tag": [b"add", b"ds", b"f", b"--tag", BAD],
        "run": [b"add", b"ds", b"f", b"--run", BAD],
        "meta-key": [b"add", b"ds", b"f", b"--meta", BAD + b"=1"],
        "meta-value": [b"add", b"ds", b"f", b"--meta", b"k=" + BAD],
        "type": [b"add", b"ds", b"f", b"--type", BAD],
        "version": [b"add", b"ds", b"f", b"--version", BAD],
        "metadata-file-bytes": [b"add", b"ds", b"f", b"--metadata", b"bad-bytes.json"],
        "metadata-file-surrogate": [b"add", b"ds", b"f", b"--metadata", b"bad-escape.json"],
        "ref": [b"show", b"ds:" + BAD],
    }[where]
    p = subprocess.run([sys.executable, "-m", "artstore", *args], cwd=project, capture_output=True)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 5, (p.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_undecodable_dest_and_source_directory_work(project, tmp_path):
    src = os.path.join(os.fsencode(tmp_path), BAD)
    os.makedirs(os.path.join(src, b"sub"))
    with open(os.path.join(src, b"sub", b"f.txt"), "wb") as f:
        f.write(b"content")
    p = subprocess.run([sys.executable, "-m", "artstore", "add", "ds", os.path.join(src, b"sub")], cwd=project,
                       capture_output=True)
    assert p.returncode == 0, p
    dest = os.path.join(os.fsencode(tmp_path), b"out-" + BAD)
    p = subprocess.run([sys.executable, "-m", "artstore", "download", "ds", dest], cwd=project, capture_output=True)
    assert p.returncode == 0, p
    with open(os.path.join(dest, b"f.txt"), "rb") as f:
        assert f.read() == b"content"
    # and the same through the API, with the str (surrogate-escaped) spelling of the path
    s = Store.open(project)
    try:
        s.download("ds", os.fsdecode(dest) + "-api")
        with pytest.raises(InvalidInput):
            Artifact("\udcff")
        with pytest.raises(InvalidInput):
            Artifact("ds", aliases=["a\udcff"])
        with pytest.raises(InvalidInput):
            Artifact("ds", metadata={"k\udcff": 1})
    finally:
        s.close()


def test_nan_and_infinity(project, store):
    write_tree(project, {"f": b"x"})
    # --meta VALUE is JSON only if it is strict JSON: NaN stays the string "NaN".
    r = run_cli("add", "ds", "f", "--meta", "x=NaN", "--meta", "y=-Infinity", "--json", cwd=project)
    assert r.code == 0, r
    assert json.loads(r.out, parse_constant=lambda c: pytest.fail(c))["metadata"] == {"x": "NaN", "y": "-Infinity"}
    (project / "m.json").write_text('{"x": NaN}')
    r = run_cli("add", "ds", "f", "--metadata", "m.json", cwd=project)
    assert r.code == 5, r
    one_clean_line(r)
    for value in (float("nan"), float("inf"), -float("inf"), [1, {"z": float("nan")}]):
        with pytest.raises(InvalidInput):
            Artifact("ds", metadata={"x": value})
        with pytest.raises(InvalidInput):
            store.log("ds", [InMemory(b"x", "f", metadata={"x": value})])
    # NaN stored by an older release: output stays strict JSON
    conn = sqlite3.connect(store.catalog.path)
    conn.execute("DROP TRIGGER versions_immutable")
    conn.execute("UPDATE versions SET metadata = '{\"x\":NaN,\"y\":Infinity}'")
    conn.commit()
    conn.close()
    r = run_cli("show", "ds", "--json", cwd=project)
    assert r.code == 0, r
    assert json.loads(r.out, parse_constant=lambda c: pytest.fail(c))["metadata"] == {"x": "NaN", "y": "Infinity"}


# -- 11. the minor ones ----------------------------------------------------------------------


def test_sigint_message_says_what_was_committed(project):
    write_tree(project, {"data/f": b"x"})
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": "after-commit:sigint"})
    assert r.code == 130, r
    assert "committed (logged ws/ds:1.0.0)" in r.err and "before anything" not in r.err, r
    one_line = [line for line in r.err.splitlines() if line.strip()]
    assert len(one_line) == 1, r
    assert run_cli("versions", "ds", "--json", cwd=project).json()[0]["version"] == "1.0.0"
    r = run_cli("add", "ds", "data", cwd=project, env={"ARTSTORE_FAULT": "before-commit:sigint"})
    assert r.code == 130 and "before anything was committed" in r.err, r
    assert len(run_cli("versions", "ds", "--json", cwd=project).json()) == 1


def test_errors_are_one_line_whatever_the_file_name(project):
    write_tree(project, {"data/bad\nname\x1b[31m": b"x"})
    r = run_cli("add", "ds", "data", cwd=project)
    assert r.code == 5, r
    one_clean_line(r)
    assert "\\n" in r.err


def test_init_honours_store(tmp_path):
    r = run_cli("--store", tmp_path / "x", "init", cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "x" / ".artstore" / "config").is_file()
    assert not (tmp_path / ".artstore").exists()
    r = run_cli("init", cwd=tmp_path, env={"ARTSTORE_DIR": str(tmp_path / "y" / ".artstore")})
    assert r.code == 0 and (tmp_path / "y" / ".artstore" / "config").is_file(), r


@pytest.mark.parametrize("kind", ["dangling-symlink", "file", "symlink-to-file", "fifo"])
def test_destination_that_is_not_a_directory(project, tmp_path, kind):
    write_tree(project, {"f": b"x"})
    assert run_cli("add", "ds", "f", cwd=project).code == 0
    dest = tmp_path / "dest"
    if kind == "dangling-symlink":
        dest.symlink_to(tmp_path / "nowhere")
    elif kind == "file":
        dest.write_bytes(b"x")
    elif kind == "symlink-to-file":
        (tmp_path / "target").write_bytes(b"x")
        dest.symlink_to(tmp_path / "target")
    else:
        os.mkfifo(dest)
    r = run_cli("download", "ds", dest, cwd=project, timeout=30)
    assert r.code in (2, 4), r  # click refuses an existing file itself (usage, 2)
    if r.code == 4:
        one_clean_line(r)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("key,value", [("min_size", "0"), ("avg_size", "1"), ("max_size", "99999999999"),
                                       ("min_size", "x"), ("normalized_chunking", "7")])
def test_bad_chunking_config_is_integrity_error(project, key, value):
    cfg = project / ".artstore" / "config"
    lines = [f"{key} = {value}" if line.startswith(f"{key} =") else line for line in cfg.read_text().splitlines()]
    cfg.write_text("\n".join(lines) + "\n")
    write_tree(project, {"f": b"x"})
    for args in (["list"], ["add", "ds", "f"]):
        r = run_cli(*args, cwd=project)
        assert r.code == 6, r
        one_clean_line(r)


def test_socket_as_add_path(project, tmp_path):
    path = str(tmp_path / "s")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    try:
        r = run_cli("add", "ds", path, cwd=project, timeout=30)
        assert r.code == 5, r
        one_clean_line(r)
    finally:
        s.close()


@pytest.mark.parametrize("bad", ["x\udcff", "\ud800", "a\udc80b"])
def test_undecodable_text_through_every_api_call(store, bad):
    logged = Experiment(store=store).log_artifact(_artifact_with_file())
    for call in (
        lambda: logged.update_aliases([bad]),
        lambda: logged.update_version_tags([bad]),
        lambda: logged.update_artifact_tags([bad]),
        lambda: Experiment(store=store, project_name=bad),
        lambda: Experiment(store=store, workspace=bad),
        lambda: Experiment(store=store).get_artifact(bad),
        lambda: store.run_named(bad),
        lambda: Artifact("ds").add_remote("https://example.com/" + bad, sync_mode=False),
        lambda: Artifact("ds").add(b"x", logical_path=bad),
        lambda: Artifact("ds").add(b"x", logical_path="f", asset_type=bad),
        lambda: Artifact("ds", version_tags=[bad]),
        lambda: Artifact("ds", artifact_type=bad),
        lambda: store.log("ds", [InMemory(b"x", "f")], metadata={"k": [bad]}),
    ):
        with pytest.raises(InvalidInput):
            call()
    assert store.verify()["ok"]


def _artifact_with_file():
    art = Artifact("ds")
    art.add(b"content", logical_path="f.txt")
    return art


@pytest.mark.parametrize("kind", ["file", "fifo", "dangling-symlink", "file-above"])
def test_init_in_something_that_is_not_a_directory(tmp_path, kind):
    # found by the fuzz test: `artstore init fifo` was exit 1 "File exists"
    target = tmp_path / "t"
    if kind == "file":
        target.write_bytes(b"x")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "dangling-symlink":
        target.symlink_to(tmp_path / "nowhere")
    else:
        target.write_bytes(b"x")
        target = target / "below"
    r = run_cli("init", target, cwd=tmp_path, timeout=30)
    assert r.code in (2, 4), r  # click itself refuses an existing file (2)
    if r.code == 4:
        one_clean_line(r)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".artstore")] == []
    with pytest.raises(ArtstoreError) as info:
        Store.init(target)
    assert info.value.exit_code == 4


def test_init_never_inside_a_store_directory(project):
    for target in (project / ".artstore", project / ".artstore" / "objects"):
        r = run_cli("init", target, cwd=project)
        assert r.code == 5, r
        one_clean_line(r)
    assert not (project / ".artstore" / ".artstore").exists()
    assert run_cli("verify", cwd=project).code == 0


def test_bad_chunking_at_init_leaves_nothing(tmp_path):
    with pytest.raises(InvalidInput, match="min_size"):
        Store.init(tmp_path, chunking={"min_size": 0})
    assert os.listdir(tmp_path) == []


def test_dataset_folder_with_store_like_file_names_downloads(project, store, tmp_path):
    files = {"app/config": b"[app]\nx = 1\n", "app/catalog.db": b"not a store", "app/objects/o": b"o"}
    store.log("ds", [InMemory(data, path) for path, data in files.items()])
    for strategy in ("fail", "overwrite", "fail"):  # the second time, app/ holds those files
        r = run_cli("download", "ds", tmp_path / "out", "--overwrite-strategy", strategy, cwd=project)
        assert r.code == 0, r
    assert read_tree(tmp_path / "out") == files


def test_os_paths_the_filesystem_cannot_hold(project, tmp_path):
    write_tree(project, {"f": b"x"})
    assert run_cli("add", "ds", "f", cwd=project).code == 0
    too_long = "é" * 130
    for args, code in ((["download", "ds", tmp_path / too_long / "a"], 5), (["init", tmp_path / too_long], 5),
                       (["download", "ds", project / "f" / "below"], 4)):
        r = run_cli(*args, cwd=project)
        assert r.code == code, (args, r)
        one_clean_line(r)


@pytest.mark.parametrize("workspace", ["%", "a%(b)s", "100%", "x$y"])
def test_config_values_are_literal(tmp_path, workspace):
    # found by the fuzz test: `init --workspace %` was an internal error (INI interpolation)
    r = run_cli("init", tmp_path / "p", "--workspace", workspace, cwd=tmp_path)
    assert r.code == 0, r
    write_tree(tmp_path / "p", {"f": b"x"})
    r = run_cli("add", "ds", "f", "--json", cwd=tmp_path / "p")
    assert r.code == 0 and r.json()["workspace"] == workspace, r
    assert run_cli("show", f"{workspace}/ds", cwd=tmp_path / "p").code == 0


def test_add_of_a_folder_with_an_unreadable_sub_folder_says_what_to_do(project):
    """A sub-folder the user may not list (chmod 000; root's permission bypass dropped)
    is one line, exit 5, naming the folder and the two ways out."""
    from conftest import without_dac_override

    write_tree(project / "data", {"a": b"1", "locked/b": b"2"})
    os.chmod(project / "data" / "locked", 0)
    try:
        p = subprocess.run([sys.executable, "-m", "artstore", "add", "ds", "data"], cwd=project,
                           capture_output=True, text=True, preexec_fn=without_dac_override)
    finally:
        os.chmod(project / "data" / "locked", 0o755)
    assert p.returncode == 5, p
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p
    assert "locked" in p.stderr and "permission" in p.stderr.lower() and "--exclude" in p.stderr, p
    assert run_cli("verify", cwd=project).code == 0


@pytest.mark.parametrize("path", [".artstore", ".artstore/objects", ".artstore/catalog.db", "link"])
def test_a_path_inside_a_store_directory_is_refused(project, path):
    """'.artstore folders are never walked, at any depth' holds for a PATH given inside
    one too (or a symlink to one): the store would add its own packs and catalog, which
    change under the add."""
    os.symlink(project / ".artstore", project / "link")
    r = run_cli("add", "ds", path, cwd=project)
    assert r.code == 5, r
    assert len(r.err.strip().splitlines()) == 1 and "store directory" in r.err, r
    assert run_cli("list", "--json", cwd=project).json() == []
