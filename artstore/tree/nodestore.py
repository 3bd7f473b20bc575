"""Tree nodes in the catalog: zstd-compressed, hash-checked on every read."""

from .. import unzstd
from ..errors import IntegrityError
from . import node as node_mod

ZSTD_LEVEL = 3


class NodeStore:
    """Loads nodes through a Catalog (which holds the SQL; NewNodes saves them). Internal
    nodes are cached, since every walk starts at a root; leaves are not, so that walking a
    version of millions of entries holds one batch of them at a time."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._internal = {}

    def load(self, digests, level=None):
        """{digest: (level, items)} for the given node digests (node.decode's shape).

        ``level``: the level their parent puts them at. A node's bytes can be sound and
        still not belong where it is named (a hashed node of another level, crafted or
        pulled): a walk that took a leaf's entries for children, or children for entries,
        would fail with a TypeError or list child tuples as assets, so a walk says what it
        expects and a node at another level is damage (IntegrityError)."""
        out = {d: self._internal[d] for d in digests if d in self._internal}
        wanted = [d for d in digests if d not in out]
        if wanted:
            rows = self.catalog.nodes_get(wanted)
            for digest in wanted:
                data = self._bytes_of(digest, rows.get(digest))
                got = node_mod.decode(digest, data)
                if got[0]:
                    self._internal[digest] = got
                out[digest] = got
        if level is not None:
            for digest, (got, _items) in out.items():
                if got != level:
                    raise IntegrityError(f"manifest node {digest.hex()} is at level {got} where its parent "
                                         f"expects level {level}; run 'artstore verify'")
        return out

    def _bytes_of(self, digest, blob):
        """A node's bytes from its stored (compressed) blob, None meaning missing."""
        if blob is None:
            raise IntegrityError(f"manifest node {digest.hex()} is missing from the catalog; run 'artstore verify'")
        try:
            return unzstd.expand(blob, node_mod.MAX_NODE_BYTES)
        except ValueError as exc:
            raise IntegrityError(f"manifest node {digest.hex()} is damaged ({exc}); run 'artstore verify'") from None

    def leaf_column(self, leaves, field, rows=None):
        """One field (node.SIZE, node.DIGEST) of the entries of ``leaves`` (leaf node
        digests), in one list, read from ``rows`` ({digest: (level, compressed bytes)},
        what the caller already read from the catalog) or the catalog, each node checked
        against its digest (node.leaf_column)."""
        rows = rows or {}
        out = []
        leaves = list(leaves)
        for start in range(0, len(leaves), 256):
            part = leaves[start:start + 256]
            blobs = {d: rows[d][1] for d in part if d in rows}
            blobs.update(self.catalog.nodes_get([d for d in part if d not in blobs]))
            for digest in part:
                out += node_mod.leaf_column(digest, self._bytes_of(digest, blobs.get(digest)), field)
        return out

    def leaf_file_digests(self, leaves, rows=None):
        """The set of file digests the entries of ``leaves`` name (see leaf_column)."""
        out = self.leaf_column(leaves, node_mod.DIGEST, rows)
        try:
            return {node_mod.hex_digest(d) for d in out}  # 32 bytes each, as decode checks
        except ValueError as exc:
            raise IntegrityError(f"a manifest node names a malformed file digest ({exc}); run 'artstore verify'") \
                from None


class NewNodes:
    """The nodes of a tree being built (Builder's ``on_node``) that the catalog lacks,
    compressed as they come: nodes the catalog has are dropped a batch at a time, so
    re-logging a million unchanged entries keeps nothing, and a new version keeps only
    its new nodes, compressed."""

    _BATCH = 256

    def __init__(self, catalog):
        import zstandard

        self.catalog = catalog
        self.rows = {}  # digest -> (level, compressed bytes)
        self._batch = {}
        self._compress = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress

    def __call__(self, digest, level, data):
        self._batch[digest] = (level, data)
        if len(self._batch) >= self._BATCH:
            self._flush()

    def _flush(self):
        known = self.catalog.nodes_known(list(self._batch))
        for digest, (level, data) in self._batch.items():
            if digest not in known and digest not in self.rows:
                self.rows[digest] = (level, self._compress(data))
        self._batch = {}

    def save(self, cat):
        """Insert the new nodes the catalog still lacks, inside the caller's transaction
        (another writer may have added some since). Returns (count, bytes) added."""
        self._flush()
        known = cat.nodes_known(list(self.rows))
        rows = [(digest, level, blob) for digest, (level, blob) in self.rows.items() if digest not in known]
        cat.nodes_add(rows)
        return len(rows), sum(len(r[2]) for r in rows)
