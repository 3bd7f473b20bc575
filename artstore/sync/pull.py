"""pull: bring versions from a remote with the nodes, files and chunks this store lacks.

Everything read is checked before it enters the store: bundles and indexes against their
names, nodes against their digests, chunks against their ids, and every new file against
its digest (its chunks read back in order) before the one catalog transaction that adds
the versions. Damage on the remote is exit 6 naming the object and the version.
"""

import os

import blake3

from .. import chunkstore, paths, tree, unzstd
from ..catalog import split_chunks
from ..errors import ArtstoreError, Conflict, IntegrityError, NotFound
from ..faults import checkpoint
from ..nogc import nogc
from ..tree import node as node_mod
from . import known_refs, labels, layout, records, transfer
from .state import RemoteState


def remote_refs(transport, refs=()):
    """{ref key: (workspace, name)} of the artifacts on the remote (or those named)."""
    found = {}
    for ws in transport.list(layout.REFS):
        for entry in transport.list(f"{layout.REFS}/{ws}"):
            if entry.endswith(".json"):
                found[layout.ref_key(ws, entry[:-5])] = (ws, entry[:-5])
    if not refs:
        return found, {}
    wanted, versions = {}, {}
    from .. import names

    for ref in refs:
        ws, name, version = names.parse_ref(ref)
        hits = [k for k, (w, n) in found.items() if n == name and (ws is None or w == ws)]
        if not hits:
            raise NotFound(f"the remote has no artifact {ref}; see its artifacts with 'artstore pull' (all)")
        for k in hits:
            wanted[k] = found[k]
            if version is not None:
                versions.setdefault(k, set()).add(version)
    return wanted, versions


@nogc  # as push: planning and applying a pull of many files makes no cycles
def pull(store, name, transport, refs=(), progress=None, metadata_only=False, lazy_remote=None):
    """Bring the remote's versions (or those of ``refs``). With ``metadata_only`` the
    versions come without the chunks this store lacks: they are recorded as lazy, their
    data on remote ``name`` (sync/lazy.py). Returns a summary; ``lazy_here`` lists the
    ids of the versions asked for that are already here but lazy (the caller completes
    them when data is wanted)."""
    with store.lock.shared():
        store.check_writable()
        try:
            remote_id = layout.check_format(transport.read(layout.FORMAT_KEY), transport.url)
        except FileNotFoundError:
            raise NotFound(f"no artstore remote at {transport.url} ({transport.why_empty()})") from None
        arts, only = remote_refs(transport, refs)
        docs, wanted, lazy_here = {}, [], []
        lazy = store.catalog.lazy_versions()
        for key, (ws, art_name) in arts.items():
            data, _token = transport.read_ref(key)
            if data is None:
                continue
            doc = records.check_ref(layout.decode(data, key), key)
            docs[key] = doc
            picks = _versions_named(doc, only.get(key))
            for version, vid in doc["versions"].items():
                if picks is not None and version not in picks:
                    continue
                local = store.catalog.get_artifact(ws, art_name)
                row = store.catalog.version_by_number(local["id"], version) if local else None
                if row is not None and row["id"] != vid:
                    raise Conflict(f"{ws}/{art_name}:{version} differs here and on {transport.url}; log your "
                                   "version under another number (logged versions are immutable)")
                if row is not None and row["id"] in lazy:
                    lazy_here.append(row["id"])
                if row is None:
                    what = layout.version_key(vid)
                    try:
                        record = layout.decode(transport.read(what), what)
                    except FileNotFoundError:
                        raise IntegrityError(f"{transport.url} names {ws}/{art_name}:{version} but lacks {what}") \
                            from None
                    wanted.append(records.check_version_record(record, vid, what, ws, art_name, version))
        # Indexes and bundles are read after the refs and records (the reverse of a push's
        # writes), so a push running meanwhile cannot make them name what we did not list.
        state = RemoteState(store, name, transport).refresh()
        nodes, entries, totals = _needed_nodes(store, state, wanted)
        _check_totals(store, wanted, totals)
        files = _needed_files(store, state, wanted, entries)
        packs, got = ([], 0) if metadata_only else _fetch_chunks(store, state, transport, files, progress)
        try:
            if not metadata_only:  # a lazy file is checked against its digest when it is read
                _check_files(store, files, packs)
            checkpoint("pull-before-commit")
            with store.catalog.transaction() as cat:
                cat.add_packs(packs)
                cat.add_files((d, size, blob) for d, (size, blob) in files.items())
                cat.nodes_add([(d, level, data) for d, (level, data) in nodes.items()])
                before = _labels_here(cat, docs)  # a version pulled now is not one whose labels were removed here
                for rec in sorted(wanted, key=lambda r: r["created_at"]):
                    art = cat.ensure_artifact(rec["workspace"], rec["name"], rec["type"])
                    if art["type"] != rec["type"]:
                        raise Conflict(f"{rec['name']} is a {art['type']!r} here and a {rec['type']!r} on the remote")
                    cat.add_runs([tuple(r) for r in rec.get("runs", [])])
                    cat.insert_version(records.version_row(rec) | {"artifact_id": art["id"]})
                    cat.add_lineage_rows([(r, rec["id"], k, at) for r, k, at in rec.get("lineage", [])])
                    cat.add_asset_ids([(rec["id"], p, i) for p, i in rec.get("asset_ids", [])])
                    cat.add_fetched([(a, rec["id"], bytes.fromhex(d)) for a, d in rec.get("fetched", [])])
                if metadata_only:
                    cat.mark_lazy([rec["id"] for rec in wanted], lazy_remote or name)
                bases = _apply_labels(store, transport.url, remote_id, cat, docs, before)
        except BaseException:
            # Sealed but never committed (gc would remove them too); an interruption once
            # the COMMIT went through leaves those the pulled versions reference.
            for pack in chunkstore.uncommitted(packs, store.catalog.packs_committed):
                try:
                    os.unlink(os.path.join(store.pack_dir, pack.name + ".pack"))
                except FileNotFoundError:
                    pass
            raise
        for key, doc in docs.items():
            known_refs.save(store, name, key, doc)
        for key, base in bases.items():
            labels.save_base(store, key, base, transport.url, remote_id)
    return {"remote": transport.url, "versions": len(wanted), "files": len(files), "chunks": got,
            "bytes_received": sum(p.size for p in packs), "lazy": len(wanted) if metadata_only else 0,
            "lazy_here": lazy_here}


def _versions_named(doc, picks):
    """The version numbers a pull of ``name:X`` refs means (X a version or an alias), or
    None for all of the artifact's versions."""
    if not picks:
        return None
    from .. import names

    out = set()
    for pick in picks:
        if pick == "latest" and doc["versions"]:
            out.add(max(doc["versions"], key=names.version_key))
        elif pick in doc["versions"]:
            out.add(pick)
        elif pick in doc["aliases"]:
            out.add(doc["aliases"][pick])
        else:
            raise NotFound(f"the remote has no version or alias {pick!r} of {doc['name']}")
    return out


def _needed_nodes(store, state, records_):
    """({digest: (level, zstd frame)} of the nodes of the records' trees this store lacks,
    each decoded and checked against its digest; the entries of their leaves)."""
    entries, shapes = [], {}  # shapes: new node -> child digests (internal) or (count, bytes) (leaf)
    # (digest, the level its parent names it at; None for a root): a node of another level
    # would enter the catalog as a tree no reader can walk, so it is refused here, before
    # anything is written, as node.decode refuses a node that is not well formed.
    out, frontier = {}, [(bytes.fromhex(r["manifest_digest"]), None) for r in records_]
    while frontier:
        known = store.catalog.nodes_known([d for d, _ in frontier])
        nxt = []
        for digest, expect in dict.fromkeys(frontier):
            if digest in known or digest in out:
                continue
            row = state.nodes.get(digest)
            if row is None:
                raise IntegrityError(f"the remote lacks manifest node {digest.hex()} of a version it names")
            try:
                level, items = node_mod.decode(digest, unzstd.expand(row[1], node_mod.MAX_NODE_BYTES))
            except IntegrityError:
                raise
            except Exception as exc:
                raise IntegrityError(f"remote manifest node {digest.hex()} is damaged ({exc})") from None
            if expect is not None and level != expect:
                raise IntegrityError(f"remote manifest node {digest.hex()} is at level {level} where its parent "
                                     f"expects level {expect}")
            out[digest] = (level, row[1])
            if level:
                nxt.extend((d, level - 1) for _p, d, _n in items)
                shapes[digest] = [d for _p, d, _n in items]
            else:
                check_leaf(digest, items)
                entries.extend(items)
                shapes[digest] = (len(items), sum(e.size for e in items))
        frontier = nxt
    return out, entries, shapes


def _check_totals(store, records_, shapes):
    """A new version's asset count and size must be its tree's, as local verify checks
    them (a record is not content-addressed: other totals came in by a clean pull and
    made the store fail its verify). The new nodes' totals come from ``shapes``
    (_needed_nodes); a subtree this store has already is read from the catalog, once per
    pull however many versions share it (a one-file edit of a 100,000-file version reads
    the other leaves once: this check was skipped for such trees before)."""
    memo = {}

    def total(digest):
        found = memo.get(digest)
        if found is not None:
            return found
        shape = shapes.get(digest)
        if shape is None:  # a subtree the store has: its internal nodes checked, its leaves' sizes
            sizes = store.nodes.leaf_column(tree.Tree(store.nodes, digest).leaves(), node_mod.SIZE)
            found = (len(sizes), sum(sizes))
        elif isinstance(shape, tuple):
            found = shape
        else:
            parts = [total(d) for d in shape]
            found = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        memo[digest] = found
        return found

    for rec in records_:
        found = total(bytes.fromhex(rec["manifest_digest"]))
        if found != (rec["asset_count"], rec["size"]):
            raise IntegrityError(f"remote object {layout.version_key(rec['id'])} records {rec['asset_count']} "
                                 f"asset(s) of {rec['size']} bytes, its manifest holds {found[0]} of {found[1]}; "
                                 "nothing was pulled")


def check_leaf(digest, entries):
    """A remote leaf's entries (decoded: node.decode has refused paths out of order or
    given twice) have valid logical paths (DESIGN.md invariant 5: pull calls paths.py). A
    node only has to hash to its digest, and a version record (not content-addressed) may
    name any digest: a forged leaf with '../evil.bin' entered the store by a clean pull,
    for verify to call damaged."""
    for e in entries:
        try:
            paths.check_logical_path(e.path)
        except ArtstoreError as exc:
            raise IntegrityError(f"remote manifest node {digest.hex()} lists a bad path ({exc}); "
                                 "nothing was pulled") from None


def _needed_files(store, state, records_, entries):
    """{digest: (size, chunk-list blob)} of the files the new versions name that this
    store lacks (entries of new leaves, and fetched remote assets). A leaf this store has
    already has its files here too (gc removes a node and its files together)."""
    digests = {e.digest for e in entries if e.digest is not None}
    for rec in records_:
        digests.update(bytes.fromhex(d) for _a, d in rec.get("fetched", []))
    have = store.catalog.files_many(digests)
    out = {}
    for d in digests - have.keys():
        row = state.files.get(d)
        if row is None:
            raise IntegrityError(f"the remote lacks file {d.hex()} of a version it names")
        out[d] = row
    return out


def _fetch_chunks(store, state, transport, files, progress):
    """Fetch the chunks of ``files`` this store lacks with ranged reads, each checked
    against its id, into new local packs (sealed, not yet in the catalog)."""
    wanted = list(dict.fromkeys(c for _s, blob in files.values() for c in split_chunks(blob)))
    return transfer.fetch_missing(store, state, transport, wanted, progress)


def _check_files(store, files, packs):
    """Every new file's chunks, read back in order, hash to its digest. A file of one
    chunk whose id is the file's digest (both are the BLAKE3 of the same bytes) and whose
    size is the chunk's is not read back: that chunk was checked against its id when it
    was fetched (most small files; at 100,000 files the read-back cost 1.5 s)."""
    if not files:
        return
    ids = {c for _s, blob in files.values() for c in split_chunks(blob)}
    locations = store.catalog.chunk_locations(ids)
    for pack in packs:
        for cid, offset, stored, size, compression in pack.entries:
            locations.setdefault(cid, (pack.name, offset, stored, size, compression))
    source = chunkstore.ChunkSource(store.pack_dir, locations)
    try:
        for digest, (size, blob) in files.items():
            chunks = split_chunks(blob)
            if len(chunks) == 1 and chunks[0] == digest and chunks[0] in locations \
                    and locations[digest][3] == size:
                continue
            h, n = blake3.blake3(), 0
            for cid in chunks:
                data = source.read(cid)
                h.update(data)
                n += len(data)
            if h.digest() != digest or n != size:
                raise IntegrityError(f"the remote's file {digest.hex()} does not match its chunks "
                                     "(damaged or tampered with); nothing was pulled")
    finally:
        source.close()


def _labels_here(cat, docs):
    out = {}
    for key, doc in docs.items():
        art = cat.get_artifact(doc["workspace"], doc["name"])
        if art is not None:
            out[key] = labels.local_labels(cat, art["id"])
    return out


def _apply_labels(store, url, remote_id, cat, docs, before):
    """Remote aliases win on pull (they name versions both stores have) unless moved here
    since the last sync and not there; tags are joined;
    labels removed on the remote since this store's last sync with it are removed here
    (sync/labels.py), and those removed here since are not brought back. Returns the
    label base of each artifact after the pull."""
    bases = {}
    for key, doc in docs.items():
        art = cat.get_artifact(doc["workspace"], doc["name"])
        if art is None:
            continue
        base = labels.load_base(store, key, url, remote_id)
        local = before.get(key, {"versions": {}, "aliases": {}, "tags": {}, "artifact_tags": []})
        gone_aliases, gone_tags, gone_artifact_tags = labels.removed(base, doc, local)
        left_aliases, left_tags, left_artifact_tags = labels.removed(base, local, doc)
        # An alias moved here since the base, that the remote still has as the base had it,
        # is this store's newer decision: the next push sends it.
        left_aliases = set(left_aliases) | {
            a for a, v in doc["aliases"].items()
            if (base or {}).get("aliases", {}).get(a) == v and local["aliases"].get(a) not in (None, v)}
        for alias, version in gone_aliases.items():
            cat.remove_alias(art["id"], alias, cat.version_by_number(art["id"], version)["id"])
        for version, tags in gone_tags.items():
            cat.remove_version_tags(cat.version_by_number(art["id"], version)["id"], sorted(tags))
        if gone_artifact_tags:
            cat.set_artifact_tags(art["id"], sorted(set(cat.tags_of_artifact(art["id"])) - gone_artifact_tags))
        for alias, version in doc["aliases"].items():
            row = cat.version_by_number(art["id"], version)
            if row is not None and alias != "latest" and alias not in left_aliases:
                cat.set_alias(art["id"], alias, row["id"])
        for version, tags in doc["tags"].items():
            row = cat.version_by_number(art["id"], version)
            if row is not None:
                cat.add_version_tags(row["id"], sorted(set(tags) - set(cat.tags_of_version(row["id"]))
                                                       - left_tags.get(version, set())))
        current = set(cat.tags_of_artifact(art["id"]))
        if set(doc["artifact_tags"]) - current - left_artifact_tags:
            cat.set_artifact_tags(art["id"], sorted(current | (set(doc["artifact_tags"]) - left_artifact_tags)))
        bases[key] = labels.next_base(base, labels.local_labels(cat, art["id"]), doc)
    return bases
