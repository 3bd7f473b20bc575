"""Adversarial tree manifests: hostile nodes whose bytes hash to their digest but are not
a well-formed tree, and awkward inputs logged by a user; every reader must agree."""

import contextlib
import json
import sqlite3
import uuid
from types import SimpleNamespace

import blake3
import pytest
import zstandard
from conftest import run_cli

from artstore import IntegrityError, Store
from artstore.ingest import InMemory

HELLO = blake3.blake3(b"hello").hexdigest()
WORLD = blake3.blake3(b"world").hexdigest()


def _raw(node):
    return node if isinstance(node, bytes) else json.dumps(node, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(node):
    return blake3.blake3(_raw(node)).hexdigest()


def _entry(path, size=5, digest=HELLO, metadata=None, asset_type=None, uri=None, identity=None):
    return [path, size, digest, metadata or {}, asset_type, uri, identity]


def craft_tree(catalog_path, nodes, root, version="9.0.0", name="ds"):
    """Store ``nodes`` and ``root`` (JSON-able node documents or raw bytes) under their true
    digests and log version ``version`` of ``name`` pointing at ``root``: what a
    hand-edited catalog, or a pull from a hostile remote, could hold."""
    conn = sqlite3.connect(catalog_path)
    for node in [*nodes, root]:
        raw = _raw(node)
        level = node[1] if isinstance(node, list) and type(node[1]) is int else 0
        conn.execute("INSERT OR IGNORE INTO nodes (digest, level, data) VALUES (?, ?, ?)",
                     (blake3.blake3(raw).digest(), level, zstandard.compress(raw)))
    art = conn.execute("SELECT id FROM artifacts WHERE name = ?", (name,)).fetchone()[0]
    conn.execute("INSERT INTO versions (id, artifact_id, version, created_at, metadata, manifest_digest, size, "
                 "asset_count, local_size) VALUES (?, ?, ?, '2026-01-01T00:00:00+00:00', '{}', ?, 5, 1, 5)",
                 (uuid.uuid4().hex, art, version, _digest(root)))
    conn.commit()
    conn.close()


LEAF = [1, 0, [_entry("a.txt")]]
L = _digest(LEAF)
MID = [1, 1, [["a.txt", L, 1]]]

# name -> (other nodes, root). Every one hashes to its digest; none is a sound tree.
HOSTILE = {
    "child first path not text": ([LEAF], [1, 1, [[5, L, 1]]]),
    "child count not a number": ([LEAF], [1, 1, [["a.txt", L, "1"]]]),
    "child count zero": ([LEAF], [1, 1, [["a.txt", L, 0]]]),
    "child digest short": ([LEAF], [1, 1, [["a.txt", L[:8], 1]]]),
    "internal node without children": ([], [1, 1, []]),
    "children out of order": ([LEAF], [1, 1, [["b", L, 1], ["a.txt", L, 1]]]),
    "level 1 names a level 1 node": ([LEAF, MID], [1, 1, [["a.txt", _digest(MID), 1]]]),
    "level 2 names a leaf": ([LEAF], [1, 2, [["a.txt", L, 1]]]),
    "level 1 names a level 3 node": ([LEAF, [1, 3, [["a.txt", L, 1]]]],
                                     [1, 1, [["a.txt", _digest([1, 3, [["a.txt", L, 1]]]), 1]]]),
    "asset type not text": ([], [1, 0, [_entry("a.txt", asset_type=5)]]),
    "uri not text": ([], [1, 0, [_entry("a.txt", digest=None, uri=5)]]),
    "identity not an object": ([], [1, 0, [_entry("a.txt", digest=None, uri="s3://b/k", identity=[1])]]),
    "file digest short": ([], [1, 0, [_entry("a.txt", digest="ab")]]),
    "file digest with spaces": ([], [1, 0, [_entry("a.txt", digest=" ".join([HELLO[:32], HELLO[32:62]]))]]),
    "negative size": ([], [1, 0, [_entry("a.txt", size=-5)]]),
    "entries out of order": ([], [1, 0, [_entry("b.txt"), _entry("a.txt")]]),
    "path given twice": ([], [1, 0, [_entry("a.txt"), _entry("a.txt", digest=WORLD)]]),
    "nested too deeply": ([], b'[1,0,[["a.txt",5,null,{"x":' + b"[" * 100_000 + b"]" * 100_000
                          + b'},null,"s3://b/k",null]]]'),
}


@pytest.fixture
def hostile_store(project):
    with Store.open(project) as store:
        store.log("ds", [InMemory(b"hello", "a.txt"), InMemory(b"world", "b/c.txt")])
        store.log("other", [InMemory(b"x", "x")])
    return project


@contextlib.contextmanager
def crafted_version(project, nodes, root):
    """The store of ``project`` opened after ds:9.0.0 was crafted with ``nodes`` under
    ``root``: (store, the version's id)."""
    craft_tree(project / ".artstore" / "catalog.db", nodes, root)
    with Store.open(project) as store:
        yield store, store.resolve("ds", version_or_alias="9.0.0")[1]["id"]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_every_reader_refuses_a_malformed_node_as_damage(hostile_store, tmp_path, case):
    with crafted_version(hostile_store, *HOSTILE[case]) as (store, vid):
        readers = {
            "assets": lambda: store.assets(vid),
            "page": lambda: store.assets(vid, 0, 10),
            "find": lambda: store.manifest(vid).find("a.txt"),
            "read": lambda: b"".join(store.read_asset("ds:9.0.0", "a.txt")),
            "download": lambda: store.download("ds:9.0.0", tmp_path / "out"),
            "diff": lambda: store.diff("ds:1.0.0", "ds:9.0.0"),
            "gc": lambda: store.gc(dry_run=True),
            "fetch": lambda: store.fetch("ds:9.0.0"),
        }
        for what, read in readers.items():
            try:
                read()
            except IntegrityError as exc:
                assert "manifest node" in str(exc), (what, exc)
            else:
                pytest.fail(f"{what} read a malformed node ({case}) without an IntegrityError")
        report = store.verify()
        assert not report["ok"]
        assert {tuple(p["versions"]) for p in report["problems"]} == {("ws/ds:9.0.0",)}, report
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        # The sound versions stay readable.
        store.download("ds:1.0.0", tmp_path / "good")
    assert (tmp_path / "good" / "a.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("case", ["child first path not text", "level 2 names a leaf", "nested too deeply"])
def test_cli_readers_give_exit_6_and_one_line_for_a_malformed_node(hostile_store, tmp_path, case):
    nodes, root = HOSTILE[case]
    craft_tree(hostile_store / ".artstore" / "catalog.db", nodes, root)
    for args in (["show", "ds:9.0.0"], ["show", "ds:9.0.0", "--json"], ["cat", "ds:9.0.0", "a.txt"],
                 ["download", "ds:9.0.0", tmp_path / "o"], ["diff", "ds:1.0.0", "ds:9.0.0"],
                 ["verify"], ["gc", "--dry-run"]):
        r = run_cli(*args, cwd=hostile_store)
        assert r.code == 6, (args, r)
        if args[0] == "verify":  # the report is verify's output
            assert "ws/ds:9.0.0" in r.out and "Traceback" not in r.err, r
            continue
        assert len(r.err.strip().splitlines()) == 1 and "internal error" not in r.err, (args, r)


LEAF_B = [1, 0, [_entry("b.txt", digest=WORLD)]]
LB = _digest(LEAF_B)
LEAF_AB = [1, 0, [_entry("a.txt"), _entry("c.txt", digest=WORLD)]]
LAB = _digest(LEAF_AB)

# Every node sound on its own; the parent's items do not describe its children.
MISLEADING = {
    "count says 7": ([LEAF], [1, 1, [["a.txt", L, 7]]]),
    "first path is not the child's": ([LEAF, LEAF_B], [1, 1, [["a.txt", L, 1], ["b", LB, 1]]]),
    "leaves overlap": ([LEAF_AB, LEAF_B], [1, 1, [["a.txt", LAB, 2], ["b.txt", LB, 1]]]),
    "a level-2 count lies": ([LEAF, MID], [1, 2, [["a.txt", _digest(MID), 3]]]),
}


@pytest.mark.parametrize("case", list(MISLEADING))
def test_a_parent_that_misdescribes_its_children_is_damage(hostile_store, tmp_path, case):
    with crafted_version(hostile_store, *MISLEADING[case]) as (store, vid):
        report = store.verify()
        assert not report["ok"]
        assert {tuple(p["versions"]) for p in report["problems"]} == {("ws/ds:9.0.0",)}, report
        # Readers that walk the whole tree, or page or look up through the lying item.
        with pytest.raises(IntegrityError, match="manifest node"):
            store.assets(vid)
        with pytest.raises(IntegrityError, match="manifest node"):
            store.download("ds:9.0.0", tmp_path / "out")
        if case != "leaves overlap":  # the items are right, the leaves' contents overlap
            with pytest.raises(IntegrityError, match="manifest node"):
                store.assets(vid, 0, 10)
            with pytest.raises(IntegrityError, match="manifest node"):
                store.manifest(vid).find("b.txt" if case == "first path is not the child's" else "a.txt")


@pytest.mark.parametrize("case", ["level 1 names a level 1 node", "level 2 names a leaf", "child count zero"])
def test_pull_refuses_remote_nodes_that_are_not_a_sound_tree(store, case):
    """What a pull takes from a remote is checked before it enters the catalog: the nodes
    of a version it lacks must be well formed and each at the level its parent names."""
    from artstore.sync import pull

    nodes, root = HOSTILE[case]

    remote = SimpleNamespace(nodes={blake3.blake3(_raw(n)).digest(): (n[1], zstandard.compress(_raw(n)))
                                    for n in [*nodes, root]})
    with pytest.raises(IntegrityError, match="manifest node"):
        pull._needed_nodes(store, remote, [{"manifest_digest": _digest(root)}])


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/./b", ".artstore/config"])
def test_pull_refuses_remote_entries_with_a_bad_logical_path(store, path):
    from artstore.sync import pull

    leaf = [1, 0, [_entry(path)]]
    remote = SimpleNamespace(nodes={blake3.blake3(_raw(leaf)).digest(): (0, zstandard.compress(_raw(leaf)))})
    with pytest.raises(IntegrityError, match="bad path"):
        pull._needed_nodes(store, remote, [{"manifest_digest": _digest(leaf)}])


@pytest.mark.parametrize("value", ["zz", "ab" * 31, 5, b"\x01" * 32])
def test_a_damaged_manifest_digest_is_exit_6_for_every_reader(hostile_store, tmp_path, value):
    """The version row's manifest digest is where every tree walk starts: a value that is
    not 32 bytes of hex was a ValueError/TypeError from bytes.fromhex (exit 1) in show,
    cat, download, diff, verify and gc."""
    conn = sqlite3.connect(hostile_store / ".artstore" / "catalog.db")
    conn.execute("DROP TRIGGER versions_immutable")  # as a hand-edited catalog might have done
    conn.execute("UPDATE versions SET manifest_digest = ? WHERE artifact_id = (SELECT id FROM artifacts "
                 "WHERE name = 'ds')", (value,))
    conn.commit()
    conn.close()
    for args in (["show", "ds"], ["cat", "ds", "a.txt"], ["download", "ds", tmp_path / "o"],
                 ["diff", "ds", "other"], ["gc", "--dry-run"]):
        r = run_cli(*args, cwd=hostile_store)
        assert r.code == 6 and "manifest digest" in r.err and len(r.err.strip().splitlines()) == 1, (args, r)
    r = run_cli("verify", "--json", cwd=hostile_store)
    assert r.code == 6, r
    assert [(p["kind"], p["versions"]) for p in r.json()["problems"]] == [("bad-record", ["ws/ds:1.0.0"])], r
    assert run_cli("download", "other", tmp_path / "o2", cwd=hostile_store).code == 0
    # The damaged version can still be removed, after which the store is sound.
    assert run_cli("rm", "ds:1.0.0", cwd=hostile_store).code == 0
    assert run_cli("gc", cwd=hostile_store).code == 0
    assert run_cli("verify", cwd=hostile_store).code == 0


def _lenient_reachable(nodes, roots):
    """tree.reachable as it was before it checked levels: how an older artstore, or a
    hostile one, pushes a tree whose nodes are at the wrong levels."""
    internal, leaves = set(), set()
    current = nodes.load(list(dict.fromkeys(roots)))
    while current:
        nxt = []
        for digest, (level, items) in current.items():
            if level == 0:
                leaves.add(digest)
                continue
            internal.add(digest)
            nxt += [child for _, child, _ in items if child not in internal]
        current = nodes.load(list(dict.fromkeys(nxt)))
    return internal, leaves


def test_a_remote_tree_with_nodes_at_the_wrong_level_is_found_by_remote_verify_and_refused_by_pull(
        hostile_store, tmp_path, monkeypatch):
    from artstore import tree

    nodes, root = HOSTILE["level 2 names a leaf"]
    craft_tree(hostile_store / ".artstore" / "catalog.db", nodes, root)
    with Store.open(hostile_store) as store:
        store.add_remote("origin", str(tmp_path / "remote"))
        with pytest.raises(IntegrityError, match="level"):
            store.push("origin", refs=["ds:9.0.0"])  # this artstore refuses to send it
        with monkeypatch.context() as m:
            m.setattr(tree, "reachable", _lenient_reachable)
            store.push("origin", refs=["ds:9.0.0"])
        report = store.verify_remote("origin")
        assert not report["ok"]
        assert [(p["kind"], p["versions"]) for p in report["problems"]] == [("remote-node", ["ws/ds:9.0.0"])], report
        assert "level" in report["problems"][0]["detail"]
    clone = tmp_path / "clone"
    r = run_cli("clone", tmp_path / "remote", clone, cwd=tmp_path)
    assert r.code == 6 and "level" in r.err and len(r.err.strip().splitlines()) == 1, r


def test_a_schema_2_store_with_nan_in_asset_metadata_migrates_and_reads_it_as_a_string(tmp_path):
    """Schema 2 stored NaN/Infinity in asset metadata as the text 'NaN'; the migration puts
    that text into the leaves. Readers give it back as the string 'NaN' (as
    metadata.load_stored does), so show --json stays strict JSON: it was 'internal
    error: Out of range float values are not JSON compliant' (exit 1)."""
    import os
    import tarfile

    proj = tmp_path / "old"
    proj.mkdir()
    fixtures = os.path.join(os.path.dirname(__file__), "fixtures")
    with tarfile.open(os.path.join(fixtures, "schema2-store.tar.gz")) as tar:
        tar.extractall(proj, filter="data")
    conn = sqlite3.connect(proj / ".artstore" / "catalog.db")
    # An older release wrote it so; here the row is edited, its trigger put back after.
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'assets_immutable'").fetchone()
    conn.execute("DROP TRIGGER assets_immutable")
    vid, path = conn.execute("SELECT version_id, logical_path FROM assets WHERE remote = 0 LIMIT 1").fetchone()
    conn.execute("UPDATE assets SET metadata = ? WHERE version_id = ? AND logical_path = ?",
                 ('{"loss": NaN, "best": -Infinity}', vid, path))
    conn.execute(trigger)
    conn.commit()
    conn.close()
    with Store.open(proj) as store:
        ref = store.ref_of(vid)
        asset = next(a for a in store.assets(vid) if a["logical_path"] == path)
        assert asset["metadata"] == {"loss": "NaN", "best": "-Infinity"}
        assert store.verify()["ok"]
    r = run_cli("show", ref, "--json", cwd=proj)
    assert r.code == 0, r
    shown = next(a for a in r.json()["assets"] if a["logical_path"] == path)
    assert shown["metadata"] == {"loss": "NaN", "best": "-Infinity"}


def _schema2_store(tmp_path, edit):
    """The committed schema-2 fixture with ``edit(conn)`` applied to its catalog."""
    import os
    import tarfile

    proj = tmp_path / "old"
    proj.mkdir()
    with tarfile.open(os.path.join(os.path.dirname(__file__), "fixtures", "schema2-store.tar.gz")) as tar:
        tar.extractall(proj, filter="data")
    conn = sqlite3.connect(proj / ".artstore" / "catalog.db")
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'assets_immutable'").fetchone()
    conn.execute("DROP TRIGGER assets_immutable")
    edit(conn)
    conn.execute(trigger)
    conn.commit()
    conn.close()
    return proj


@pytest.mark.parametrize("column, value, said", [
    ("size", "big", "size"),
    ("file_digest", "abc", "file digest"),
    ("metadata", '{"a": 1', "metadata"),
    # pasted into the leaf as it was, this text added an entry to the version
    ("metadata", '{}, null, null, null], ["train/b.csv.injected", 1, null, {}', "metadata"),
    ("remote_identity", "[1]", "remote identity"),
    ("asset_type", b"\xff", "asset type"),  # a TEXT column turns an integer into text; a blob stays
])
def test_a_damaged_schema_2_asset_row_stops_the_migration_with_one_line_naming_it(tmp_path, column, value, said):
    proj = _schema2_store(tmp_path, lambda conn: conn.execute(
        f"UPDATE assets SET {column} = ? WHERE logical_path = 'train/a.csv'", (value,)))
    before = (proj / ".artstore" / "catalog.db").read_bytes()
    for args in (["list"], ["verify"]):
        r = run_cli(*args, cwd=proj)
        assert r.code == 6, r
        assert "cannot migrate" in r.err and said in r.err and "train/a.csv" in r.err, r
        assert len(r.err.strip().splitlines()) == 1, r
    assert (proj / ".artstore" / "catalog.db").read_bytes() == before  # one transaction, rolled back


def test_a_schema_2_store_whose_triggers_were_dropped_still_migrates(tmp_path):
    """The migration dropped the schema-2 triggers unconditionally: a catalog without one
    (dropped by hand, as the hostile tests do) was 'internal error: no such trigger' on
    every command."""
    proj = _schema2_store(tmp_path, lambda conn: None)
    conn = sqlite3.connect(proj / ".artstore" / "catalog.db")
    conn.execute("DROP TRIGGER assets_immutable")
    conn.execute("DROP TRIGGER versions_immutable")
    conn.commit()
    conn.close()
    r = run_cli("verify", "--read-data", cwd=proj)
    assert r.code == 0, r
    with Store.open(proj) as store:
        assert len(store.assets(store.resolve("data", "team", "1.0.0")[1]["id"])) > 0


def test_get_asset_by_an_nfd_name_says_logical_paths_are_nfc(project):
    """A name from a macOS directory listing is NFD; the asset was stored under its NFC
    spelling. The message showed the two spellings identically ('has no asset 'café.txt'')."""
    import unicodedata

    from artstore import Artifact, Experiment, NotFound

    nfc, nfd = unicodedata.normalize("NFC", "café.txt"), unicodedata.normalize("NFD", "café.txt")
    with Store.open(project) as store:
        experiment = Experiment(store=store)
        artifact = Artifact("ds", "dataset")
        artifact.add(b"x", logical_path=nfc)
        logged = experiment.log_artifact(artifact)
        assert logged.get_asset(nfc).size == 1
        got = experiment.get_artifact("ds")
        with pytest.raises(NotFound, match="NFC") as info:
            got.get_asset(nfd)
        assert repr(nfc) in str(info.value)
        experiment.end()


def test_a_damaged_fetched_digest_is_exit_6_naming_the_version(project, tmp_path):
    """The digest of a fetched remote asset's bytes (catalog table ``fetched``) was used
    unchecked: a value that is not 32 bytes was an AttributeError in show (exit 1), and
    verify named no version (a foreign-key violation only)."""
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "a.txt").write_bytes(b"remote bytes")
    assert run_cli("add", "ds", f"file://{ext}", cwd=project).code == 0
    assert run_cli("fetch", "ds", cwd=project).code == 0
    conn = sqlite3.connect(project / ".artstore" / "catalog.db")
    conn.execute("UPDATE fetched SET file_digest = 'abc'")
    conn.commit()
    conn.close()
    for args in (["show", "ds"], ["show", "ds", "--json"], ["cat", "ds", "a.txt"], ["download", "ds", tmp_path / "o"]):
        r = run_cli(*args, cwd=project)
        assert r.code == 6 and "fetched file digest" in r.err and len(r.err.strip().splitlines()) == 1, (args, r)
    r = run_cli("verify", "--json", cwd=project)
    assert r.code == 6
    assert any(p["kind"] == "bad-record" and p["versions"] == ["ws/ds:1.0.0"] for p in r.json()["problems"]), r


def test_a_damaged_legacy_asset_id_is_exit_6_naming_the_version(tmp_path):
    """Asset ids kept from schema 2 (asset_ids) were shown unchecked: a blob there came out
    of show --json as the text "b'\\x00\\xff'" and verify passed."""
    proj = _schema2_store(tmp_path, lambda conn: None)
    with Store.open(proj):
        pass  # migrated
    conn = sqlite3.connect(proj / ".artstore" / "catalog.db")
    vid, path = conn.execute("SELECT version_id, logical_path FROM asset_ids ORDER BY logical_path LIMIT 1").fetchone()
    conn.execute("UPDATE asset_ids SET id = X'00ff' WHERE version_id = ? AND logical_path = ?", (vid, path))
    conn.commit()
    conn.close()
    with Store.open(proj) as store:
        ref = store.ref_of(vid)
    r = run_cli("show", ref, "--json", cwd=proj)
    assert r.code == 6 and "asset id" in r.err and len(r.err.strip().splitlines()) == 1, r
    r = run_cli("verify", "--json", cwd=proj)
    assert r.code == 6
    assert [(p["kind"], p["versions"]) for p in r.json()["problems"]] == [("bad-record", [ref])], r


@pytest.mark.parametrize("column, value", [("size", "x"), ("size", -1), ("chunks", "abc"), ("chunks", b"\x01" * 33)])
def test_a_damaged_file_row_is_exit_6_for_readers_and_stops_gc(hostile_store, tmp_path, column, value):
    """A file row's chunk list was split unchecked: text there was an AttributeError in cat
    and download (exit 1), gc took the file's chunks for dead (it would have deleted
    them), push failed in a join (exit 1) or, for a torn list, pushed shifted chunk ids
    ('not in the store', exit 3). records.chunk_list, defined for this, was called nowhere."""
    conn = sqlite3.connect(hostile_store / ".artstore" / "catalog.db")
    conn.execute("DROP TRIGGER files_immutable")  # as a hand-edited catalog might have done
    conn.execute(f"UPDATE files SET {column} = ? WHERE digest = ?", (value, bytes.fromhex(HELLO)))
    conn.commit()
    conn.close()
    assert run_cli("remote", "add", "origin", tmp_path / "remote", cwd=hostile_store).code == 0
    for args in (["cat", "ds", "a.txt"], ["download", "ds", tmp_path / "o"], ["gc"], ["push", "origin", "ds"]):
        r = run_cli(*args, cwd=hostile_store)
        assert r.code == 6 and "damaged in the catalog" in r.err and len(r.err.strip().splitlines()) == 1, (args, r)
    r = run_cli("verify", "--json", cwd=hostile_store)
    assert r.code == 6 and any(p["versions"] == ["ws/ds:1.0.0"] for p in r.json()["problems"]), r
    r = run_cli("verify", "--json", cwd=hostile_store)
    assert r.code == 6 and [p["kind"] for p in r.json()["problems"]] == ["bad-file"], r
    with Store.open(hostile_store) as store:
        assert b"".join(store.read_asset("other", "x")) == b"x"
    # Once the version is removed its file is dead, and gc drops the damaged row.
    assert run_cli("rm", "ds:1.0.0", cwd=hostile_store).code == 0
    assert run_cli("gc", cwd=hostile_store).code == 0
    assert run_cli("verify", "--read-data", cwd=hostile_store).code == 0
