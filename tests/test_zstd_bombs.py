"""zstd frames that expand far beyond what they may hold (a remote is written by other
people's machines): every reader refuses them from the frame's header, before it
allocates the output. zstandard sizes its output from the content size a header declares
and ignores max_output_size when there is one: a 6 KB frame of 200 MB was decompressed
whole by a chunk read, a pull's node and a pull's bundle alike."""

import json
import os
import shutil
import subprocess
import sys

import blake3
import pytest
import zstandard
from conftest import run_cli as run
from test_sync_adversarial4 import _forge_leaf, _one_line_error, _project

from artstore import IntegrityError, Store, chunkstore
from artstore.tree import node as node_mod

BOMB = 200 << 20  # bytes a bomb expands to


def _bomb(size=BOMB):
    return zstandard.ZstdCompressor(level=3).compress(b"\0" * size)


def _peak_rss_mib(*args, cwd):
    """(CompletedProcess, peak RSS in MiB) of ``python -m artstore ARGS``: measured by a
    parent of its own, whose only child it is (RUSAGE_CHILDREN is a maximum over all)."""
    probe = ("import resource, subprocess, sys\n"
             "r = subprocess.run([sys.executable, '-m', 'artstore', *sys.argv[1:]], capture_output=True, text=True)\n"
             "sys.stderr.write(r.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
             "sys.exit(r.returncode)\n")
    r = subprocess.run([sys.executable, "-c", probe, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    return r, int(r.stdout.strip().splitlines()[-1])


def test_a_chunk_frame_declaring_more_than_its_index_entry_is_refused_unread():
    bomb = _bomb()
    assert len(bomb) < 64 << 10
    with pytest.raises(IntegrityError, match="would expand to 209,715,200 bytes"):
        chunkstore.decode(bomb, 100, chunkstore.ZSTD, b"\1" * 32, "pack p")
    # The same through a process of its own, whose peak memory shows whether it was
    # decompressed (it was, 200 MB, before the header was read first).
    probe = ("import resource, zstandard\n"
             "from artstore import chunkstore, IntegrityError\n"
             f"bomb = zstandard.ZstdCompressor(level=3).compress(bytes({BOMB}))\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "try:\n"
             "    chunkstore.decode(bomb, 100, chunkstore.ZSTD, bytes(32), 'pack p')\n"
             "except IntegrityError:\n"
             "    pass\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(r.stdout) < 20, r.stdout  # MiB the refusal added to the peak


def test_a_chunk_frame_declaring_less_or_nothing_is_still_held_to_its_entry():
    data = os.urandom(1000)
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(data)
    assert chunkstore.decode(frame, 1000, chunkstore.ZSTD, chunkstore.chunk_id(data), "pack p") == data
    with pytest.raises(IntegrityError, match="does not decompress"):
        chunkstore.decode(frame, 999, chunkstore.ZSTD, chunkstore.chunk_id(data), "pack p")
    with pytest.raises(IntegrityError, match="decompresses to 1000 bytes, not 1001"):
        chunkstore.decode(frame, 1001, chunkstore.ZSTD, chunkstore.chunk_id(data), "pack p")
    with pytest.raises(IntegrityError, match="does not decompress"):
        chunkstore.decode(b"not zstd", 8, chunkstore.ZSTD, bytes(32), "pack p")


def test_a_remote_node_expanding_past_the_node_limit_enters_no_store(tmp_path):
    """A leaf whose one entry carries 70 MB of metadata compresses to a few KB: clone,
    pull and verify --remote-store refuse it with one line naming it (exit 6), and the
    clone's peak memory stays where a clone of the honest remote has it."""
    project = _project(tmp_path)
    assert run("push", "../remote", cwd=project).code == 0
    honest, base_mib = _peak_rss_mib("clone", tmp_path / "remote", tmp_path / "honest", cwd=tmp_path)
    assert honest.returncode == 0, honest.stderr
    big = "x" * (node_mod.MAX_NODE_BYTES + (6 << 20))
    bombed = tmp_path / "bombed"
    shutil.copytree(tmp_path / "remote", bombed)
    digest = _forge_leaf(bombed, lambda items: [[*items[0][:3], {"k": big}, *items[0][4:]], *items[1:]])
    r, mib = _peak_rss_mib("clone", bombed, tmp_path / "c", cwd=tmp_path)
    assert r.returncode == 6 and digest in r.stderr and "would expand" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "c").exists()
    assert mib < base_mib + 40, (mib, base_mib)
    checker = tmp_path / "checker"
    Store.init(checker, workspace="ws").close()
    r = run("verify", "--remote-store", bombed, "--json", cwd=checker)
    assert r.code == 6 and any(digest in p["detail"] for p in r.json()["problems"]), r
    r = run("pull", bombed, cwd=checker)
    _one_line_error(r, 6)
    assert Store.open(checker).catalog.version_roots() == []


def test_a_remote_bundle_expanding_past_its_limit_enters_no_store(tmp_path):
    """A metadata bundle is near-random text (hex, base64), about 2-3x compressible: one
    that expands past the floor (256 MiB) and more than 100 times is refused before it is
    expanded."""
    from artstore.sync import state

    project = _project(tmp_path)
    assert run("push", "../remote", cwd=project).code == 0
    bundle = next((tmp_path / "remote" / "meta").iterdir())
    rec = json.loads(zstandard.ZstdDecompressor().decompress(bundle.read_bytes()))
    rec["nonce"] = "0" * (state.BUNDLE_FLOOR + (8 << 20))
    z = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(
        json.dumps(rec, sort_keys=True, separators=(",", ":")).encode())
    assert len(z) * state.BUNDLE_RATIO < state.BUNDLE_FLOOR
    name = blake3.blake3(z).hexdigest()
    bundle.unlink()
    (tmp_path / "remote" / "meta" / f"{name}.zst").write_bytes(z)
    r, _mib = _peak_rss_mib("clone", tmp_path / "remote", tmp_path / "c", cwd=tmp_path)
    assert r.returncode == 6 and name in r.stderr and "would expand" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_remote_bundle_of_many_tiny_items_is_refused_before_it_is_parsed(tmp_path):
    """Within the floor, a bundle's text can still cost many times its size to parse:
    json.loads makes an object of every item, and 64 MiB of "[]," (6 KB compressed) took
    a clone 1.5 GiB. A bundle listing more items than an honest one of its size could is
    refused before it is parsed."""
    project = _project(tmp_path)
    assert run("push", "../remote", cwd=project).code == 0
    honest, base_mib = _peak_rss_mib("clone", tmp_path / "remote", tmp_path / "honest", cwd=tmp_path)
    assert honest.returncode == 0, honest.stderr
    bundle = next((tmp_path / "remote" / "meta").iterdir())
    text = b'{"files":[' + b"[]," * ((64 << 20) // 3) + b'[]],"nodes":[],"nonce":"n"}'
    z = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(text)
    name = blake3.blake3(z).hexdigest()
    bundle.unlink()
    (tmp_path / "remote" / "meta" / f"{name}.zst").write_bytes(z)
    r, mib = _peak_rss_mib("clone", tmp_path / "remote", tmp_path / "c", cwd=tmp_path)
    assert r.returncode == 6 and name in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert mib < base_mib + 300, (mib, base_mib)  # the text itself (64 MiB) and its copy, no more


def test_an_honest_bundle_is_never_refused_for_its_items(tmp_path):
    """The densest honest rows (empty files: no chunks) and nodes pass the item check."""
    from artstore.sync import state

    Store.init(tmp_path / "s", workspace="ws").close()
    with Store.open(tmp_path / "s") as store:
        remote = state.RemoteState(store, "origin", None)
        empty = {os.urandom(32): (0, b"") for _ in range(10_000)}
        name, data = remote.meta_bundle(empty, {os.urandom(32): (0, b"x")})
        remote._add_meta(name, data)
        assert set(empty) <= set(remote.files)


def test_an_honest_bundle_of_a_huge_sparse_file_is_within_the_floor():
    """The chunk list of a file of zeros repeats one id, so its bundle text compresses far
    better than 100x; the floor takes it (a 2 TiB sparse file at 1 MiB chunks)."""
    from artstore.sync import state

    text = json.dumps({"files": [["ab" * 32, 2 << 40, ("cd" * 32) * (2 << 20)]], "nodes": [], "nonce": "n"})
    z = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(text.encode())
    assert len(text) < state.BUNDLE_FLOOR and len(text) > state.BUNDLE_RATIO * len(z)


def test_logging_an_asset_whose_metadata_would_overflow_a_node_is_refused(tmp_path):
    """What a reader refuses from a remote, a writer never makes: an asset's metadata may
    take at most MAX_ASSET_CHARS characters, refused when it is added (the API) or before
    its file is read (log), and no entry over MAX_ENTRY_CHARS reaches a node."""
    from artstore import Artifact, InvalidInput
    from artstore.ingest import InMemory
    from artstore.metadata import MAX_ASSET_CHARS

    Store.init(tmp_path / "s", workspace="ws").close()
    with Store.open(tmp_path / "s") as store:
        ok = InMemory(b"x", "ok.bin", metadata={"k": "y" * (MAX_ASSET_CHARS - 100)})
        store.log("fits", [ok])
        big = InMemory(b"x", "big.bin", metadata={"k": "y" * MAX_ASSET_CHARS})
        with pytest.raises(InvalidInput, match="metadata of big.bin takes 4,128,776 characters"):
            store.log("big", [big])
        assert [a["name"] for a in store.catalog.list_artifacts()] == ["fits"]
        assert store.verify()["ok"]
    artifact = Artifact("big", "dataset")
    with pytest.raises(InvalidInput, match="asset metadata takes"):
        artifact.add(str(tmp_path), metadata={"k": "y" * MAX_ASSET_CHARS})
    # Any other writer of entries (a remote reference's URI and identity) meets the node's own limit.
    with pytest.raises(InvalidInput, match="may take at most"):
        from artstore import tree

        tree.build([("a", "x" * (node_mod.MAX_ENTRY_CHARS + 1))])


def test_the_node_limit_holds_the_largest_node_a_writer_makes():
    # A node is cut once its text reaches MAX_BYTES characters, after its last entry; a
    # character is at most 4 bytes of UTF-8.
    assert 4 * (node_mod.MAX_BYTES + node_mod.MAX_ENTRY_CHARS) < node_mod.MAX_NODE_BYTES


def test_a_pusher_never_makes_a_bundle_a_puller_would_refuse(tmp_path, monkeypatch):
    """With the floor lowered to 1 MiB: a bundle whose chunk lists repeat one id past the
    floor is refused by push with a line saying what to do, before anything is sent."""
    from artstore import InvalidInput
    from artstore.sync import state

    monkeypatch.setattr(state, "BUNDLE_FLOOR", 1 << 20)
    Store.init(tmp_path / "s", workspace="ws").close()
    with Store.open(tmp_path / "s") as store:
        remote = state.RemoteState(store, "origin", None)
        repeated = {b"\1" * 32: (40_000 << 20, b"\2" * 32 * 40_000)}
        with pytest.raises(InvalidInput, match="push fewer versions at a time"):
            remote.meta_bundle(repeated, {})
        honest = {os.urandom(32): (100, os.urandom(32 * 40_000))}
        name, data = remote.meta_bundle(honest, {})
        remote._add_meta(name, data)  # and a puller takes it
        assert set(remote.files) == set(honest)


def _repack_as_one_chunk(remote, data):
    """Put ``data`` on the file remote as one chunk of a new pack (a correct pack, index
    and name) and point the file row of ``data`` in the remote's bundle at that one chunk."""
    frame = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(data)
    cid = chunkstore.chunk_id(data)
    header = chunkstore.PACK_MAGIC + os.urandom(16)
    index = chunkstore.INDEX_ENTRY.pack(cid, len(header), len(frame), len(data), chunkstore.ZSTD)
    name = chunkstore.pack_name(header, index)
    packs = remote / "packs"
    (packs / f"{name}.pack").write_bytes(
        header + frame + index + chunkstore.FOOTER.pack(1, len(header) + len(frame), chunkstore.INDEX_MAGIC))
    (packs / f"{name}.idx").write_bytes(header + index)
    bundle = next((remote / "meta").iterdir())
    rec = json.loads(zstandard.ZstdDecompressor().decompress(bundle.read_bytes()))
    digest = blake3.blake3(data).hexdigest()
    rows = [row for row in rec["files"] if row[0] == digest]
    assert rows, "the file is not in the bundle"
    rows[0][2] = cid.hex()
    z = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(
        json.dumps(rec, sort_keys=True, separators=(",", ":")).encode())
    bundle.unlink()
    (remote / "meta" / f"{blake3.blake3(z).hexdigest()}.zst").write_bytes(z)
    return cid.hex()


def test_a_remote_chunk_larger_than_any_chunker_makes_is_refused_before_it_is_read(tmp_path):
    """A pack index gives each chunk's size in 32 bits, and a chunk is decompressed to
    exactly that size: a remote could name a chunk of 4 GiB of zeros (a frame of 130 KB,
    whose id is honest) and a pull allocated it, in each of its download threads. No store
    makes a chunk over 16 MiB (FastCDC's largest max_size); an entry naming a larger one
    is damage, refused when the index is read."""
    from artstore.config import CHUNK_BOUNDS

    data = b"\0" * (CHUNK_BOUNDS["max_size"][1] + 1)
    project = _project(tmp_path)
    (project / "data" / "zeros.bin").write_bytes(data)
    assert run("add", "ds", "data", cwd=project).code == 0
    assert run("push", "../remote", cwd=project).code == 0
    cid = _repack_as_one_chunk(tmp_path / "remote", data)
    r = run("clone", tmp_path / "remote", tmp_path / "c", cwd=tmp_path)
    _one_line_error(r, 6)
    assert cid in r.err and "16 MiB" in r.err, r.err
    assert not (tmp_path / "c").exists()
    checker = tmp_path / "checker"
    Store.init(checker, workspace="ws").close()
    r = run("verify", "--remote-store", tmp_path / "remote", "--json", cwd=checker)
    assert r.code == 6 and any(cid in p["detail"] for p in r.json()["problems"]), r


def test_a_schema_2_store_with_metadata_over_the_writers_limit_still_migrates(tmp_path):
    """Schema 2 took metadata of any size. The writer's limit on an entry (4 Mi
    characters) applied to the migration as well, so such a store refused every command,
    'list' and 'verify' included (exit 5, 'put large data in a file'). The migration keeps
    every entry whose node a reader takes, and refuses one that no reader would take with
    one line naming it, the catalog as it was."""
    from test_tree_adversarial import _schema2_store

    def with_metadata(chars):
        meta = json.dumps({"k": "y" * chars})
        return lambda conn: conn.execute("UPDATE assets SET metadata = ? WHERE logical_path = 'train/a.csv'",
                                         (meta,))

    (tmp_path / "fits").mkdir()
    (tmp_path / "over").mkdir()
    proj = _schema2_store(tmp_path / "fits", with_metadata(node_mod.MAX_ENTRY_CHARS + (1 << 20)))
    r = run("verify", "--json", cwd=proj)
    assert r.code == 0 and r.json()["ok"], r
    with Store.open(proj) as store:
        found = [a for v in store.catalog.version_roots() for a in store.assets(v[0])
                 if a["logical_path"] == "train/a.csv"]
        assert found and len(found[0]["metadata"]["k"]) == node_mod.MAX_ENTRY_CHARS + (1 << 20)

    proj = _schema2_store(tmp_path / "over", with_metadata(node_mod.MAX_NODE_BYTES))
    before = (proj / ".artstore" / "catalog.db").read_bytes()
    r = run("list", cwd=proj)
    _one_line_error(r, 5)
    assert "cannot migrate" in r.err and "train/a.csv" in r.err and "64 MiB" in r.err, r
    assert (proj / ".artstore" / "catalog.db").read_bytes() == before
