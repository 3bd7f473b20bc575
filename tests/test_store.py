"""The storage engine through the Store API: round trips, dedup, immutability, gc, verify."""

import os
import random
import sqlite3

import pytest
from conftest import read_tree, write_tree
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from artstore import Conflict, IntegrityError, InvalidInput, NotFound, Store
from artstore.ingest import InMemory, LocalFile, sources_for_path

names_st = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
trees = st.dictionaries(
    st.lists(names_st, min_size=1, max_size=3).map("/".join), st.binary(max_size=3000), min_size=1, max_size=6
)


def _valid_tree(tree):
    paths = set(tree)
    return not any(p.startswith(q + "/") for p in paths for q in paths)


def add_dir(store, name, root, **kw):
    sources, _skipped = sources_for_path(str(root))
    return store.log(name, sources, **kw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees.filter(_valid_tree))
def test_any_tree_round_trips(tmp_path_factory, tree):
    base = tmp_path_factory.mktemp("rt")
    Store.init(base / "p", workspace="ws")
    with Store.open(base / "p") as store:
        write_tree(base / "src", tree)
        add_dir(store, "data", base / "src")
        store.download("data", base / "out")
    assert read_tree(base / "out") == tree


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300_000))
def test_any_bytes_round_trip(store, tmp_path, data):
    v = store.log("blob", [InMemory(data, "x.bin")])
    assert b"".join(store.read_asset(f"blob:{v['version']}", "x.bin")) == data


def test_versions_number_and_content_hash(store, tmp_path):
    write_tree(tmp_path / "d", {"a.txt": b"hello", "empty": b""})
    v1 = add_dir(store, "ds", tmp_path / "d")
    v2 = add_dir(store, "ds", tmp_path / "d")
    assert (v1["version"], v2["version"]) == ("1.0.0", "2.0.0")
    assert v1["manifest_digest"] == v2["manifest_digest"]
    assets = {a["logical_path"]: a for a in store.assets(v1["artifact_version_id"])}
    import blake3

    assert assets["a.txt"]["content_hash"] == blake3.blake3(b"hello").hexdigest()
    assert assets["empty"]["size"] == 0
    with pytest.raises(Conflict):
        add_dir(store, "ds", tmp_path / "d", version="1.0.0")


def test_identical_content_stores_nothing_new(store, tmp_path):
    write_tree(tmp_path / "d", {"a.bin": os.urandom(500_000), "b.bin": os.urandom(200_000)})
    first = add_dir(store, "ds", tmp_path / "d")
    write_tree(tmp_path / "copy", read_tree(tmp_path / "d"))
    second = add_dir(store, "other", tmp_path / "copy")
    assert first["stored_bytes"] > 700_000
    assert second["stored_bytes"] == 0


def test_edit_in_large_file_stores_few_chunks(store, tmp_path):
    data = bytearray(os.urandom(8 << 20))
    (tmp_path / "big.bin").write_bytes(data)
    store.log("big", [LocalFile(str(tmp_path / "big.bin"), "big.bin")])
    data[4 << 20: (4 << 20) + 100] = os.urandom(100)
    data[1000:1000] = b"inserted"
    (tmp_path / "big.bin").write_bytes(data)
    v2 = store.log("big", [LocalFile(str(tmp_path / "big.bin"), "big.bin")])
    # Two local edits: a handful of ~80 KiB chunks plus the pack's header and index.
    assert v2["stored_bytes"] < 1_000_000
    d = store.diff("big:1.0.0", "big:2.0.0")
    assert d["modified"] == ["big.bin"] and d["bytes_new"] < 1_000_000


def test_large_file_hashed_beside_reading_matches_one_pass(store, tmp_path):
    """Blocks of a large file are hashed on a second thread while the next block is read:
    the file digest, the chunk list and the stored bytes must be what one pass gives, with
    chunks repeated inside a block (zeros) stored once, and a re-add storing nothing."""
    import blake3
    import pyfastcdc

    data = os.urandom(10 << 20) + bytes(5 << 20) + os.urandom((6 << 20) + 12345)
    (tmp_path / "big.bin").write_bytes(data)
    v1 = store.log("big", [LocalFile(str(tmp_path / "big.bin"), "big.bin")])
    digest = blake3.blake3(data).digest()
    assert store.assets(v1["artifact_version_id"])[0]["content_hash"] == digest.hex()
    chunking = store.config.chunking
    cdc = pyfastcdc.FastCDC(chunking["avg_size"], min_size=chunking["min_size"], max_size=chunking["max_size"],
                            normalized_chunking=chunking["normalized_chunking"])
    expected = b"".join(blake3.blake3(c.data).digest() for c in cdc.cut_buf(data))
    assert store.catalog.get_file(digest)[1] == expected
    assert len(data) - (5 << 20) < v1["stored_bytes"] < len(data) - (4 << 20)
    assert b"".join(store.read_asset("big:1.0.0", "big.bin")) == data
    (tmp_path / "copy.bin").write_bytes(data)
    v2 = store.log("big", [LocalFile(str(tmp_path / "copy.bin"), "big.bin")])
    assert v2["stored_bytes"] == 0 and v2["files_read"] == 1
    assert store.verify(read_data=True)["ok"]


def test_unchanged_readd_copies_asset_rows_with_new_ids(store, tmp_path):
    """An unchanged re-add copies the previous version's asset rows inside SQLite: same
    paths, digests, metadata and types, fresh ids, and it survives the first version's deletion."""
    write_tree(tmp_path / "d", {"a.bin": b"a", "sub/b.bin": b"bb", "empty": b""})
    sources, _ = sources_for_path(str(tmp_path / "d"))
    for src in sources:
        src.metadata = {"k": src.logical_path}
        src.asset_type = "t"
    v1 = store.log("ds", sources)
    v2 = store.log("ds", sources_for_path(str(tmp_path / "d"))[0])  # no metadata: a new manifest
    v3 = store.log("ds", sources)
    assert v3["manifest_digest"] == v1["manifest_digest"] != v2["manifest_digest"]

    def rows(v):
        return sorted(store.assets(v["artifact_version_id"]), key=lambda a: a["logical_path"])

    keep = ("logical_path", "size", "content_hash", "metadata", "asset_type", "remote")
    assert [{k: a[k] for k in keep} for a in rows(v3)] == [{k: a[k] for k in keep} for a in rows(v1)]
    ids = [a["id"] for a in rows(v1) + rows(v2) + rows(v3)]
    assert len(set(ids)) == len(ids) == 9 and all(len(i) == 32 for i in ids)
    store.delete_version("ds:1.0.0")
    assert [a["logical_path"] for a in rows(v3)] == ["a.bin", "empty", "sub/b.bin"]
    assert store.verify(read_data=True)["ok"]


def test_stat_cache_skips_reading_unchanged_files(store, tmp_path):
    write_tree(tmp_path / "d", {"a.bin": os.urandom(100_000), "b.bin": os.urandom(100)})
    old = 1_600_000_000
    for f in ("a.bin", "b.bin"):
        os.utime(tmp_path / "d" / f, (old, old))
    first = add_dir(store, "ds", tmp_path / "d")
    assert first["files_read"] == 2
    second = add_dir(store, "ds", tmp_path / "d")
    assert second["files_read"] == 0 and second["manifest_digest"] == first["manifest_digest"]
    (tmp_path / "d" / "b.bin").write_bytes(b"changed")
    third = add_dir(store, "ds", tmp_path / "d")
    assert third["files_read"] == 1


def test_prefetched_hit_is_tied_to_the_stat_it_was_compared_with(store, tmp_path):
    """prefetch compares the stat walk took; a file stored with another stat (it changed
    since it was listed) is looked up again, not answered from the prefetched hit."""
    from artstore import ingest

    path = tmp_path / "d" / "f.bin"
    write_tree(tmp_path / "d", {"f.bin": b"first content"})
    os.utime(path, (1_600_000_000, 1_600_000_000))
    add_dir(store, "ds", tmp_path / "d")
    (listed,), _ = sources_for_path(str(tmp_path / "d"))
    path.write_bytes(b"other content")  # same size, new mtime: changed after the listing
    os.utime(path, (1_600_000_100, 1_600_000_100))
    writer = store.new_writer()
    try:
        ingestor = ingest.Ingestor(store.catalog, writer, store.config.chunking)
        ingestor.prefetch([listed])
        assert ingestor.store_file(listed.os_path, listed.stat_result).digest == _b3(b"first content")
        assert ingestor.files_read == 0  # the listed stat matches the cache: not read
        fresh = os.stat(path)
        assert ingestor.store_file(listed.os_path, fresh).digest == _b3(b"other content")
        assert ingestor.files_read == 1
    finally:
        writer.abort()


def _b3(data):
    import blake3

    return blake3.blake3(data).digest()


def test_racy_entry_is_read_again(store, tmp_path):
    (tmp_path / "f").write_bytes(b"one")
    store.log("r", [LocalFile(str(tmp_path / "f"), "f")])  # mtime is "now": racy
    again = store.log("r", [LocalFile(str(tmp_path / "f"), "f")])
    assert again["files_read"] == 1


def test_stat_cache_entry_of_collected_file_is_not_trusted(store, tmp_path):
    (tmp_path / "f").write_bytes(b"content that will be collected")
    os.utime(tmp_path / "f", (1_600_000_000, 1_600_000_000))
    store.log("r", [LocalFile(str(tmp_path / "f"), "f")])
    store.delete_version("r:1.0.0")
    store.gc()
    v = store.log("r", [LocalFile(str(tmp_path / "f"), "f")])
    assert v["files_read"] == 1
    assert store.verify(read_data=True)["ok"]


def test_catalog_refuses_changes_to_logged_versions(store, tmp_path):
    v = store.log("ds", [InMemory(b"abc", "a")])
    conn = sqlite3.connect(store.catalog.path)
    for sql, params in [
        ("UPDATE versions SET version = '9.9.9' WHERE id = ?", (v["artifact_version_id"],)),
        ("UPDATE versions SET metadata = '{\"x\":1}' WHERE id = ?", (v["artifact_version_id"],)),
        ("UPDATE versions SET manifest_digest = 'x' WHERE id = ?", (v["artifact_version_id"],)),
        ("UPDATE nodes SET data = x'00' WHERE 1 = ?", (1,)),
        ("UPDATE files SET size = 0 WHERE 1 = ?", (1,)),
    ]:
        with pytest.raises(sqlite3.DatabaseError, match="artstore-immutable"):
            conn.execute(sql, params)
    conn.close()


def test_flipped_byte_in_pack_is_found_and_download_refuses(store, tmp_path):
    payload = os.urandom(300_000)
    store.log("ds", [InMemory(payload, "a.bin")])
    store.log("other", [InMemory(b"unrelated", "u")])
    pack = store.catalog.query(
        "SELECT p.name, c.offset FROM chunks c JOIN packs p ON p.id = c.pack_id ORDER BY c.size DESC LIMIT 1"
    )[0]
    path = os.path.join(store.pack_dir, pack["name"] + ".pack")
    with open(path, "r+b") as f:
        f.seek(pack["offset"] + 10)
        byte = f.read(1)
        f.seek(pack["offset"] + 10)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert store.verify()["ok"]  # structure is intact; only reading the data finds it
    result = store.verify(read_data=True)
    assert not result["ok"]
    assert result["problems"][0]["kind"] == "bad-chunk"
    assert result["problems"][0]["versions"] == ["ws/ds:1.0.0"]
    # The whole-file digest catches it; the download then names the damaged chunk and pack.
    with pytest.raises(IntegrityError, match=f"chunk [0-9a-f]{{64}} in pack {pack['name']} does not match"):
        store.download("ds", tmp_path / "out")
    assert not (tmp_path / "out" / "a.bin").exists()
    assert [p for p in os.listdir(tmp_path / "out")] == []
    store.download("other", tmp_path / "out2")


def test_missing_pack_names_affected_versions(store):
    store.log("ds", [InMemory(os.urandom(1000), "a")])
    (name,) = [p["name"] for p in store.catalog.packs()]
    os.unlink(os.path.join(store.pack_dir, name + ".pack"))
    result = store.verify()
    assert not result["ok"]
    assert result["problems"][0]["kind"] == "missing-pack"
    assert result["problems"][0]["versions"] == ["ws/ds:1.0.0"]


def test_gc_removes_only_unreferenced_data(store, tmp_path):
    shared = os.urandom(400_000)
    store.log("a", [InMemory(shared, "s"), InMemory(os.urandom(400_000), "only-a")])
    store.log("b", [InMemory(shared, "s")])
    before = store.du()["stored_bytes"]
    assert store.gc()["chunks_removed"] == 0
    store.delete_version("a:1.0.0")
    summary = store.gc()
    assert summary["chunks_removed"] > 0 and summary["packs_rewritten"] == 1
    assert store.du()["stored_bytes"] < before - 300_000
    assert store.verify(read_data=True)["ok"]
    store.download("b", tmp_path / "out")
    assert (tmp_path / "out" / "s").read_bytes() == shared


def test_gc_dry_run_changes_nothing(store):
    store.log("a", [InMemory(os.urandom(100_000), "x")])
    store.delete_version("a:1.0.0")
    stored = store.du()["stored_bytes"]
    plan = store.gc(dry_run=True)
    assert plan["packs_removed"] == 1 and plan["bytes_freed"] == stored
    assert store.du()["stored_bytes"] == stored
    assert store.gc()["bytes_freed"] == stored
    assert store.du()["stored_bytes"] == 0 and os.listdir(store.pack_dir) == []


def test_gc_removes_leftover_packs_and_temp_files(store):
    store.log("a", [InMemory(b"kept", "x")])
    with open(os.path.join(store.pack_dir, "f" * 64 + ".pack"), "wb") as f:
        f.write(b"orphan")
    with open(os.path.join(store.tmp_dir, "pack-dead.tmp"), "wb") as f:
        f.write(b"junk")
    assert store.verify()["ok"] and store.verify()["notes"]
    s = store.gc()
    assert s["orphans_removed"] == 1 and s["temp_removed"] == 1
    assert os.listdir(store.tmp_dir) == []
    assert b"".join(store.read_asset("a", "x")) == b"kept"


def test_symlink_and_special_file_policy(store, tmp_path):
    src = tmp_path / "src"
    write_tree(src, {"real.txt": b"real", "sub/inner.txt": b"inner"})
    os.symlink(src / "real.txt", src / "link.txt")
    os.symlink(src / "sub", src / "linkdir")
    os.symlink(tmp_path / "nowhere", src / "dangling")
    os.mkfifo(src / "fifo")
    sources, skipped = sources_for_path(str(src))
    assert [s.logical_path for s in sources] == ["link.txt", "real.txt", "sub/inner.txt"]
    reasons = {os.path.basename(p): r for p, r in skipped}
    assert set(reasons) == {"linkdir", "dangling", "fifo"}
    v = store.log("ds", sources)
    store.download(f"ds:{v['version']}", tmp_path / "out")
    assert (tmp_path / "out" / "link.txt").read_bytes() == b"real"
    assert not (tmp_path / "out" / "link.txt").is_symlink()


def test_store_folder_is_never_walked(project, store):
    write_tree(project, {"data/x": b"x"})
    sources, _ = sources_for_path(str(project))
    assert [s.logical_path for s in sources] == ["data/x"]


def _during_read(monkeypatch, size, action):
    """Run ``action`` in the middle of reading a file of ``size`` bytes: inside the read of
    a small file (read whole, below FastCDC's minimum chunk size), or while a larger file is
    streamed through the chunker."""
    from artstore import ingest

    if size < 16 << 10:
        real = ingest._read_all

        def patched(fd, path, want):
            action()
            return real(fd, path, want)

        monkeypatch.setattr(ingest, "_read_all", patched)
    else:
        real = ingest.Ingestor._store_stream

        def patched(self, fileobj, size_hint=None):
            action()
            return real(self, fileobj, size_hint)

        monkeypatch.setattr(ingest.Ingestor, "_store_stream", patched)


@pytest.mark.parametrize("size", [1000, 50_000])
def test_file_changing_while_read_is_refused(store, tmp_path, monkeypatch, size):
    path = tmp_path / "grow.bin"
    path.write_bytes(os.urandom(size))

    def grow():
        with open(path, "ab") as f:
            f.write(b"more")

    _during_read(monkeypatch, size, grow)
    with pytest.raises(Conflict, match="changed while it was being read"):
        store.log("ds", [LocalFile(str(path), "grow.bin")])
    assert store.list_artifacts() == []
    assert os.listdir(store.pack_dir) == [] and os.listdir(store.tmp_dir) == []


@pytest.mark.parametrize("size", [1000, 50_000])
def test_file_replaced_while_read_is_refused(store, tmp_path, monkeypatch, size):
    """Same size, same mtime, but another inode under the name: the read bytes may be the
    old file's, so the version is refused rather than recorded under the new file's stat."""
    path = tmp_path / "swap.bin"
    path.write_bytes(os.urandom(size))
    st = os.stat(path)
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(size))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    _during_read(monkeypatch, size, lambda: os.replace(other, path))
    with pytest.raises(Conflict, match="deleted or replaced while it was being read"):
        store.log("ds", [LocalFile(str(path), "swap.bin")])
    assert store.list_artifacts() == []


@pytest.mark.parametrize("size", [1000, 50_000])
def test_file_deleted_while_read_is_refused(store, tmp_path, monkeypatch, size):
    path = tmp_path / "gone.bin"
    path.write_bytes(b"x" * size)
    _during_read(monkeypatch, size, lambda: os.unlink(path))
    with pytest.raises(Conflict, match="deleted or replaced while it was being read"):
        store.log("ds", [LocalFile(str(path), "gone.bin")])
    assert store.list_artifacts() == []


@pytest.mark.parametrize("size", [1000, 50_000])
@pytest.mark.parametrize("action", ["rename away", "chmod", "hard link", "same-size rewrite"])
def test_whatever_happens_to_the_open_file_during_its_read_refuses_it(store, tmp_path, monkeypatch, size, action):
    """The open file is watched (its fstat before and after the read), not its path: a
    rename elsewhere, a chmod, a new hard link, a rewrite keeping size and mtime all
    show on the inode (ctime, link count), and the version is refused, nothing logged."""
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    st = os.stat(path)

    def act():
        if action == "rename away":
            os.rename(path, tmp_path / "elsewhere.bin")
        elif action == "chmod":
            os.chmod(path, 0o600)
        elif action == "hard link":
            os.link(path, tmp_path / "second-name.bin")
        else:
            with open(path, "r+b") as f:
                f.write(b"\0" * 10)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    _during_read(monkeypatch, size, act)
    with pytest.raises(Conflict, match="changed while it was being read"):
        store.log("ds", [LocalFile(str(path), "f.bin")])
    assert store.list_artifacts() == []
    assert os.listdir(store.pack_dir) == [] and os.listdir(store.tmp_dir) == []


def test_file_deleted_after_listing_is_refused(store, tmp_path):
    write_tree(tmp_path / "d", {"a.bin": b"a", "big.bin": os.urandom(100_000)})
    sources, _ = sources_for_path(str(tmp_path / "d"))
    for name in ("a.bin", "big.bin"):
        os.unlink(tmp_path / "d" / name)
        with pytest.raises(Conflict, match="deleted while it was being read"):
            store.log("ds", [s for s in sources if s.logical_path == name])
    assert store.list_artifacts() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=(16 << 10) + 64))
@example(data=b"")
@example(data=b"\x01" * ((16 << 10) - 1))
@example(data=bytes(range(256)) * 64)  # exactly the minimum size: the chunker's path
@example(data=random.Random(0).randbytes((16 << 10) + 1))
def test_small_data_is_stored_as_fastcdc_cuts_it(store, data):
    """Below FastCDC's minimum size, a file is stored as one chunk whose id is the file's
    digest, without running the chunker: the result must equal the chunker's."""
    import blake3
    import pyfastcdc

    v = store.log("s", [InMemory(data, "x")])
    digest = blake3.blake3(data).digest()
    c = store.config.chunking
    cdc = pyfastcdc.FastCDC(c["avg_size"], min_size=c["min_size"], max_size=c["max_size"],
                            normalized_chunking=c["normalized_chunking"])
    assert store.catalog.get_file(digest) == (len(data), b"".join(blake3.blake3(x.data).digest()
                                                                   for x in cdc.cut_buf(data)))
    assert b"".join(store.read_asset(f"s:{v['version']}", "x")) == data


def test_directory_given_as_a_file_is_a_clear_error(store, tmp_path):
    with pytest.raises(InvalidInput, match="is a directory"):
        store.log("ds", [LocalFile(str(tmp_path), "d")])


def test_missing_path_is_not_found(store, tmp_path):
    with pytest.raises(NotFound):
        sources_for_path(str(tmp_path / "nope"))


def test_pack_rolls_over_at_target_size(project, tmp_path):
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(project / ".artstore" / "config")
    cfg["storage"]["pack_target_size"] = str(200_000)
    with open(project / ".artstore" / "config", "w") as f:
        cfg.write(f)
    with Store.open(project) as store:
        data = os.urandom(1_000_000)
        store.log("ds", [InMemory(data, "x")])
        assert len(store.catalog.packs()) >= 4
        assert b"".join(store.read_asset("ds", "x")) == data
        assert store.verify(read_data=True)["ok"]


def test_zstd_compression_round_trips_and_saves_space(tmp_path):
    Store.init(tmp_path / "p", workspace="ws", storage={"compression": "zstd"})
    with Store.open(tmp_path / "p") as store:
        text = b"the same line of text over and over\n" * 50_000
        noise = os.urandom(200_000)
        v = store.log("ds", [InMemory(text, "t.txt"), InMemory(noise, "n.bin")])
        assert v["stored_bytes"] < len(noise) + len(text) // 10
        assert b"".join(store.read_asset("ds", "t.txt")) == text
        assert b"".join(store.read_asset("ds", "n.bin")) == noise
        assert store.verify(read_data=True)["ok"]


def test_damaged_pack_index_is_found_by_read_data(store):
    store.log("ds", [InMemory(os.urandom(100_000), "f")])
    (pack,) = store.catalog.packs()
    path = os.path.join(store.pack_dir, pack["name"] + ".pack")
    with open(path, "r+b") as f:
        f.seek(-30, os.SEEK_END)  # inside the last index entry
        byte = f.read(1)
        f.seek(-30, os.SEEK_END)
        f.write(bytes([byte[0] ^ 1]))
    result = store.verify(read_data=True)
    assert [p["kind"] for p in result["problems"]] == ["bad-pack"]
    assert result["problems"][0]["versions"] == ["ws/ds:1.0.0"]


def test_writer_thread_error_reaches_the_caller(store, monkeypatch):
    from artstore import chunkstore

    def broken(self, data):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(chunkstore._PackFileWorker, "_write", broken)
    with pytest.raises(OSError, match="Input/output"):
        store.log("ds", [InMemory(os.urandom(10_000_000), "f")])
    assert store.list_artifacts() == []
    assert os.listdir(store.tmp_dir) == [] and os.listdir(store.pack_dir) == []


def test_existing_version_is_refused_before_any_data_is_stored(store):
    store.log("ds", [InMemory(b"first", "a")], version="1.0.0")
    packs_before = sorted(os.listdir(store.pack_dir))
    with pytest.raises(Conflict, match="already has version 1.0.0"):
        store.log("ds", [InMemory(os.urandom(2_000_000), "big")], version="1.0.0")
    with pytest.raises(Conflict, match="type"):
        store.log("ds", [InMemory(os.urandom(2_000_000), "big")], artifact_type="model")
    assert sorted(os.listdir(store.pack_dir)) == packs_before and os.listdir(store.tmp_dir) == []
