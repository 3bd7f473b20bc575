"""Remotes, continued (the contract suite of test_sync.py over file://, S3 and GCS): lazy
versions (pull --metadata-only, clone --lazy, on-demand fetch), remote gc in two phases
beside concurrent pushes, push copying stored frames, credentials and a dead endpoint."""

import os
import sqlite3
import subprocess
import sys

import pytest
from conftest import read_tree, run_cli, write_tree
from test_sync import _log_dir, _new_store, remote_url  # noqa: F401  (the backend fixture)

from artstore import Store
from artstore.ingest import InMemory
from artstore.schema import SCHEMA_VERSION

pytestmark = pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")


def _files():
    return {"big.bin": os.urandom(1_500_000), "small.txt": b"hello\n" * 100, "sub/c.csv": b"a,b\n" * 20_000}


def _chunks_here(store):
    return store.catalog.scalar("SELECT COUNT(*) FROM chunks")


def test_lazy_clone_fetches_chunks_on_demand_once(remote_url, tmp_path):  # noqa: F811
    files = _files()
    write_tree(tmp_path / "data", files)
    with _new_store(tmp_path / "a") as a:
        _log_dir(a, "ds", tmp_path / "data", aliases=["prod"], version_tags=["raw"])
        a.push(remote_url)
    with Store.clone(remote_url, tmp_path / "b", lazy=True) as b:
        said = []
        b.notice = said.append
        assert _chunks_here(b) == 0 and b.describe_ref("ds:prod")["tags"] == ["raw"]
        check = b.verify()
        assert check["ok"], check
        assert any("1 version(s) are lazy (data on remote origin)" in n for n in check["notes"])
        assert b"".join(b.read_asset("ds", "small.txt")) == files["small.txt"]
        assert len(said) == 1 and "fetching 1 chunk(s)" in said[0] and "from origin" in said[0]
        assert b"".join(b.read_asset("ds", "small.txt")) == files["small.txt"]
        assert len(said) == 1  # the second read is local
        b.download("ds:prod", tmp_path / "out")
        assert read_tree(tmp_path / "out") == files and len(said) == 2
        # gc keeps what a lazy version fetched and treats nothing of it as garbage.
        b.gc()
        assert b.verify(read_data=True)["ok"]
        b.download("ds", tmp_path / "out2")
        assert read_tree(tmp_path / "out2") == files and len(said) == 2
        b.fetch("ds:1.0.0")
        assert b.catalog.lazy_versions() == {}
        assert not any("lazy" in n for n in b.verify()["notes"])


def test_pull_metadata_only_then_pull_ref_brings_the_data(remote_url, tmp_path):  # noqa: F811
    with _new_store(tmp_path / "a") as a:
        for i in range(3):
            a.log("ds", [InMemory(os.urandom(120_000) + bytes([i]), "f")], metadata={"i": i})
        a.push(remote_url)
    with _new_store(tmp_path / "b") as b:
        got = b.pull(remote_url, metadata_only=True)
        assert got["versions"] == 3 and got["bytes_received"] == 0 and got["lazy"] == 3
        assert [v["version"] for v in b.versions("ds")] == ["1.0.0", "2.0.0", "3.0.0"]
        assert b.describe_ref("ds:2.0.0")["metadata"] == {"i": 1} and _chunks_here(b) == 0
        with Store.open(tmp_path / "a") as a:  # diff of lazy versions counts their bytes too
            assert b.diff("ds:1.0.0", "ds:3.0.0")["bytes_new"] == a.diff("ds:1.0.0", "ds:3.0.0")["bytes_new"] > 0
        got = b.pull(remote_url, ["ds:2.0.0"])
        assert got["versions"] == 0 and 120_000 <= got["bytes_received"] < 200_000
        lazy = b.catalog.lazy_versions()
        assert len(lazy) == 2 and b.resolve("ds:2.0.0")[1]["id"] not in lazy
        assert b.verify(read_data=True)["ok"]


def test_a_lazy_read_offline_is_exit_7_naming_the_version(s3_url, tmp_path, monkeypatch):
    from test_remote import S3

    s3 = S3(s3_url)
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    url = s3.uri(s3.bucket(), "team")
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(100_000), "f")])
        a.push(url)
    Store.clone(url, tmp_path / "b", lazy=True).close()
    r = run_cli("download", "ds", tmp_path / "out", cwd=tmp_path / "b",
                env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, timeout=120)
    assert r.code == 7 and len(r.err.strip().splitlines()) == 1, r
    assert "ws/ds:1.0.0 is lazy" in r.err and "origin" in r.err, r
    assert not (tmp_path / "out").exists()
    # Back online, the same command works and says what it fetched.
    r = run_cli("download", "ds", tmp_path / "out", cwd=tmp_path / "b")
    assert r.code == 0 and "fetching" in r.err and "from origin" in r.err, r


def test_a_schema_4_store_migrates_to_lazy_versions(tmp_path):
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x" * 1000, "f")])
    db = tmp_path / "a" / ".artstore" / "catalog.db"
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE lazy_versions")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Store.open(tmp_path / "a") as a:
        assert a.catalog.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
        assert a.catalog.lazy_versions() == {}
        assert a.verify(read_data=True)["ok"]
        assert b"".join(a.read_asset("ds", "f")) == b"x" * 1000


def _orphans_from_a_push_killed_before_its_refs(store, url, monkeypatch):
    """Objects a push sent before it died: packs, indexes, a bundle and a version record."""
    from artstore.sync import push as push_mod

    def die(*_a, **_k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(push_mod, "_update_refs", die)
        with pytest.raises(KeyboardInterrupt):
            store.push(url)


def test_remote_gc_marks_then_deletes_after_the_grace_period(remote_url, tmp_path, monkeypatch):  # noqa: F811
    with _new_store(tmp_path / "a") as a:
        a.log("keep", [InMemory(os.urandom(300_000), "f")])
        a.push(remote_url)
        a.log("lost", [InMemory(os.urandom(300_000), "g")])
        _orphans_from_a_push_killed_before_its_refs(a, remote_url, monkeypatch)
        t0 = 1_000_000.0
        dry = a.gc_remote(remote_url, dry_run=True, grace=100, now=t0)
        assert dry["marked"] >= 3 and dry["deleted"] == 0  # pack, index, bundle
        assert a.gc_remote(remote_url, dry_run=True, grace=100, now=t0) == dry  # wrote nothing
        first = a.gc_remote(remote_url, grace=100, now=t0)
        assert first["marked"] == dry["marked"] and first["bytes_marked"] >= 300_000
        early = a.gc_remote(remote_url, grace=100, now=t0 + 50)
        assert early["deleted"] == 0 and early["pending"] == first["marked"] and early["marked"] == 0
        late = a.gc_remote(remote_url, grace=100, now=t0 + 150)
        assert late["deleted"] == first["marked"] and late["bytes_freed"] >= 300_000
        assert a.gc_remote(remote_url, grace=100, now=t0 + 300)["marked"] == 0
        assert a.verify_remote(remote_url, read_data=True)["ok"]
        # The killed push's version is pushed again whole (its record was kept; its data re-sent).
        a.push(remote_url)
        assert a.verify_remote(remote_url, read_data=True)["ok"]
    with Store.clone(remote_url, tmp_path / "b") as b:
        assert b.verify(read_data=True)["ok"] and len(b.list_artifacts()) == 2


def test_a_push_after_a_mark_does_not_depend_on_marked_objects(remote_url, tmp_path, monkeypatch):  # noqa: F811
    """A push that finds objects marked for deletion re-sends what it needs of them, and a
    sweep keeps a marked object that a ref reaches again."""
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(300_000), "f")])
        _orphans_from_a_push_killed_before_its_refs(a, remote_url, monkeypatch)
        t0 = 2_000_000.0
        assert a.gc_remote(remote_url, grace=100, now=t0)["marked"] >= 3
        sent = a.push(remote_url)
        assert sent["chunks"] >= 1 and sent["bytes_sent"] >= 300_000  # not trusted to the marked pack
        swept = a.gc_remote(remote_url, grace=100, now=t0 + 150)
        assert swept["resurrected"] >= 2  # the old pack and index hold chunks a version needs again
        assert a.verify_remote(remote_url, read_data=True)["ok"]
    with Store.clone(remote_url, tmp_path / "b") as b:
        assert b.verify(read_data=True)["ok"]


GC_LOOP = """
import sys, time
from artstore import Store
from artstore.schema import SCHEMA_VERSION
from artstore.errors import ArtstoreError
codes, deleted = [], 0
with Store.open(sys.argv[1]) as s:
    deadline = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < deadline:
        try:
            deleted += s.gc_remote(sys.argv[2], grace=2)["deleted"]
            codes.append(0)
        except ArtstoreError as exc:
            codes.append(exc.exit_code)
        time.sleep(0.05)
print(" ".join(map(str, codes)))
print(deleted)
"""

PUSH_LOOP = """
import os, sys
from artstore import Store
from artstore.schema import SCHEMA_VERSION
from artstore.errors import ArtstoreError
from artstore.ingest import InMemory
codes = []
with Store.open(sys.argv[1]) as s:
    for i in range(int(sys.argv[3])):
        s.log("ds", [InMemory(os.urandom(200_000), "f"), InMemory(b"same", "g")])
        try:
            s.push(sys.argv[2])
            codes.append(0)
        except ArtstoreError as exc:
            codes.append(exc.exit_code)
print(" ".join(map(str, codes)))
"""


def test_remote_gc_beside_a_concurrent_push_breaks_nothing(remote_url, tmp_path, monkeypatch):  # noqa: F811
    with _new_store(tmp_path / "a") as a:
        a.log("seed", [InMemory(os.urandom(100_000), "f")])
        a.push(remote_url)
    with _new_store(tmp_path / "z") as z:  # garbage to collect, which no later push needs
        z.log("lost", [InMemory(os.urandom(100_000), "f")])
        _orphans_from_a_push_killed_before_its_refs(z, remote_url, monkeypatch)
    Store.clone(remote_url, tmp_path / "g").close()
    # The pusher knows the team's grace period (the config is shared through git): a push
    # that runs longer stops before publishing (exit 7) and is run again below.
    cfg = tmp_path / "a" / ".artstore" / "config"
    cfg.write_text(cfg.read_text().replace("[storage]\n", "[storage]\nremote_gc_grace = 2\n"))
    env = dict(os.environ)
    gc_proc = subprocess.Popen([sys.executable, "-c", GC_LOOP, str(tmp_path / "g"), remote_url, "6"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    push_proc = subprocess.Popen([sys.executable, "-c", PUSH_LOOP, str(tmp_path / "a"), remote_url, "6"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    push_out, push_err = push_proc.communicate(timeout=300)
    gc_out, gc_err = gc_proc.communicate(timeout=300)
    assert push_proc.returncode == 0 and gc_proc.returncode == 0, (push_err, gc_err)
    gc_codes, deleted = gc_out.splitlines()
    assert set(gc_codes.split()) == {"0"}, gc_out  # never found the remote damaged
    assert int(deleted) >= 3, gc_out  # and swept while the pushes ran
    assert set(push_out.split()) <= {"0", "7"} and "0" in push_out.split(), push_out
    with Store.open(tmp_path / "a") as a:
        a.push(remote_url)  # finishes a push that stopped at the grace period
        a.gc_remote(remote_url, grace=0)  # sweep what is left, then check everything
        a.gc_remote(remote_url, grace=0)
        assert a.verify_remote(remote_url, read_data=True)["ok"]
    for who in ("a", "g"):
        r = run_cli("verify", "--remote-store", remote_url, "--read-data", cwd=tmp_path / who)
        assert r.code == 0, r
    with Store.clone(remote_url, tmp_path / "c") as c:
        assert [v["version"] for v in c.versions("ds")] == [f"{i}.0.0" for i in range(1, 7)]
        assert c.verify(read_data=True)["ok"]


def test_push_copies_stored_frames_without_reencoding(tmp_path, monkeypatch):
    """A local pack whose chunks are all wanted goes up as it is; from a pack only partly
    wanted the stored frames are copied into a new pack. Neither path encodes again."""
    from artstore import chunkstore

    url = f"file://{tmp_path / 'remote'}"
    text = b"compressible text\n" * 50_000
    with _new_store(tmp_path / "x") as x:  # the remote gets the text's chunks from another store first
        x.log("other", [InMemory(text, "t")])
        x.push(url)
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(text, "f"), InMemory(os.urandom(200_000), "r")])
        a.log("ds2", [InMemory(b"more text\n" * 30_000, "g")])
        rows = a.catalog.query("SELECT id, stored_size, compression FROM chunks")
        local = {r["id"]: (r["stored_size"], r["compression"]) for r in rows}
        local_packs = {p["name"] for p in a.catalog.packs()}

        def no_encoding(*_a, **_k):
            raise AssertionError("push must not encode chunks again")

        monkeypatch.setattr(chunkstore.Encoder, "encode", no_encoding)
        sent = a.push(url)
        assert sent["packs"] == 2
    remote = {}
    names = set()
    for idx in (tmp_path / "remote" / "packs").glob("*.idx"):
        names.add(idx.stem)
        data = idx.read_bytes()[chunkstore.HEADER_SIZE:]
        for i in range(0, len(data), chunkstore.INDEX_ENTRY.size):
            cid, _off, stored, _size, compression = chunkstore.INDEX_ENTRY.unpack_from(data, i)
            remote[cid] = (stored, compression)
    assert remote == local and any(c == chunkstore.ZSTD for _s, c in remote.values())
    assert len(names & local_packs) == 1  # ds2's pack went up whole; ds's random chunks were copied
    with Store.clone(url, tmp_path / "b") as b:
        assert b.verify(read_data=True)["ok"]
        assert b"".join(b.read_asset("ds", "f")) == text


def test_missing_credentials_is_one_line_exit_7(s3_url, tmp_path, monkeypatch):
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        a.add_remote("origin", "s3://bucket/prefix")
    env = {"AWS_ENDPOINT_URL": s3_url, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for args in (("push",), ("pull",), ("gc", "--remote", "origin"), ("verify", "--remote-store", "origin")):
        r = run_cli(*args, cwd=tmp_path / "a", env=env, timeout=120)
        assert r.code == 7 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, (args, r)
        assert "credential" in r.err, r


def test_gc_remote_cli_dry_run_and_json(tmp_path):
    url = f"file://{tmp_path / 'remote'}"
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x" * 10, "f")])
        a.add_remote("origin", url)
        a.push()
    r = run_cli("gc", "--remote", "origin", "--dry-run", cwd=tmp_path / "a")
    assert r.code == 0 and "would delete 0 object(s)" in r.out, r
    assert not (tmp_path / "remote" / "gc").exists()
    r = run_cli("gc", "--remote", "origin", "--json", cwd=tmp_path / "a")
    assert r.code == 0 and r.json()["marked"] == 0, r  # a push leaves nothing unreferenced
    # the probe object an earlier release's first push left (this one probes with the
    # format record itself) is swept like any object no version references
    (tmp_path / "remote" / "probes").mkdir()
    (tmp_path / "remote" / "probes" / "0123456789abcdef0123456789abcdef").write_bytes(b"2")
    r = run_cli("gc", "--remote", "origin", "--json", cwd=tmp_path / "a")
    assert r.code == 0 and r.json()["marked"] == 1, r
    assert run_cli("gc", "--remote", "nosuch", cwd=tmp_path / "a").code == 3


def test_a_failed_clone_leaves_no_directory_behind(tmp_path):
    r = run_cli("clone", "--lazy", f"file://{tmp_path / 'nothing'}", tmp_path / "y", cwd=tmp_path)
    assert r.code == 3 and len(r.err.strip().splitlines()) == 1, r
    assert not (tmp_path / "y").exists()


def test_cli_pull_metadata_only_then_fetch(tmp_path):
    url = f"file://{tmp_path / 'remote'}"
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(150_000), "f")])
        a.push(url)
    with _new_store(tmp_path / "b"):
        pass
    r = run_cli("pull", url, "--metadata-only", cwd=tmp_path / "b")
    assert r.code == 0 and "1 lazy" in r.out, r
    r = run_cli("verify", cwd=tmp_path / "b")
    assert r.code == 0 and "lazy (data on remote file://" in r.out + r.err, r
    r = run_cli("fetch", "ds", cwd=tmp_path / "b")
    assert r.code == 0 and "of its data from its remote" in r.out and "fetching" in r.err, r
    r = run_cli("verify", "--read-data", cwd=tmp_path / "b")
    assert r.code == 0 and "lazy" not in r.out + r.err, r


@pytest.mark.parametrize("step", ["remote-gc-mark", "remote-gc-delete", "remote-gc-unmark"])
def test_a_remote_gc_killed_at_any_step_is_finished_by_the_next(tmp_path, monkeypatch, step):
    url = f"file://{tmp_path / 'remote'}"
    project = tmp_path / "a"
    with _new_store(project) as a:
        a.log("keep", [InMemory(os.urandom(200_000), "f")])
        a.add_remote("origin", url)
        a.push()
        a.log("lost", [InMemory(os.urandom(200_000), "f")])
        _orphans_from_a_push_killed_before_its_refs(a, url, monkeypatch)
    cfg = project / ".artstore" / "config"
    cfg.write_text(cfg.read_text().replace("[storage]\n", "[storage]\nremote_gc_grace = 0\n"))
    if step != "remote-gc-mark":
        assert run_cli("gc", "--remote", "origin", cwd=project).code == 0
    r = run_cli("gc", "--remote", "origin", cwd=project, env={"ARTSTORE_FAULT": f"{step}:kill"})
    assert r.code == -9, r
    assert run_cli("verify", "--remote-store", "origin", "--read-data", cwd=project).code == 0
    for _ in range(2):
        assert run_cli("gc", "--remote", "origin", cwd=project).code == 0
    r = run_cli("gc", "--remote", "origin", "--json", cwd=project)
    assert r.json()["marked"] == 0 and r.json()["deleted"] == 0, r  # nothing left behind
    assert not list((tmp_path / "remote" / "gc").iterdir())
    assert run_cli("verify", "--remote-store", "origin", "--read-data", cwd=project).code == 0
    assert run_cli("clone", url, tmp_path / "b", cwd=tmp_path).code == 0
    assert run_cli("verify", "--read-data", cwd=tmp_path / "b").code == 0


def test_a_damaged_local_pack_is_never_indexed_on_the_remote(tmp_path):
    url = f"file://{tmp_path / 'remote'}"
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(300_000), "f")])
        a.add_remote("origin", url)
        pack = os.path.join(a.pack_dir, os.listdir(a.pack_dir)[0])
    with open(pack, "rb") as f:
        data = bytearray(f.read())
    data[1000] ^= 0xFF
    os.chmod(pack, 0o644)
    with open(pack, "wb") as f:
        f.write(bytes(data))
    r = run_cli("push", cwd=tmp_path / "a")
    assert r.code == 6 and len(r.err.strip().splitlines()) == 1, r
    assert not list((tmp_path / "remote" / "packs").glob("*.idx"))  # nothing names the bad pack
    assert not (tmp_path / "remote" / "refs").exists()


def test_a_lazy_read_of_a_vanished_file_remote_is_exit_7(tmp_path):
    url = f"file://{tmp_path / 'remote'}"
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(150_000), "f")])
        a.push(url)
    Store.clone(url, tmp_path / "b", lazy=True).close()
    os.rename(tmp_path / "remote", tmp_path / "moved")
    r = run_cli("download", "ds", tmp_path / "out", cwd=tmp_path / "b")
    assert r.code == 7 and len(r.err.strip().splitlines()) == 1 and "is lazy" in r.err, r
    assert "fetching" not in r.err and not (tmp_path / "out").exists()


def test_ui_serves_a_lazy_clone_without_fetching_or_writing(tmp_path):
    """artstore ui never writes: a lazy version's file page says where its data is (and how
    to get it) instead of fetching it, and the clone's files stay byte for byte the same."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from artstore.ui.app import create_app

    files = _files()
    write_tree(tmp_path / "data", files)
    remote = str(tmp_path / "remote")
    with _new_store(tmp_path / "a") as a:
        _log_dir(a, "ds", tmp_path / "data")
        a.push(remote)
    with Store.clone(remote, tmp_path / "b", lazy=True) as b:
        store_dir, ws = b.dir, b.workspace
    def state():
        """Every file of the store byte for byte, but its lock and SQLite's reader files
        (a WAL reader creates catalog.db-shm and an empty catalog.db-wal)."""
        tree = read_tree(tmp_path / "b" / ".artstore")
        assert tree.get("catalog.db-wal", b"") == b""  # nothing was written
        return {k: v for k, v in tree.items() if k not in ("lock", "catalog.db-shm", "catalog.db-wal")}

    before = state()
    with TestClient(create_app(store_dir)) as client:
        version = client.get(f"/a/{ws}/ds/1.0.0")
        assert version.status_code == 200 and "small.txt" in version.text
        page = client.get(f"/a/{ws}/ds/1.0.0/files/small.txt")
        assert "lazy version" in page.text and "artstore fetch" in page.text
        assert "<script" not in page.text.lower()
        raw = client.get(f"/a/{ws}/ds/1.0.0/raw/small.txt")
        assert raw.status_code == 404 and "lazy version" in raw.text
    assert state() == before
    with Store.open(tmp_path / "b") as b:
        assert _chunks_here(b) == 0
