"""Hostile input: fuzzed names and metadata, crafted catalog rows and packs, read-only stores."""

import os
import sqlite3
import subprocess
import sys

import pytest
from conftest import craft_version, run_cli, without_dac_override, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artstore import Artifact, ArtstoreError, IntegrityError, InvalidInput, Store
from artstore.ingest import InMemory

SPEC_CODES = {3, 4, 5}

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "/", ":", "..", "a/b", "a:b", "latest", "1.0.0", " x", "x\n", "\x00", "é" * 200]),
)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
anything = st.one_of(json_like, st.binary(max_size=5), st.sets(st.integers(), max_size=2), st.builds(object))


@settings(max_examples=150, deadline=None)
@given(name=hostile_text, alias=hostile_text, tag=hostile_text, version=hostile_text, metadata=anything)
def test_api_rejections_are_clear(name, alias, tag, version, metadata):
    try:
        Artifact(name, "dataset", version=version, aliases=[alias], version_tags=[tag], metadata=metadata)
    except ArtstoreError as exc:
        assert exc.exit_code in SPEC_CODES
        message = str(exc)
        assert message and "\n" not in message.replace("\\n", "")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile_text.filter(lambda s: "\x00" not in s and not s.startswith("-")),
       meta=st.text(max_size=20).filter(lambda s: "\x00" not in s and not s.startswith("-")))
def test_cli_rejections_are_clear(project, name, meta):
    write_tree(project, {"f": b"x"})
    r = run_cli("add", name, "f", "--meta", meta, cwd=project)
    assert "Traceback" not in r.err
    if r.code != 0:
        assert r.code in SPEC_CODES | {2}, r
        if r.code != 2:
            assert len(r.err.strip().splitlines()) == 1, r


def _craft_version(store, logical_path, file_digest, size):
    """Insert a version the way a malicious copy of a store could hold it."""
    craft_version(store.catalog.path, "ds", logical_path, file_digest, size)


@pytest.mark.parametrize("hostile", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt", "a\\..\\..\\x"])
def test_crafted_catalog_path_cannot_escape_destination(store, tmp_path, hostile):
    v = store.log("ds", [InMemory(b"payload", "ok.txt")])
    digest = bytes.fromhex(store.assets(v["artifact_version_id"])[0]["content_hash"])
    _craft_version(store, hostile, digest, 7)
    sentinel = tmp_path / "escape.txt"
    sentinel.write_bytes(b"sentinel")
    dest = tmp_path / "dest" / "inner"
    with pytest.raises(InvalidInput):
        store.download("ds:9.0.0", dest)
    assert sentinel.read_bytes() == b"sentinel"
    assert not dest.exists() or os.listdir(dest) == []
    assert store.verify()["problems"][0]["kind"] == "bad-path"


def test_crafted_chunk_list_cannot_return_wrong_bytes(store, tmp_path):
    good = store.log("good", [InMemory(b"the real content" * 1000, "f")])
    evil = store.log("evil", [InMemory(b"something else" * 1000, "f")])
    d_good = bytes.fromhex(store.assets(good["artifact_version_id"])[0]["content_hash"])
    d_evil = bytes.fromhex(store.assets(evil["artifact_version_id"])[0]["content_hash"])
    conn = sqlite3.connect(store.catalog.path)
    conn.execute("DROP TRIGGER files_immutable")  # as a hand-edited catalog might have done
    evil_chunks = conn.execute("SELECT chunks FROM files WHERE digest = ?", (d_evil,)).fetchone()[0]
    conn.execute("UPDATE files SET chunks = ? WHERE digest = ?", (evil_chunks, d_good))
    conn.commit()
    conn.close()
    # Every chunk is sound; only the whole-file digest shows they are the wrong ones.
    with pytest.raises(IntegrityError, match="do not add up to the recorded file digest"):
        store.download("good", tmp_path / "out")
    assert not (tmp_path / "out" / "f").exists()
    with pytest.raises(IntegrityError):
        b"".join(store.read_asset("good", "f"))


def test_crafted_pack_bytes_are_refused(store, tmp_path):
    store.log("ds", [InMemory(os.urandom(50_000), "f")])
    (pack,) = store.catalog.packs()
    path = os.path.join(store.pack_dir, pack["name"] + ".pack")
    with open(path, "r+b") as f:  # replace the chunk data, keep size and index
        f.seek(24)
        f.write(os.urandom(50_000))
    with pytest.raises(IntegrityError, match="does not match its hash"):
        store.download("ds", tmp_path / "out")
    assert not (tmp_path / "out" / "f").exists()


def test_read_only_store_gives_clear_errors(project, tmp_path):
    write_tree(project, {"f": b"data"})
    assert run_cli("add", "ds", "f", cwd=project).code == 0
    for dirpath, _dirs, files in os.walk(project / ".artstore"):
        os.chmod(dirpath, 0o555)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o444)
    try:
        writes = (["add", "ds", "f"], ["gc"], ["alias", "ds", "prod"],
                  ["download", "ds", str(tmp_path / "run"), "--run", "r1"])
        for args in writes:
            p = subprocess.run([sys.executable, "-m", "artstore", *args], cwd=project, capture_output=True,
                               text=True, preexec_fn=without_dac_override)
            assert p.returncode == 1, p
            assert "read-only" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p
            assert "internal error" not in p.stderr, p
        # Reading never needs to write (see also test_hardening's read-only mount tests).
        for args in (["download", "ds", str(tmp_path / "out")], ["list"], ["verify", "--read-data"]):
            p = subprocess.run([sys.executable, "-m", "artstore", *args], cwd=project, capture_output=True,
                               text=True, preexec_fn=without_dac_override)
            assert p.returncode == 0, p
        assert (tmp_path / "out" / "f").read_bytes() == b"data"
    finally:
        for dirpath, _dirs, files in os.walk(project / ".artstore"):
            os.chmod(dirpath, 0o755)
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o644)
    assert run_cli("verify", "--read-data", cwd=project).code == 0
    assert run_cli("versions", "ds", "--json", cwd=project).json()[0]["version"] == "1.0.0"


def test_store_with_unknown_chunking_is_refused(tmp_path):
    Store.init(tmp_path / "p", workspace="ws").close()
    cfg = tmp_path / "p" / ".artstore" / "config"
    cfg.write_text(cfg.read_text().replace("fastcdc2020", "rabin"))
    with pytest.raises(InvalidInput, match="chunking"):
        Store.open(tmp_path / "p")
