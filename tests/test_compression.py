"""Compression: the default for new stores, the auto probe, the read path and du."""

import configparser
import os
import random

import pytest
from conftest import run_cli

from artstore import Store, chunkstore
from artstore.errors import IntegrityError, InvalidInput
from artstore.ingest import InMemory


def text_like(n, seed=0):
    """Compressible bytes that do not repeat (words drawn at random): ~3x with zstd."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(2000)]
    out, size = [], 0
    while size < n:
        line = b" ".join(rng.choices(words, k=12)) + b"\n"
        out.append(line)
        size += len(line)
    return b"".join(out)[:n]


def chunk_rows(store):
    return store.catalog.query("SELECT size, stored_size, compression FROM chunks")


def test_new_stores_compress_with_auto_at_level_3(tmp_path):
    Store.init(tmp_path / "p", workspace="ws").close()
    cfg = configparser.ConfigParser()
    cfg.read(tmp_path / "p" / ".artstore" / "config")
    assert cfg["storage"]["compression"] == "auto" and cfg["storage"]["compression_level"] == "3"


def test_a_config_without_a_compression_key_stays_uncompressed(tmp_path):
    """Stores written before compression became the default keep storing raw chunks."""
    Store.init(tmp_path / "p", workspace="ws").close()
    path = tmp_path / "p" / ".artstore" / "config"
    cfg = configparser.ConfigParser()
    cfg.read(path)
    del cfg["storage"]["compression"]
    del cfg["storage"]["compression_level"]
    with open(path, "w") as f:
        cfg.write(f)
    with Store.open(tmp_path / "p") as store:
        assert store.config.storage["compression"] == "none"
        store.log("ds", [InMemory(text_like(300_000), "t.txt")])
        assert {r["compression"] for r in chunk_rows(store)} == {chunkstore.RAW}


def test_auto_compresses_text_and_stores_random_bytes_raw(store):
    text, noise = text_like(2_000_000), os.urandom(2_000_000)
    v = store.log("ds", [InMemory(text, "t.txt"), InMemory(noise, "n.bin")])
    rows = chunk_rows(store)
    raw = [r for r in rows if r["compression"] == chunkstore.RAW]
    packed = [r for r in rows if r["compression"] == chunkstore.ZSTD]
    assert sum(r["size"] for r in raw) == len(noise)
    assert sum(r["size"] for r in packed) == len(text)
    assert sum(r["stored_size"] for r in packed) < len(text) / 2
    assert v["stored_bytes"] < len(noise) + len(text) / 2
    assert b"".join(store.read_asset("ds", "t.txt")) == text
    assert b"".join(store.read_asset("ds", "n.bin")) == noise
    assert store.verify(read_data=True)["ok"]


def test_the_auto_probe_skips_the_full_attempt_on_incompressible_chunks(monkeypatch):
    encoder = chunkstore.Encoder("auto", 3)
    calls = []
    real = encoder._full

    class Spy:
        def compress(self, data):
            calls.append(len(data))
            return real.compress(data)

    encoder._full = Spy()
    noise = os.urandom(80_000)
    assert encoder.encode(noise) == (noise, chunkstore.RAW) and calls == []
    stored, how = encoder.encode(text_like(80_000))
    assert how == chunkstore.ZSTD and calls == [80_000] and len(stored) < 40_000
    small = os.urandom(5000)  # too small to sample: tried whole, kept raw as it does not shrink
    assert encoder.encode(small) == (small, chunkstore.RAW) and calls[-1] == 5000
    assert chunkstore.Encoder("none").encode(text_like(80_000))[1] == chunkstore.RAW


@pytest.mark.parametrize("mode", ["auto", "zstd"])
@pytest.mark.parametrize("one_call", [True, False])
def test_a_batch_encodes_as_each_chunk_alone(mode, one_call, monkeypatch):
    """encode_batch compresses the small chunks of a batch in one call (or one at a time
    where the zstd backend has no such call): the same stored bytes and kinds, in the same
    order, as ``encode`` of each chunk, with already-encoded items passed through."""
    rng = random.Random(7)
    batch = []
    for i in range(300):
        size = rng.choice([0, 1, 100, 3000, 8192, 8193, 20_000, 70_000])
        data = text_like(size, seed=i) if i % 2 else rng.randbytes(size)
        batch.append((chunkstore.chunk_id(data), data))
        if i % 37 == 0:
            batch.append((b"s" * 32, b"stored", 99, chunkstore.ZSTD))
    encoder = chunkstore.Encoder(mode, 3)
    if not one_call:
        class NoBatchCall:  # the cffi backend's compressor: compress only
            def __init__(self, real):
                self.compress = real.compress

        monkeypatch.setattr(encoder, "_full", NoBatchCall(encoder._full))
    expected = [item if len(item) == 4 else (item[0], *encoder.encode(item[1])[:1], len(item[1]),
                                             encoder.encode(item[1])[1]) for item in batch]
    got = encoder.encode_batch(batch)
    assert [(c, bytes(s), n, how) for c, s, n, how in got] == [(c, bytes(s), n, how) for c, s, n, how in expected]
    assert {how for _c, _s, _n, how in got} == {chunkstore.RAW, chunkstore.ZSTD}


def test_chunks_keep_the_order_they_were_added_across_encoder_threads(tmp_path):
    pack_dir, tmp_dir = tmp_path / "packs", tmp_path / "tmp"
    pack_dir.mkdir()
    tmp_dir.mkdir()
    writer = chunkstore.PackWriter(str(pack_dir), str(tmp_dir), compression="auto", target_size=3 << 20)
    writer._BATCH_BYTES = 200_000  # many batches in flight at once
    chunks = []
    for i in range(120):
        data = text_like(60_000, seed=i) if i % 3 else os.urandom(60_000)
        cid = chunkstore.chunk_id(data)
        chunks.append((cid, data))
        writer.add(cid, data)
    packs = writer.finish()
    assert len(packs) > 1
    # One sealer thread seals the packs in order, so they list every chunk in add order.
    assert [e[0] for p in packs for e in p.entries] == [cid for cid, _ in chunks]
    for pack in packs:
        offsets = [e[1] for e in pack.entries]
        assert offsets == sorted(offsets) and offsets[0] == chunkstore.HEADER_SIZE
    reader = chunkstore.PackReader(str(pack_dir))
    data_of = dict(chunks)
    for pack in packs:
        for cid, offset, stored, size, how in pack.entries:
            assert reader.read(cid, pack.name, offset, stored, size, how) == data_of[cid]
    reader.close()


def test_download_of_a_large_compressed_file_round_trips(store, tmp_path):
    """Several runs of compressed chunks: read and decompressed ahead, hashed, written."""
    text = text_like(20_000_000, seed=5) + os.urandom(3_000_000) + text_like(2_000_000, seed=6)
    store.log("ds", [InMemory(text, "big.txt"), InMemory(b"tiny", "tiny.txt")])
    store.download("ds", str(tmp_path / "out"))
    assert (tmp_path / "out" / "big.txt").read_bytes() == text
    assert (tmp_path / "out" / "tiny.txt").read_bytes() == b"tiny"


def test_a_damaged_compressed_chunk_is_named_on_download(store, tmp_path):
    text = text_like(3_000_000, seed=7)
    store.log("ds", [InMemory(text, "t.txt")])
    (pack,) = store.catalog.packs()
    row = store.catalog.query("SELECT id, offset, stored_size FROM chunks WHERE compression = 1 LIMIT 1")[0]
    path = os.path.join(store.pack_dir, pack["name"] + ".pack")
    with open(path, "r+b") as f:
        f.seek(row["offset"] + row["stored_size"] // 2)
        byte = f.read(1)
        f.seek(row["offset"] + row["stored_size"] // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(IntegrityError, match=row["id"].hex()):
        store.download("ds", str(tmp_path / "out"))
    assert not (tmp_path / "out" / "t.txt").exists()
    problems = store.verify(read_data=True)["problems"]
    assert [p["kind"] for p in problems] == ["bad-chunk"] and row["id"].hex() in problems[0]["detail"]


def test_du_separates_dedup_from_compression(store):
    text = text_like(1_000_000, seed=8)
    store.log("ds", [InMemory(text, "a.txt")])
    store.log("ds", [InMemory(text, "a.txt"), InMemory(text, "b.txt")])
    du = store.du()
    assert du["logical_bytes"] == 3 * len(text) and du["distinct_bytes"] == len(text)
    assert du["dedup_ratio"] == 3.0
    assert du["compression_saving_bytes"] == len(text) - du["compressed_bytes"] > len(text) / 2
    assert du["compression_ratio"] > 2
    assert du["compressed_bytes"] < du["stored_bytes"] < du["compressed_bytes"] + 1000


def test_init_chooses_the_compression_and_refuses_bad_settings(tmp_path):
    assert run_cli("init", "a", "--workspace", "ws", "--compression", "none", cwd=tmp_path).code == 0
    cfg = configparser.ConfigParser()
    cfg.read(tmp_path / "a" / ".artstore" / "config")
    assert cfg["storage"]["compression"] == "none"
    bad = run_cli("init", "b", "--compression", "lz4", cwd=tmp_path)
    assert bad.code == 2 and "Traceback" not in bad.err
    bad = run_cli("init", "c", "--compression-level", "40", cwd=tmp_path)
    assert bad.code == 2 and not (tmp_path / "c" / ".artstore").exists()
    with pytest.raises(InvalidInput, match="compression"):
        Store.init(tmp_path / "d", workspace="ws", storage={"compression": "brotli"})
    assert not (tmp_path / "d").exists() or os.listdir(tmp_path / "d") == []
    du = run_cli("du", cwd=tmp_path / "a")
    assert "compression saved" in du.out and "dedup ratio" in du.out


def test_a_batch_of_only_empty_chunks_encodes():
    """zstd's batch call refuses a batch whose inputs are all empty: such chunks are
    encoded one by one (artstore makes no empty chunk today; the encoder must not care)."""
    encoder = chunkstore.Encoder("auto", 3)
    batch = [(chunkstore.chunk_id(b""), b"")] * 3
    got = encoder.encode_batch(batch)
    assert [(c, bytes(s), n) for c, s, n, _how in got] == [(chunkstore.chunk_id(b""), b"", 0)] * 3
