"""A version's manifest at the store level: the tree a new version is logged with, and its
assets read back (Comet asset ids, bytes fetched for remote assets, files to write).

The tree itself (format, building, walking) is artstore.tree; this module knows what an
asset is to the rest of artstore.
"""

import blake3

from . import materialize, records, tree
from .catalog import split_chunks
from .errors import IntegrityError


def asset_id(version_id, logical_path):
    """A version's asset id, derived rather than stored: 32 hex characters like Comet's,
    stable for the version and path (versions logged before schema 3 keep their random
    ids, recorded in the catalog's asset_ids table)."""
    return blake3.blake3(f"artstore-asset\0{version_id}\0{logical_path}".encode()).hexdigest()[:32]


def build(asset_rows):
    """(root digest, nodes) of the tree of a new version's asset rows (store.log's shape:
    logical_path, size, file_digest, metadata JSON, asset_type, uri, remote_identity JSON)."""
    items = sorted(
        (a["logical_path"], tree.entry_text(a["logical_path"], a["size"], a["file_digest"], a["metadata"],
                                            a["asset_type"], a["uri"], a["remote_identity"]))
        for a in asset_rows
    )
    return tree.build(items)


class Manifest:
    """The assets of one logged version (a version row), read from its tree."""

    def __init__(self, store, vrow):
        self.store = store
        self.version_id = vrow["id"]
        self.tree = tree.Tree(store.nodes, records.manifest_digest(vrow["manifest_digest"], f"version {vrow['id']}"))
        self._legacy = None
        self._fetched = None

    def id_of(self, logical_path):
        if self._legacy is None:
            self._legacy = self.store.catalog.legacy_asset_ids(self.version_id)
            for path, kept in self._legacy.items():
                records.asset_id(kept, f"version {self.version_id}", path)
        return self._legacy.get(logical_path) or asset_id(self.version_id, logical_path)

    def fetched_digest(self, entry):
        """The digest of a remote asset's bytes fetched into the store, else None."""
        if self._fetched is None:
            # Checked as records.py checks every catalog field a reader parses: a value
            # that is not a digest was an AttributeError (.hex() of a str) in show.
            where = f"version {self.version_id}"
            self._fetched = {asset: records.digest(digest, where, f"fetched file digest of asset {asset}",
                                                   optional=False)
                             for asset, digest in self.store.catalog.fetched_of_version(self.version_id).items()}
        return self._fetched.get(self.id_of(entry.path)) if self._fetched else None

    def entries(self):
        return self.tree.entries()

    def count(self):
        return self.tree.count()

    def find(self, logical_path):
        return self.tree.find(logical_path)

    def asset(self, entry):
        """The API/CLI's description of one asset."""
        digest = entry.digest or (self.fetched_digest(entry) if entry.remote else None)
        return {
            "id": self.id_of(entry.path),
            "logical_path": entry.path,
            "size": entry.size,
            "remote": entry.remote,
            "link": entry.uri,
            "content_hash": digest.hex() if digest is not None else None,
            "metadata": entry.metadata,
            "asset_type": entry.asset_type,
            "artifact_version_id": self.version_id,
            "remote_identity": entry.identity,
        }

    def assets(self, offset=0, limit=None):
        """Asset descriptions in path order: all, or a page read without the rest."""
        entries = self.entries() if limit is None else self.tree.page(offset, limit)
        return [self.asset(e) for e in entries]

    def file_entries(self, include_remote=False, remote_entry=None):
        """materialize.Entry for each asset whose bytes are in the store (local assets and
        fetched remote ones); with ``include_remote``, ``remote_entry(entry)`` for each
        synced remote asset not fetched yet."""
        wanted = []  # (entry, digest of its bytes in the store or None), in path order
        for e in self.entries():
            digest = e.digest or (self.fetched_digest(e) if e.remote else None)
            if digest is not None or (include_remote and e.identity):
                wanted.append((e, digest))
        files = self.store.catalog.files_many(d for _, d in wanted if d is not None)
        return [remote_entry(e) if digest is None else _file_entry(e, digest, files.get(digest))
                for e, digest in wanted]

    def file_entry(self, logical_path):
        """The materialize.Entry of one asset whose bytes are in the store, else None:
        one node per tree level is read, not the whole manifest."""
        e = self.find(logical_path)
        digest = None if e is None else e.digest or (self.fetched_digest(e) if e.remote else None)
        if digest is None:
            return None
        return _file_entry(e, digest, self.store.catalog.get_file(digest))


def _file_entry(e, digest, file_row):
    if file_row is None:
        raise IntegrityError(f"{e.path}: its file is missing from the catalog; run 'artstore verify'")
    # A chunk list that is not whole 32-byte ids (text, a torn blob) was an AttributeError
    # (.hex() of a str) in cat and download: checked as records.py checks file rows.
    records.chunk_list(file_row[1], file_row[0], f"{e.path}: file {digest.hex()}")
    return materialize.Entry(e.path, digest, file_row[0], split_chunks(file_row[1]))


def roots(store, damaged=None):
    """{version id: root digest} of every version. A manifest digest that is not one is
    IntegrityError (gc must not run without every root), or, given ``damaged``, is
    passed to it as (version id, error) and the version left out (verify reports it)."""
    out = {}
    for vid, md in store.catalog.version_roots():
        try:
            out[vid] = records.manifest_digest(md, f"version {vid}")
        except IntegrityError as exc:
            if damaged is None:
                raise
            damaged(vid, exc)
    return out


def all_entries(store, version_ids=None):
    """(version ids, entry) for every entry of every version (or of ``version_ids``). A
    leaf shared by many versions is read once and yielded with all of them."""
    by_leaf = {}
    for vid, root in roots(store).items():
        if version_ids is None or vid in version_ids:
            for leaf in tree.Tree(store.nodes, root).leaves():
                by_leaf.setdefault(leaf, []).append(vid)
    leaves = list(by_leaf)
    for start in range(0, len(leaves), 256):
        batch = leaves[start:start + 256]
        loaded = store.nodes.load(batch, 0)
        for leaf in batch:
            for entry in loaded[leaf][1]:
                yield by_leaf[leaf], entry


def versions_with_files(store, digests):
    """{file digest: version ids} for those of ``digests`` some version's asset has."""
    out = {}
    digests = set(digests)
    if digests:
        for vids, e in all_entries(store):
            if e.digest in digests:
                out.setdefault(e.digest, set()).update(vids)
    return out
