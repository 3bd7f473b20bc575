"""Finding and keeping: full-text search, metadata queries, prune and du --by-artifact."""

import json
import os
import sqlite3

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artstore import InvalidInput, Store
from artstore.ingest import InMemory

KEYS = ["a", "b", "m.x", "m.y"]
values = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False, allow_infinity=False),
                   st.sampled_from(["torch", "jax", "kaggle-src", "x", "Torch", ""]), st.booleans(), st.none())


def _set(doc, key, value):
    parts = key.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
        if not isinstance(doc, dict):
            return
    doc[parts[-1]] = value


docs = st.lists(st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=4), min_size=1, max_size=8)
exprs = st.tuples(st.sampled_from(KEYS), st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "~"]),
                  st.sampled_from(["1", "-2", "0.5", "3e0", "torch", "kag", "true", "false", "x", "T"]))


def _python_match(doc, key, op, raw):
    """find's documented semantics, in plain Python."""
    value = doc
    for p in key.split("."):
        if not isinstance(value, dict) or p not in value:
            return False
        value = value[p]
    number = raw.lstrip("-").replace(".", "", 1).replace("e", "", 1).isdigit() and op != "~"
    if number:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        want = json.loads(raw)
    elif raw in ("true", "false") and op in ("=", "!="):
        if not isinstance(value, bool):
            return False
        return (value == (raw == "true")) == (op == "=")
    else:
        if not isinstance(value, str):
            return False
        if op == "~":
            return raw.lower() in value.lower()
        want = raw
    return {"=": value == want, "!=": value != want, "<": value < want, "<=": value <= want,
            ">": value > want, ">=": value >= want}[op]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents=docs, conditions=st.lists(exprs, min_size=1, max_size=3))
def test_find_equals_a_python_filter_over_the_same_versions(tmp_path_factory, documents, conditions):
    base = tmp_path_factory.mktemp("find")
    Store.init(base, workspace="ws")
    with Store.open(base) as store:
        metadata = []
        for i, pairs in enumerate(documents):
            doc = {}
            for key, value in pairs:
                _set(doc, key, value)
            metadata.append(doc)
            store.log("ds", [InMemory(b"x", "f")], metadata=doc, version=f"{i + 1}.0.0")
        got = {r["version"] for r in store.find_rows([f"{k}{op}{v}" for k, op, v in conditions])}
        want = {f"{i + 1}.0.0" for i, doc in enumerate(metadata)
                if all(_python_match(doc, k, op, v) for k, op, v in conditions)}
        assert got == want


words = st.text(alphabet="abcdefgxyz-_.", min_size=3, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names_=st.lists(st.text(alphabet="abcdefgxyz", min_size=1, max_size=8), min_size=1, max_size=5, unique=True),
       meta=st.lists(st.text(alphabet="abcdefgxyz -_.", max_size=12), min_size=1, max_size=5),
       term=words)
def test_search_finds_every_version_whose_fields_contain_the_term(tmp_path_factory, names_, meta, term):
    base = tmp_path_factory.mktemp("search")
    Store.init(base, workspace="ws")
    with Store.open(base) as store:
        texts = {}
        for i, name in enumerate(names_):
            note = meta[i % len(meta)]
            store.log(name, [InMemory(b"x", "f")], metadata={"note": note}, version_tags=["tg" + name])
            texts[f"ws/{name}:1.0.0"] = " ".join([f"ws/{name}:1.0.0", name, "dataset", "tg" + name, f"note={note}"])
        found = {r["ref"] for r in store.search_rows(term, limit=None)}
        want = {ref for ref, text in texts.items() if all(w.lower() in text.lower() for w in term.split())}
        assert found == want


def _store_with_versions(project):
    with Store.open(project) as store:
        store.log("resnet50", [InMemory(b"w" * 5000, "model.pt")], artifact_type="model",
                  metadata={"framework": "torch", "metrics": {"accuracy": 0.93}, "epochs": 12},
                  aliases=["production"], version_tags=["release"])
        store.log("resnet50", [InMemory(b"v" * 5000, "model.pt")], artifact_type="model",
                  metadata={"framework": "torch", "metrics": {"accuracy": 0.88}, "epochs": 8})
        store.log("mnist", [InMemory(b"d" * 3000, "train.csv")],
                  metadata={"source": "kaggle/mnist", "rows": 60000}, version_tags=["cleaned"])
        run = store.run_named("train-1")
        store.record_lineage(run, store.resolve("mnist")[1]["id"], "consumed")


def test_find_and_search_from_the_command_line(project):
    _store_with_versions(project)
    r = run_cli("find", "--where", "metrics.accuracy>0.9", "--where", "framework=torch", "--refs", cwd=project)
    assert r.code == 0 and r.out.split() == ["ws/resnet50:1.0.0"]
    r = run_cli("find", "--where", "source~KAGGLE", "--json", cwd=project)
    assert [x["ref"] for x in r.json()] == ["ws/mnist:1.0.0"] and r.json()[0]["metadata"]["rows"] == 60000
    assert run_cli("find", "--where", "missing>1", "--refs", cwd=project).out == ""
    assert run_cli("find", "--alias", "latest", "--type", "model", "--refs", cwd=project).out.split() == \
        ["ws/resnet50:2.0.0"]
    assert run_cli("find", "--alias", "production", "--refs", cwd=project).out.split() == ["ws/resnet50:1.0.0"]
    assert run_cli("find", "--consumed-by", "train-1", "--refs", cwd=project).out.split() == ["ws/mnist:1.0.0"]
    assert run_cli("find", "--tag", "cleaned", "--since", "1d", "--refs", cwd=project).out.split() == \
        ["ws/mnist:1.0.0"]
    assert run_cli("find", "--until", "2000-01-01", "--refs", cwd=project).out == ""
    r = run_cli("find", "--sort", "-epochs", "--limit", "1", "--refs", cwd=project)
    assert r.out.split() == ["ws/resnet50:1.0.0"]
    r = run_cli("search", "kaggle", "--json", cwd=project)
    assert [x["ref"] for x in r.json()] == ["ws/mnist:1.0.0"] and "[kaggle]" in r.json()[0]["snippet"]
    assert run_cli("search", "resnet release", "--refs", cwd=project).out.split() == ["ws/resnet50:1.0.0"]
    assert run_cli("search", "RESNET", "--type", "dataset", "--refs", cwd=project).out == ""
    assert "ws/resnet50:1.0.0" in run_cli("search", "production", cwd=project).out


@pytest.mark.parametrize("text", ['"', '""', "*", "a OR b", "NEAR(x y)", "-resnet", "'; DROP TABLE versions; --",
                                  "res*", "%", "_", "\\", "x\" OR \"y", "^resnet", "resnet:", "col:val"])
def test_hostile_search_text_is_literal_or_refused(project, text):
    _store_with_versions(project)
    r = run_cli("search", "--refs", "--", text, cwd=project)
    assert r.code in (0, 5), r
    assert "Traceback" not in r.err and "internal" not in r.err
    if r.code == 5:
        assert len(r.err.strip().splitlines()) == 1
    assert run_cli("verify", cwd=project).code == 0


@pytest.mark.parametrize("expr", ["", ">1", "a>", "a>>1", "a=<1", "..x=1", 'a"b=1', "a.=1", "=", "~"])
def test_malformed_where_is_exit_5_naming_it(project, expr):
    _store_with_versions(project)
    r = run_cli("find", "--where", expr, cwd=project)
    assert r.code == 5 and "cannot read" in r.err and len(r.err.strip().splitlines()) == 1, r


def test_sql_in_a_where_value_is_a_value(project):
    _store_with_versions(project)
    r = run_cli("find", "--where", "framework=torch' OR '1'='1", "--refs", cwd=project)
    assert r.code == 0 and r.out == ""
    r = run_cli("find", "--where", "framework~'); DROP TABLE versions; --", cwd=project)
    assert r.code == 0 and run_cli("verify", cwd=project).code == 0


def test_the_search_index_follows_every_label_change_and_verify_checks_it(project):
    _store_with_versions(project)
    with Store.open(project) as store:
        store.add_aliases("mnist:1.0.0", ["golden"])
        assert [r["ref"] for r in store.search_rows("golden")] == ["ws/mnist:1.0.0"]
        store.add_aliases("resnet50:2.0.0", ["golden"])  # moved: names one version only
        store.log("mnist", [InMemory(b"e", "x")], aliases=["golden"])
        assert [r["ref"] for r in store.search_rows("golden")] == ["ws/mnist:2.0.0", "ws/resnet50:2.0.0"] or \
            {r["ref"] for r in store.search_rows("golden")} == {"ws/mnist:2.0.0", "ws/resnet50:2.0.0"}
        store.set_artifact_tags("mnist", ["vision-set"])
        assert {r["ref"] for r in store.search_rows("vision-set")} == {"ws/mnist:1.0.0", "ws/mnist:2.0.0"}
        store.remove_version_tags("mnist:1.0.0", ["cleaned"])
        assert store.search_rows("cleaned") == []
        store.delete_version("resnet50:1.0.0", force=True)
        assert store.search_rows("release") == []
        assert store.verify()["ok"]
        conn = sqlite3.connect(store.catalog.path)
        conn.execute("DELETE FROM search_index WHERE rowid = (SELECT MIN(rowid) FROM search_index)")
        conn.commit()
        conn.close()
        problems = store.verify()["problems"]
        assert problems and problems[0]["kind"] == "search-index"
    assert run_cli("search", "--reindex", cwd=project).code == 0
    assert run_cli("verify", cwd=project).code == 0


def test_store_find_and_search_give_logged_artifacts(project):
    _store_with_versions(project)
    with Store.open(project) as store:
        found = store.find(["metrics.accuracy>=0.88"], artifact_type="model", sort="version")
        assert [str(a.version) for a in found] == ["1.0.0", "2.0.0"]
        assert found[0].metadata["framework"] == "torch" and found[0].get_asset("model.pt").size == 5000
        hit = store.search("kaggle")[0]
        assert hit.name == "mnist" and "kaggle" in hit.snippet
        with pytest.raises(InvalidInput):
            store.find(["a>"])


def _incompressible(seed, size=20_000):
    """Bytes that stay their size in a store (stores compress by default)."""
    import random

    return random.Random(seed).randbytes(size)


def test_prune_keeps_what_a_rule_keeps_and_gc_returns_the_rest(project, tmp_path):
    with Store.open(project) as store:
        for i in range(6):
            store.log("ds", [InMemory(_incompressible(i), "f"), InMemory(b"shared" * 1000, "s")],
                      aliases=["prod"] if i == 1 else (), version_tags=["release"] if i == 2 else ())
    r = run_cli("prune", "ds", "--keep-last", "2", "--dry-run", "--json", cwd=project)
    plan = r.json()
    assert plan["removed"] == ["ws/ds:1.0.0", "ws/ds:3.0.0", "ws/ds:4.0.0"]
    assert plan["reclaimable_bytes"] >= 3 * 20_000
    assert len(run_cli("versions", "ds", "--json", cwd=project).json()) == 6
    r = run_cli("prune", "ds", "--keep-last", "2", "--keep-tagged", "release", cwd=project)
    assert r.code == 0 and "removed 2 version(s), kept 4" in r.out
    before = run_cli("du", "--json", cwd=project).json()["stored_bytes"]
    assert run_cli("gc", cwd=project).code == 0
    assert run_cli("verify", "--read-data", cwd=project).code == 0
    for v in ("2.0.0", "3.0.0", "5.0.0", "6.0.0"):
        out = tmp_path / v
        assert run_cli("download", f"ds:{v}", out, cwd=project).code == 0
        assert (out / "f").read_bytes() == _incompressible(int(v[0]) - 1)
    assert run_cli("du", "--json", cwd=project).json()["stored_bytes"] <= before
    r = run_cli("prune", "ds", "--keep-last", "0", "--no-keep-aliased", cwd=project)
    assert r.code == 0 and "kept 0" in r.out
    assert run_cli("versions", "ds", cwd=project).code == 3


def test_prune_needs_a_rule_and_refuses_bad_ones(project):
    _store_with_versions(project)
    r = run_cli("prune", "--no-keep-aliased", cwd=project)
    assert r.code == 5 and "needs a rule" in r.err
    assert run_cli("prune", "--keep-within", "soon", cwd=project).code == 5
    assert run_cli("prune", "--keep-last", "-1", cwd=project).code == 5
    assert run_cli("prune", "nosuch", "--keep-last", "1", cwd=project).code == 3


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(st.sampled_from([b"a", b"b", b"c" * 20_000, b"d" * 30_000]), min_size=1, max_size=6),
       aliased=st.integers(0, 5), keep_last=st.integers(0, 3), keep_aliased=st.booleans())
def test_prune_then_gc_never_loses_a_kept_version(tmp_path_factory, contents, aliased, keep_last, keep_aliased):
    base = tmp_path_factory.mktemp("prune")
    Store.init(base, workspace="ws")
    with Store.open(base) as store:
        for i, data in enumerate(contents):
            store.log("ds", [InMemory(data, "f")], aliases=["prod"] if i == aliased else ())
        result = store.prune(["ds"], keep_last=keep_last, keep_aliased=keep_aliased) if keep_last or keep_aliased \
            else None
        if result is None:
            return
        store.gc()
        kept = [ref.split(":")[1] for ref in result["kept"]]
        if keep_aliased and aliased < len(contents):
            assert f"{aliased + 1}.0.0" in kept
        for v in kept:
            i = int(v.split(".")[0]) - 1
            assert b"".join(store.read_asset(f"ds:{v}", "f")) == contents[i]
        assert store.verify(read_data=True)["ok"]


def test_du_by_artifact_shows_unique_and_shared_bytes(project):
    shared = os.urandom(20_000)  # incompressible: stored bytes equal logical ones
    with Store.open(project) as store:
        store.log("a", [InMemory(os.urandom(50_000), "x"), InMemory(shared, "s")])
        store.log("b", [InMemory(os.urandom(30_000), "y"), InMemory(shared, "s")])
    d = run_cli("du", "--by-artifact", "--json", cwd=project).json()
    by = {a["name"]: a for a in d["artifacts"]}
    assert by["a"]["logical_bytes"] == 70_000 and by["b"]["logical_bytes"] == 50_000
    assert by["a"]["unique_bytes"] >= 50_000 > by["b"]["unique_bytes"] >= 30_000
    assert d["shared_bytes"] >= 20_000
    r = run_cli("du", "--by-artifact", cwd=project)
    assert r.code == 0 and "ws/a" in r.out and "shared by several artifacts" in r.out


PRUNE_WRITER = """
import sys
from artstore import Store
from artstore.ingest import InMemory
with Store.open(sys.argv[1]) as store:
    for i in range(int(sys.argv[2])):
        v = store.log("ds", [InMemory(f"content {i}".encode() * 2000, "f")])
        print(v["version"], flush=True)
"""


def test_prune_beside_a_writer_and_gc_loses_no_kept_version(project):
    """A writer logs versions while prune --keep-last 2 and gc run in a loop: every command
    succeeds, the newest versions survive whole and the store verifies."""
    import subprocess
    import sys

    env = {**os.environ, "ARTSTORE_LOCK_TIMEOUT": "60"}
    writer = subprocess.Popen([sys.executable, "-c", PRUNE_WRITER, str(project), "15"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results = []
    while writer.poll() is None:
        results.append(run_cli("prune", "--keep-last", "2", cwd=project, env=env))
        results.append(run_cli("gc", cwd=project, env=env))
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert all(r.code in (0, 3) for r in results), [r for r in results if r.code not in (0, 3)]
    assert run_cli("prune", "--keep-last", "2", cwd=project).code == 0
    assert run_cli("gc", cwd=project).code == 0
    left = [v["version"] for v in run_cli("versions", "ds", "--json", cwd=project).json()]
    assert left == ["14.0.0", "15.0.0"]
    for i, v in ((13, "14.0.0"), (14, "15.0.0")):
        r = run_cli("cat", f"ds:{v}", "f", cwd=project)
        assert r.out == f"content {i}" * 2000
    assert run_cli("verify", "--read-data", cwd=project).code == 0


def test_too_many_conditions_are_one_line_not_an_internal_error(project):
    """900 --where conditions made one SQL expression deeper than SQLite allows (it was
    'internal error: OperationalError', exit 1); 200 still work."""
    _store_with_versions(project)
    many = [arg for i in range(900) for arg in ("--where", f"k{i}=1")]
    r = run_cli("find", *many, cwd=project)
    assert r.code == 5 and "give at most 200" in r.err and "internal error" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = run_cli("find", *many[:400], "--refs", cwd=project)
    assert r.code == 0 and r.out == ""
