"""The node format: canonical bytes, digest, decoding, and where nodes end.

A node is the UTF-8 JSON text ``[1,LEVEL,ITEMS]`` (format 1) with no white space:
- a leaf (LEVEL 0) lists entries ``[path,size,digest,metadata,asset_type,uri,identity]``;
- an internal node (LEVEL >= 1) lists children ``[first_path,child_digest,count]``.
Digests are lowercase hex BLAKE3; ``metadata`` and ``identity`` are JSON objects with
sorted keys (canonical), absent values are ``null``. A node's digest is the BLAKE3 of
these bytes, so equal entries always give equal bytes and equal digests.
"""

import json
from typing import NamedTuple

import blake3

from ..errors import IntegrityError

FORMAT = 1

# Boundary rule: a node ends after an item whose key hashes to 0 modulo AVERAGE (keys
# only, as Dolt's keySplitter does, so changing an entry never moves a boundary and an
# insertion or removal moves at most the ones beside it), once it holds MIN_ITEMS; it
# ends regardless at MAX_ITEMS items or MAX_BYTES bytes (long or hostile runs).
AVERAGE = 32
MIN_ITEMS = 8
MAX_ITEMS = 256
MAX_BYTES = 64 << 10
# An entry (its metadata, above all) may take at most this many characters of JSON, so a
# node holds at most 4 x (64 Ki + 4 Mi) bytes of UTF-8, under MAX_NODE_BYTES: what a reader
# lets a stored or pulled node expand to (artstore.unzstd), whoever wrote it.
MAX_ENTRY_CHARS = 4 << 20
MAX_NODE_BYTES = 64 << 20

_json_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


class Entry(NamedTuple):
    """One asset of a manifest, as read back from a leaf."""

    path: str
    size: int
    digest: bytes | None  # the file's BLAKE3 (None for a remote asset)
    metadata: dict
    asset_type: str | None
    uri: str | None  # set for a remote asset
    identity: dict | None  # what pins a synced remote object (None: opaque)

    @property
    def remote(self):
        return self.uri is not None


def entry_text(path, size, digest, metadata_json, asset_type, uri, identity_json):
    """The canonical JSON of one leaf entry. ``metadata_json`` and ``identity_json`` are
    canonical JSON texts already (catalog.dumps) or None. Formatted directly: building and
    encoding 100,000 lists cost twice as much."""
    return (
        f'[{_json_str(path)},{size:d},{"null" if digest is None else chr(34) + digest.hex() + chr(34)},'
        f'{metadata_json or "{}"},{"null" if asset_type is None else _json_str(asset_type)},'
        f'{"null" if uri is None else _json_str(uri)},{identity_json or "null"}]'
    )


def child_text(first_path, digest, count):
    return f'[{_json_str(first_path)},"{digest.hex()}",{count:d}]'


def encode(level, item_texts):
    """(digest, bytes) of the node holding these item texts."""
    data = f'[{FORMAT},{level:d},[{",".join(item_texts)}]]'.encode()
    return blake3.blake3(data).digest(), data


def is_boundary(key, level):
    """Whether an item with this key may end a node at this level."""
    salt = b"" if level == 0 else level.to_bytes(2, "little")
    return blake3.blake3(salt + key.encode()).digest(1)[0] % AVERAGE == 0


def is_leaf_boundary(key, _hash=blake3.blake3):
    """``is_boundary(key, 0)``, for the leaf level's one call per entry."""
    return _hash(key.encode()).digest(1)[0] % AVERAGE == 0


def decode(digest, data):
    """(level, items) of a node's bytes, checked against its digest. Leaf items are
    Entry tuples, internal items (first_path, child digest, count) tuples.

    The digest only proves the bytes are the ones recorded, not that they are a node: a
    hand-edited or pulled catalog can hold hashed bytes of any JSON. Everything a reader
    relies on is checked here, once per node, so that no reader meets a wrong type (a
    TypeError deep in bisect or a sum is an "internal error", exit 1, not damage, exit 6):
    every field's type, digests of 32 bytes, counts >= 1, a non-empty internal node, paths
    strictly increasing (find and iter_from bisect them), and no nesting deep enough to
    overflow the parser. NaN and Infinity, which schema 2 stored in asset metadata and the
    migration to trees carried into leaves, come back as the strings 'NaN', 'Infinity'
    (metadata.load_stored's rule), so show --json stays strict JSON."""
    if blake3.blake3(data).digest() != digest:
        raise IntegrityError(f"manifest node {digest.hex()} does not match its digest; run 'artstore verify'")
    try:
        fmt, level, items = json.loads(data, parse_constant=str)
        if fmt != FORMAT or type(level) is not int or level < 0 or type(items) is not list:
            raise ValueError("not a format-1 node")
        if level == 0:
            out = [_entry(item) for item in items]
        else:
            if not items:
                raise ValueError("an internal node without children")
            out = [_child(item) for item in items]
        keys = [item[0] for item in out]
        if not all(map(str.__lt__, keys, keys[1:])):
            raise ValueError("its paths are out of order or one is given twice")
        return level, out
    except (ValueError, TypeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise IntegrityError(f"manifest node {digest.hex()} cannot be read ({reason}); run 'artstore verify'") from None


# Entry fields read by leaf_column (their order in a leaf item).
SIZE, DIGEST = 1, 2


def leaf_column(digest, data, field):
    """One field (SIZE: sizes, DIGEST: file digests in hex, remote entries skipped) of
    every entry a leaf's bytes list, checked against its digest and the field's type as
    ``decode`` does, without building an Entry per item (a push of 100,000 files needs
    only the digests: 0.2 s saved)."""
    if blake3.blake3(data).digest() != digest:
        raise IntegrityError(f"manifest node {digest.hex()} does not match its digest; run 'artstore verify'")
    try:
        fmt, level, items = json.loads(data)
        if fmt != FORMAT or level != 0 or type(items) is not list:
            raise ValueError("not a format-1 leaf")
        out = [item[field] for item in items]
        if field == SIZE:
            if not all(type(n) is int and n >= 0 for n in out):
                raise ValueError("malformed entry")
            return out
        if not all(type(d) is str or d is None for d in out):
            raise ValueError("malformed entry")
        return [d for d in out if d is not None]
    except (ValueError, TypeError, IndexError, RecursionError) as exc:  # as decode's
        raise IntegrityError(f"manifest node {digest.hex()} cannot be read ({exc}); run 'artstore verify'") from None


def hex_digest(text):
    """A 32-byte digest from its hex text (bytes.fromhex alone takes any length and spaces)."""
    if type(text) is not str:
        raise ValueError("a digest that is not text")
    out = bytes.fromhex(text)
    if len(out) != 32:
        raise ValueError(f"digest {text[:80]!r} is not 32 bytes")
    return out


def _entry(item):
    path, size, digest, metadata, asset_type, uri, identity = item
    if (type(path) is not str or type(size) is not int or size < 0 or type(metadata) is not dict
            or not (asset_type is None or type(asset_type) is str) or not (uri is None or type(uri) is str)
            or not (identity is None or type(identity) is dict)):
        raise ValueError("malformed entry")
    return Entry(path, size, None if digest is None else hex_digest(digest), metadata, asset_type, uri, identity)


def _child(item):
    path, digest, count = item
    if type(path) is not str or type(count) is not int or count < 1:
        raise ValueError("malformed child")
    return path, hex_digest(digest), count
