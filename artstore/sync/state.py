"""What a remote holds, learned from its immutable indexes and bundles, which are cached
locally under ``.artstore/remotes/NAME/`` once read (they never change): the chunks of
its packs, its file rows and its tree nodes. Listing two folders and reading what is new
since the last time costs a few requests, never one per chunk or file."""

import base64
import os

import blake3

from .. import chunkstore, unzstd
from ..config import CHUNK_BOUNDS
from ..errors import IntegrityError, InvalidInput
from . import layout

# The largest chunk any store makes (FastCDC's largest max_size; pyfastcdc refuses more).
# A pack index gives a chunk's size in 32 bits and a read decompresses a chunk to exactly
# that size, so an entry naming more (4 GiB of zeros is a 130 KB frame with an honest id)
# would have a pull allocate it in each download thread: it is damage, refused with the
# index. Its stored bytes are at most that plus zstd's worst-case growth (under 1 %).
MAX_CHUNK = CHUNK_BOUNDS["max_size"][1]
MAX_STORED = MAX_CHUNK + (MAX_CHUNK >> 7)

# How far a metadata bundle may expand (_add_meta): up to the floor, and past it up to this
# many times its compressed size. Its text is hex and base64 of hashes and compressed
# nodes, about 2-3x compressible; only chunk lists repeating one id (files of zeros)
# compress better, and the floor holds 4 million such ids (4 TiB at 1 MiB chunks).
# meta_bundle never makes a bundle a reader would refuse.
BUNDLE_FLOOR = 256 << 20
BUNDLE_RATIO = 100


def bundle_limit(compressed_size):
    return max(BUNDLE_FLOOR, BUNDLE_RATIO * compressed_size)


# Characters a bundle's text holds per comma, at the least (_add_meta). json.loads makes
# an object of every item, ~60 bytes for an empty list or a short string: 64 MiB of "[],"
# (a frame of 6 KB, well within the floor) took 1.5 GiB to parse. An honest bundle's
# items are long hex and base64 strings; its densest row, an empty file's
# ["<64 hex digits>",0,""], has one comma per 24 characters.
BUNDLE_CHARS_PER_ITEM = 16


class RemoteState:
    def __init__(self, store, name, transport):
        self.transport = transport
        self.cache = os.path.join(store.dir, "remotes", name)
        self.chunks = {}  # chunk id -> (pack name, offset, stored, size, compression)
        self.files = {}  # file digest -> (size, chunk-list blob)
        self.nodes = {}  # node digest -> (level, zstd frame)
        self.pack_chunks = {}  # pack name -> chunk ids its index lists (remote gc)
        self.bundle_rows = {}  # bundle name -> (file digests, node digests) it holds (remote gc)

    def _cached(self, kind, name, fetch):
        path = os.path.join(self.cache, kind, name)
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            pass
        data = fetch()
        self.remember(kind, name, data)
        return data

    def remember(self, kind, name, data):
        """Cache an index or bundle this store has just uploaded (the next push would
        otherwise read back what it wrote)."""
        path = os.path.join(self.cache, kind, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def refresh(self, meta=True, skip=()):
        """Read every index and bundle of the remote (new ones from the remote, the rest from
        the cache), each checked against its name before it is believed. ``meta`` False
        reads only the indexes (where chunks are); keys in ``skip`` (objects a remote gc
        marked for deletion) are left out, as if the remote did not hold them."""
        self.packs = set()
        self.bundles = set()
        for folder, suffix, kind, key, add in (
            (layout.PACKS, ".idx", "idx", layout.index_key, self._add_index),
            (layout.META, ".zst", "meta", layout.meta_key, self._add_meta),
        ):
            if kind == "meta" and not meta:
                continue
            for entry in self.transport.list(folder):
                if entry.endswith(suffix):
                    name = entry[:-len(suffix)]
                    if key(name) in skip:
                        continue
                    (self.packs if kind == "idx" else self.bundles).add(name)
                    add(name, self._cached(kind, name, lambda n=name, k=key: self.transport.read(k(n))))
        return self

    def _add_index(self, name, data):
        header, index = data[:chunkstore.HEADER_SIZE], data[chunkstore.HEADER_SIZE:]
        if len(index) % chunkstore.INDEX_ENTRY.size or chunkstore.pack_name(header, index) != name:
            raise IntegrityError(f"remote object {layout.index_key(name)} does not match its pack's name "
                                 "(damaged or tampered with)")
        ids = self.pack_chunks[name] = set()
        for i in range(0, len(index), chunkstore.INDEX_ENTRY.size):
            cid, offset, stored, size, compression = chunkstore.INDEX_ENTRY.unpack_from(index, i)
            if size > MAX_CHUNK or stored > MAX_STORED:
                raise IntegrityError(f"remote object {layout.index_key(name)} names chunk {cid.hex()} of "
                                     f"{size:,} bytes ({stored:,} stored), more than any store makes "
                                     f"({MAX_CHUNK >> 20} MiB); it is damaged or tampered with")
            self.chunks.setdefault(cid, (name, offset, stored, size, compression))
            ids.add(cid)

    def _add_meta(self, name, data):
        layout.check_named(data, name, layout.meta_key(name))
        try:
            raw = unzstd.expand(data, bundle_limit(len(data)))  # before it is allocated (artstore.unzstd)
        except ValueError as exc:
            raise IntegrityError(f"remote object {layout.meta_key(name)} is damaged ({exc})") from None
        if raw.count(b",") * BUNDLE_CHARS_PER_ITEM > len(raw) + 4096:
            raise IntegrityError(f"remote object {layout.meta_key(name)} is damaged (it lists far more items "
                                 "than its size holds); it is not parsed")
        record = layout.decode(raw, layout.meta_key(name))
        files, nodes = self.bundle_rows[name] = (set(), set())
        try:
            for digest, size, chunks in record.get("files", []):
                files.add(bytes.fromhex(digest))
                self.files.setdefault(bytes.fromhex(digest), (int(size), bytes.fromhex(chunks)))
            for digest, level, data_b64 in record.get("nodes", []):
                nodes.add(bytes.fromhex(digest))
                self.nodes.setdefault(bytes.fromhex(digest), (int(level), base64.b64decode(data_b64)))
        except (TypeError, ValueError) as exc:
            raise IntegrityError(f"remote object {layout.meta_key(name)} is malformed ({exc})") from None

    def meta_bundle(self, files, nodes):
        """(name, bytes) of a bundle of file rows and nodes."""
        import zstandard

        # A random nonce makes every bundle's name new, so a push never depends on an equal
        # bundle that a remote gc has marked for deletion (docs/storage.rst, "Remote gc").
        # The JSON text is what layout.encode makes of {"files", "nodes", "nonce"} (keys
        # sorted, no spaces; hex and base64 need no escaping), formatted directly: a row
        # list per file through json.dumps cost 0.3 s per 100,000 files.
        raw = "".join((
            '{"files":[',
            ",".join([f'["{d.hex()}",{size:d},"{blob.hex()}"]' for d, (size, blob) in sorted(files.items())]),
            '],"nodes":[',
            ",".join([f'["{d.hex()}",{level:d},"{base64.b64encode(data).decode()}"]'
                      for d, (level, data) in sorted(nodes.items())]),
            f'],"nonce":"{os.urandom(8).hex()}"}}',
        )).encode()
        data = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(raw)  # hex compresses as well at 1
        if len(raw) > bundle_limit(len(data)):
            raise InvalidInput(f"the file list of this push takes {len(raw):,} bytes and compresses more than "
                               f"{BUNDLE_RATIO} times (files holding one chunk over and over), more than a pull "
                               "accepts in one bundle; push fewer versions at a time")
        return blake3.blake3(data).hexdigest(), data


def read_markers(transport):
    """[(marker key, created_at seconds, set of object keys)] of the remote gc markers
    (docs/storage.rst, "Remote gc"). A marker that cannot be read is skipped by readers
    that only avoid marked objects; remote gc reports it."""
    out = []
    for entry in transport.list(layout.GC):
        if not entry.endswith(".json"):
            continue
        key = layout.marker_key(entry)
        try:
            record = layout.decode(transport.read(key), key)
        except FileNotFoundError:  # swept meanwhile
            continue
        except IntegrityError:
            continue
        objects = record.get("objects")
        created = record.get("created_at")
        if isinstance(objects, list) and isinstance(created, (int, float)):
            out.append((key, float(created), {o for o in objects if isinstance(o, str)}))
    return out
