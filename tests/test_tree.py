"""Manifests as trees: the node format, building, walking, diffing, the cost of a change,
the schema-2 migration, and what verify and gc make of nodes."""

import json
import os
import random
import shutil
import sqlite3
import tarfile

import blake3
import pytest
import zstandard
from conftest import read_tree, run_cli, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artstore import Store, tree
from artstore.ingest import InMemory, RemoteRef, sources_for_path
from artstore.schema import SCHEMA_VERSION
from artstore.tree import node as node_mod

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


class MemoryNodes:
    """A NodeStore over a dict (what the catalog does, without SQLite)."""

    def __init__(self):
        self.data = {}
        self.reads = 0

    def add(self, nodes):
        new = [d for d in nodes if d not in self.data]
        self.data.update(nodes)
        return new

    def load(self, digests, level=None):
        self.reads += len(digests)
        out = {d: node_mod.decode(d, self.data[d][1]) for d in digests}
        assert level is None or all(got == level for got, _ in out.values())  # walks name the right level
        return out


def entry(path, size=1, digest=None, metadata="{}"):
    digest = digest if digest is not None else blake3.blake3(path.encode() + bytes([size % 256])).digest()
    return path, tree.entry_text(path, size, digest, metadata, None, None, None)


def build(nodes, paths, **kw):
    root, made = tree.build(sorted(entry(p, **kw) for p in paths))
    return root, nodes.add(made)


path_st = st.lists(st.text(alphabet="ab/é_", min_size=1, max_size=3), min_size=1, max_size=4).map("/".join)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(path_st, st.integers(0, 10**12), max_size=600))
def test_any_entries_round_trip_through_a_tree(items):
    nodes = MemoryNodes()
    root, _ = tree.build(sorted(entry(p, size=s) for p, s in items.items()))
    _r, made = tree.build(sorted(entry(p, size=s) for p, s in items.items()))
    nodes.add(made)
    t = tree.Tree(nodes, root)
    got = list(t.entries())
    assert [(e.path, e.size) for e in got] == sorted(items.items())
    assert t.count() == len(items)
    for p in list(items)[:20]:
        assert t.find(p).size == items[p]
    assert t.find("zzz-not-there") is None
    assert t.page(3, 5) == got[3:8]


def test_entry_text_is_the_canonical_json_of_the_entry():
    """docs/storage.rst: entries are JSON arrays, no white space, no ASCII escaping; the
    metadata object keeps its canonical (sorted) text."""
    digest = bytes(range(32))
    text = tree.entry_text("d/é\"q\n", 7, digest, '{"a":[1,2],"b":"é"}', "x\ty", None, None)
    assert text == json.dumps(["d/é\"q\n", 7, digest.hex(), {"a": [1, 2], "b": "é"}, "x\ty", None, None],
                              separators=(",", ":"), ensure_ascii=False)
    remote = tree.entry_text("r", 0, None, "{}", None, "s3://b/k", '{"etag":"\\"e\\""}')
    assert json.loads(remote) == ["r", 0, None, {}, None, "s3://b/k", {"etag": '"e"'}]
    digest_of, data = node_mod.encode(0, [text, remote])
    assert data == ("[1,0,[" + text + "," + remote + "]]").encode()
    assert digest_of == blake3.blake3(data).digest()


def test_equal_entries_give_equal_roots_whatever_the_order_they_came_in():
    items = [entry(f"d{i % 7}/f{i}") for i in range(3000)]
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert tree.build(sorted(items))[0] == tree.build(sorted(shuffled))[0]


# Derandomized, as test_chunking's edit test: where a moved boundary lands next is chance,
# and the bound holds for a likely run, not for every one a random draw may bring to CI.
@settings(max_examples=30, deadline=None, derandomize=True)
@given(edits=st.lists(st.tuples(st.sampled_from(["add", "rm", "change"]), st.integers(0, 10**9)),
                      min_size=1, max_size=5),
       flat=st.booleans())
def test_new_nodes_are_bounded_by_the_edit_not_the_version(edits, flat):
    """Each edited entry rewrites the nodes on its path (a leaf or two per level where a
    boundary moved), never a number that grows with the 20,000 entries."""
    paths = [f"f{i:06d}" if flat else f"d{i // 1000:02d}/f{i:06d}" for i in range(20_000)]
    nodes = MemoryNodes()
    root, made = build(nodes, paths)
    height = node_mod.decode(root, nodes.data[root][1])[0] + 1
    current = dict.fromkeys(paths, 1)
    for op, n in edits:
        key = paths[n % len(paths)]
        if op == "add":
            current[key + "x"] = 1
        elif op == "rm":
            current.pop(key, None)
        else:
            current[key] = current.get(key, 1) + 1
    _root, _ = tree.build(sorted(entry(p, size=s) for p, s in current.items()))
    new = nodes.add(_)
    assert len(new) <= len(edits) * 3 * (height + 1), (len(new), height)


@settings(max_examples=40, deadline=None)
@given(base=st.dictionaries(path_st, st.integers(0, 3), max_size=300),
       other=st.dictionaries(path_st, st.integers(0, 3), max_size=300))
def test_diff_via_trees_equals_diff_via_full_listings(base, other):
    nodes = MemoryNodes()
    after = {**base, **other}
    for p in list(base)[::3]:
        after.pop(p, None)
    root_a, made_a = tree.build(sorted(entry(p, size=s) for p, s in base.items()))
    root_b, made_b = tree.build(sorted(entry(p, size=s) for p, s in after.items()))
    nodes.add(made_a)
    nodes.add(made_b)
    a_only, b_only, shared = tree.diff(nodes, root_a, root_b)
    a = {e.path: e for e in a_only}
    b = {e.path: e for e in b_only}
    unchanged = {e.path for d in shared for e in tree.Tree(nodes, d).entries()}
    unchanged |= {p for p in a.keys() & b.keys() if a[p] == b[p]}
    assert b.keys() - a.keys() - unchanged == after.keys() - base.keys()
    assert a.keys() - b.keys() - unchanged == base.keys() - after.keys()
    assert unchanged == {p for p in base.keys() & after.keys() if base[p] == after[p]}


def test_diff_of_two_large_versions_reads_a_few_nodes():
    paths = [f"f{i:06d}" for i in range(100_000)]
    nodes = MemoryNodes()
    root_a, _ = build(nodes, paths)
    root_b, _ = tree.build(sorted([entry(p) for p in paths if p != "f050000"] + [entry("f050000", size=9)]))
    nodes.add(_)
    nodes.reads = 0
    a_only, b_only, shared = tree.diff(nodes, root_a, root_b)
    assert nodes.reads < 20
    assert {e.path for e in b_only} - {e.path for e in a_only} == set()
    a = {e.path: e for e in a_only}
    changed = {e.path for e in b_only if a[e.path] != e}
    assert changed == {"f050000"}


def test_one_changed_file_in_a_large_version_adds_a_few_small_nodes(store):
    files = [InMemory(f"row {i}\n".encode(), f"d{i // 1000:02d}/f{i:05d}.csv") for i in range(20_000)]
    first = store.log("ds", files)
    files[12_345] = InMemory(b"changed\n", files[12_345].logical_path)
    second = store.log("ds", files)
    assert 1 <= second["nodes_added"] <= 6
    assert second["node_bytes"] < 32 << 10
    assert first["nodes_added"] > 100
    same = store.log("ds", files)
    assert same["nodes_added"] == 0 and same["identical_to"] == second["version"]
    assert same["manifest_digest"] == second["manifest_digest"]
    d = store.diff("ds:1.0.0", "ds:2.0.0")
    assert d["modified"] == [files[12_345].logical_path] and d["added"] == d["removed"] == []
    assert len(d["unchanged"]) == 19_999
    assert d["bytes_new"] == len(b"changed\n")


def test_show_of_a_large_version_reads_one_page(store):
    files = [InMemory(f"{i}".encode(), f"f{i:05d}") for i in range(5000)]
    v = store.log("ds", files)
    page = store.assets(v["artifact_version_id"], offset=4990, limit=20)
    assert [a["logical_path"] for a in page] == [f"f{i:05d}" for i in range(4990, 5000)]


def test_asset_ids_are_stable_per_version_and_path(store):
    a = store.log("ds", [InMemory(b"1", "x"), InMemory(b"2", "y")])
    b = store.log("ds", [InMemory(b"1", "x"), InMemory(b"2", "y")])
    ids_a = [x["id"] for x in store.assets(a["artifact_version_id"])]
    assert ids_a == [x["id"] for x in store.assets(a["artifact_version_id"])]
    assert len(set(ids_a) | {x["id"] for x in store.assets(b["artifact_version_id"])}) == 4
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids_a)


def _open_fixture(tmp_path):
    proj = tmp_path / "old"
    proj.mkdir()
    with tarfile.open(os.path.join(FIXTURES, "schema2-store.tar.gz")) as tar:
        tar.extractall(proj, filter="data")
    with open(os.path.join(FIXTURES, "schema2-expected.json")) as f:
        return proj, json.load(f)


def test_a_schema_2_store_migrates_with_every_version_intact(tmp_path):
    proj, expected = _open_fixture(tmp_path)
    with Store.open(proj) as store:
        assert store.catalog.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
        # The search index is built for the migrated versions.
        assert {r["ref"] for r in store.search_rows("production")} == {"team/data:1.0.0"}
        assert {r["ref"] for r in store.find_rows(["nested.k~"])} == set()
        assert {r["ref"] for r in store.find_rows(["rows=501"])} == {"team/data:3.0.0", "team/data:4.0.0"}
        assert "assets" not in store.catalog._table_names()
        assert store.verify(read_data=True)["ok"]
        for ref, want in expected["versions"].items():
            d = store.describe_ref(ref)
            assert (d["artifact_version_id"], d["aliases"], d["tags"], d["metadata"], d["size"]) == (
                want["id"], want["aliases"], want["tags"], want["metadata"], want["size"])
            got = store.assets(d["artifact_version_id"])
            assert got == want["assets"], ref  # ids, hashes, metadata, remote identities kept
            out = tmp_path / "out" / ref.replace("/", "_").replace(":", "_")
            store.download(ref, out)
            files = read_tree(out)
            for a in want["assets"]:
                if a["remote"] and a["content_hash"] is None:
                    continue
                assert blake3.blake3(files.pop(a["logical_path"])).hexdigest() == a["content_hash"]
            assert files == {}
        # Equal content logged in schema 2 now shares one root.
        assert store.describe_ref("team/data:3.0.0")["manifest_digest"] == \
            store.describe_ref("team/data:4.0.0")["manifest_digest"]
        # The migrated store takes new versions, and gc keeps every old one whole.
        store.log("data", [InMemory(b"new", "new.txt")])
        store.delete_version("team/data:2.0.0")
        store.gc()
        assert store.verify(read_data=True)["ok"]
        assert store.assets(expected["versions"]["team/data:1.0.0"]["id"]) == \
            expected["versions"]["team/data:1.0.0"]["assets"]


def test_migration_is_one_transaction(tmp_path, monkeypatch):
    """A failure half-way leaves the schema-2 catalog exactly as it was."""
    proj, _expected = _open_fixture(tmp_path)
    db = proj / ".artstore" / "catalog.db"
    before = db.read_bytes()
    calls = []

    def failing_build(items, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_build(items, **kw)

    real_build = tree.build
    monkeypatch.setattr(tree, "build", failing_build)
    with pytest.raises(RuntimeError):
        Store.open(proj)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    assert conn.execute("SELECT COUNT(*) FROM assets").fetchone()[0] == 323
    conn.close()
    monkeypatch.undo()
    with Store.open(proj) as store:
        assert store.verify()["ok"]
    assert before  # the file was a schema-2 catalog


def _damage_node(store, level=0):
    conn = sqlite3.connect(store.catalog.path)
    conn.execute("DROP TRIGGER nodes_immutable")  # as a hand-edited catalog might have done
    digest, data = conn.execute("SELECT digest, data FROM nodes WHERE level = ? LIMIT 1", (level,)).fetchone()
    raw = bytearray(zstandard.decompress(data))
    raw[raw.index(b"f")] = ord("g")
    conn.execute("UPDATE nodes SET data = ? WHERE digest = ?", (zstandard.compress(bytes(raw)), digest))
    conn.commit()
    conn.close()
    return digest


def test_a_damaged_node_is_found_by_verify_and_refused_by_readers(project, tmp_path):
    with Store.open(project) as store:
        store.log("ds", [InMemory(f"{i}".encode(), f"f{i:04d}") for i in range(2000)])
        store.log("other", [InMemory(b"x", "x")])
        _damage_node(store)
    r = run_cli("verify", "--json", cwd=project)
    assert r.code == 6
    problems = r.json()["problems"]
    assert problems[0]["kind"] == "bad-node" and problems[0]["versions"] == ["ws/ds:1.0.0"]
    for args in (["show", "ds"], ["download", "ds", str(tmp_path / "o")], ["diff", "ds", "other"]):
        r = run_cli(*args, cwd=project)
        assert r.code == 6 and "manifest node" in r.err and len(r.err.strip().splitlines()) == 1, r
    assert run_cli("download", "other", str(tmp_path / "o2"), cwd=project).code == 0


def test_a_missing_node_is_found_by_verify(project):
    with Store.open(project) as store:
        store.log("ds", [InMemory(f"{i}".encode(), f"f{i:04d}") for i in range(2000)])
        conn = sqlite3.connect(store.catalog.path)
        conn.execute("DELETE FROM nodes WHERE level = 0 AND id = (SELECT MAX(id) FROM nodes WHERE level = 0)")
        conn.commit()
        conn.close()
    r = run_cli("verify", "--json", cwd=project)
    assert r.code == 6 and r.json()["problems"][0]["versions"] == ["ws/ds:1.0.0"]
    assert "missing" in r.json()["problems"][0]["detail"]


def test_gc_keeps_the_nodes_of_every_version_and_drops_the_rest(store, tmp_path):
    files = [InMemory(f"{i}".encode(), f"f{i:04d}") for i in range(3000)]
    store.log("ds", files)
    files[5] = InMemory(b"changed", "f0005")
    store.log("ds", files)
    before = store.catalog.scalar("SELECT COUNT(*) FROM nodes")
    assert store.gc()["nodes_removed"] == 0
    store.delete_version("ds:1.0.0")
    summary = store.gc()
    assert 1 <= summary["nodes_removed"] < before
    assert store.verify(read_data=True)["ok"]
    store.download("ds", tmp_path / "o")
    assert (tmp_path / "o" / "f0005").read_bytes() == b"changed"


def test_remote_entries_and_metadata_survive_the_tree(store):
    v = store.log("ds", [RemoteRef("s3://bucket/k", "r/k", 5, {"etag": '"e"'}, {"m": 1}, "ref"),
                         InMemory(b"x", "l", metadata={"nested": {"b": [1, 2.5, None]}})])
    assets = {a["logical_path"]: a for a in store.assets(v["artifact_version_id"])}
    assert assets["r/k"]["remote"] and assets["r/k"]["link"] == "s3://bucket/k"
    assert assets["r/k"]["remote_identity"] == {"etag": '"e"'} and assets["r/k"]["metadata"] == {"m": 1}
    assert assets["l"]["metadata"] == {"nested": {"b": [1, 2.5, None]}} and not assets["l"]["remote"]
    assert store.du()["logical_bytes"] == 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b/c", "b/d", "e/f/g", "h"]), st.binary(max_size=30),
                                min_size=1), min_size=1, max_size=4))
def test_versions_of_a_changing_folder_download_exactly(tmp_path_factory, trees):
    base = tmp_path_factory.mktemp("hist")
    Store.init(base / "p", workspace="ws")
    with Store.open(base / "p") as store:
        for i, files in enumerate(trees):
            if any(p.startswith(q + "/") for p in files for q in files):
                continue
            src = base / f"src{i}"
            write_tree(src, files)
            sources, _ = sources_for_path(str(src))
            v = store.log("ds", sources)
            out = base / f"out{i}"
            store.download(f"ds:{v['version']}", out)
            assert read_tree(out) == files
            shutil.rmtree(out)
        assert store.verify()["ok"]


def test_text_show_lists_one_page_and_says_how_to_see_all(project):
    with Store.open(project) as store:
        store.log("ds", [InMemory(f"{i}".encode(), f"f{i:04d}") for i in range(250)])
    r = run_cli("show", "ds", cwd=project)
    assert r.code == 0 and "in 250 asset(s)" in r.out
    assert "f0099" in r.out and "f0100" not in r.out
    assert "150 more asset(s); 'artstore show ds --all' lists them" in r.out
    r = run_cli("show", "ds", "--all", cwd=project)
    assert "f0249" in r.out and "more asset" not in r.out
    assert len(run_cli("show", "ds", "--json", cwd=project).json()["assets"]) == 250


def test_add_says_when_a_version_is_identical_to_an_earlier_one(project):
    (project / "f").write_bytes(b"x")
    assert "identical" not in run_cli("add", "ds", "f", cwd=project).out
    r = run_cli("add", "ds", "f", cwd=project)
    assert r.code == 0 and r.out.strip().endswith("; identical to 1.0.0"), r.out
    assert run_cli("add", "ds", "f", "--json", cwd=project).json()["identical_to"] == "2.0.0"
