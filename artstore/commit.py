"""Logging a new version: check the request, store the bytes, commit one transaction.

Write order (DESIGN.md invariant 1): chunk bytes go to packs this writer owns alone in
``tmp/``; each pack is fsynced, renamed into ``objects/pack/`` and its directory fsynced;
only then does one catalog transaction add the chunk index rows, file rows, the manifest
tree's new nodes, the version, its aliases, tags, lineage and stat-cache entries. A crash
before the commit leaves only unreferenced packs and temp files, which ``gc`` removes.
"""

import operator
import os
import uuid

from . import catalog as catalog_mod
from . import ingest, names, paths, readahead, tree, walking
from .catalog import dumps
from .errors import Conflict, InvalidInput, NotFound
from .faults import checkpoint
from .metadata import MAX_ASSET_CHARS, check_metadata
from .nogc import nogc
from .spill import Spill


def check_type(art, artifact_type):
    """Refuse a type other than the artifact's (None: whatever the artifact has)."""
    if artifact_type is not None and art["type"] != artifact_type:
        raise Conflict(
            f"artifact {art['workspace']}/{art['name']} has type {art['type']!r}, not {artifact_type!r}; "
            f"leave out --type (or pass --type {art['type']}; artifact_type={art['type']!r} in Python), "
            "or choose another artifact name"
        )


def check_new_version(existing, version, ref):
    """The version to log: ``version``, refused if it exists, else the next major.
    ``existing``: the artifact's version numbers, lowest first (Store.version_numbers:
    whole rows of 10,000 versions cost 70 ms per commit)."""
    if version is None:
        return names.next_major(existing[-1][1]) if existing else "1.0.0"
    if any(number == str(version) for _id, number in existing):
        raise Conflict(
            f"{ref} already has version {version}; logged versions are immutable, choose another version number"
        )
    return version


def new_bytes(packs):
    """The bytes a version added to the store, counted as ``diff`` counts ``bytes_new``:
    the size before compression of each distinct chunk the store did not hold yet
    (``stored_bytes`` is what that took on disk: compressed, plus pack headers)."""
    return sum(entry[3] for pack in packs for entry in pack.iter_entries())


@nogc
def log(store, name, sources, *, artifact_type="dataset", version=None, workspace=None,
        aliases=(), version_tags=(), metadata=None, run_id=None, progress=None, skip_if_unchanged=False):
    """Store ``sources`` as a new version of ``name``; returns its ``describe`` dict plus
    what the commit cost (stored_bytes, files_read, bytes_read, nodes_added, identical_to,
    skipped).

    ``sources``: a list (checked whole before any data is read), or any other iterable
    in logical-path order (walking.iter_walk, walking.merge: a directory of millions of
    files streams through without a list of them; a path out of order or twice is
    refused when it comes, and nothing is logged).
    ``artifact_type`` None means the artifact's own type (``dataset`` for a new one).
    With ``skip_if_unchanged``, assets whose manifest equals the latest version's log
    nothing: the latest version is described, with ``skipped`` True and ``stored_bytes`` 0
    (metadata, aliases and tags given are then not applied)."""
    names.check_name(name, "artifact name")
    if artifact_type is not None:
        names.check_name(artifact_type, "artifact type")
    workspace = names.check_workspace(workspace or store.workspace)
    if version is not None:
        version = names.parse_version(version)
    aliases = sorted({names.check_alias(a) for a in aliases})
    version_tags = names.check_tags(version_tags)
    metadata_json = check_metadata(metadata)
    listed = isinstance(sources, (list, tuple))
    if listed:
        for src in sources:
            paths.check_logical_path(src.logical_path)
            _asset_metadata(src)
        paths.check_unique([s.logical_path for s in sources])
        sources = sorted(sources, key=_by_logical_path)
    # Refuse early what the commit would refuse, before reading any data (the commit
    # checks again, since another writer may get there first).
    known = store.catalog.get_artifact(workspace, name)
    if known is not None:
        check_type(known, artifact_type)
        check_new_version(store.version_numbers(known["id"]), version, f"{workspace}/{name}")

    with store.lock.shared():
        store.check_writable()
        writer = store.new_writer()
        ingestor = version_id = None
        try:
            ingestor = ingest.Ingestor(store.catalog, writer, store.config.chunking, progress)
            ingestor.spill = Spill(store.catalog)
            new_nodes = tree.NewNodes(store.catalog)
            builder = tree.Builder(new_nodes)
            count = size = local_size = 0
            checked = listed or getattr(sources, "paths_checked", False)
            if readahead.available():
                ingestor.readahead = readahead.ReadAhead()
            # Each batch is prefetched (its stat-cache rows looked up, its small files read
            # ahead on a thread) before the one before it is stored.
            for batch, state in _one_ahead(ingestor, _batches(walking.in_order(sources, checked=checked))):
                ingestor.use(state)
                for src in batch:
                    metadata_text = _asset_metadata(src)  # refused before its data is read
                    entry_size, digest, uri, identity = _store_source(store, ingestor, src)
                    builder.add(src.logical_path, tree.entry_text(
                        src.logical_path, entry_size, digest, metadata_text, src.asset_type, uri, identity))
                    count += 1
                    size += entry_size
                    if uri is None:
                        local_size += entry_size
                ingestor.spill_rows()
            ingestor.close_scan()  # before the commit: it holds a read snapshot open
            ingestor.flush()
            root = builder.finish()
            if skip_if_unchanged and known is not None:
                numbers = store.version_numbers(known["id"])
                latest = store.catalog.version_by_id(numbers[-1][0]) if numbers else None
                if latest is not None and latest["manifest_digest"] == root.hex():
                    writer.abort()
                    described = store.describe(known, latest, latest_id=latest["id"])
                    return described | {"stored_bytes": 0, "new_bytes": 0, "files_read": ingestor.files_read,
                                        "bytes_read": ingestor.bytes_read, "nodes_added": 0, "node_bytes": 0,
                                        "identical_to": latest["version"], "skipped": True}
            packs = writer.finish()
            checkpoint("before-commit")
            with store.catalog.transaction() as cat:
                cat.add_packs(packs, relocate=ingestor.lost)
                ingestor.commit_rows(cat)
                nodes_added, node_bytes = new_nodes.save(cat)
                checkpoint("nodes-written")
                art = cat.ensure_artifact(workspace, name, artifact_type or "dataset")
                check_type(art, artifact_type)
                version_id = uuid.uuid4().hex
                version = check_new_version(store.version_numbers(art["id"]), version, f"{workspace}/{name}")
                cat.insert_version({
                    "id": version_id,
                    "artifact_id": art["id"],
                    "version": str(version),
                    "created_at": catalog_mod.now_iso(),
                    "metadata": metadata_json,
                    "manifest_digest": root.hex(),
                    "size": size,
                    "asset_count": count,
                    "run_id": run_id,
                    "local_size": local_size,
                })
                for alias in aliases:
                    cat.set_alias(art["id"], alias, version_id)
                cat.add_version_tags(version_id, version_tags)
                if run_id is not None:
                    cat.ensure_run(run_id)
                    cat.add_lineage(run_id, version_id, "produced")
        except BaseException:
            writer.abort(committed=store.catalog.packs_committed)
            if version_id is not None and _landed(store, version_id):
                store.committed.append(f"logged {workspace}/{name}:{version}")  # the interrupt message says so
            raise
        finally:
            if ingestor is not None:
                if ingestor.readahead is not None:
                    ingestor.readahead.close()
                ingestor.close_scan()
                if ingestor.spill is not None:
                    ingestor.spill.close()
        store.committed.append(f"logged {workspace}/{name}:{version}")
        checkpoint("after-commit")
        described = store.describe(art, store.catalog.version_by_id(version_id))
        described["stored_bytes"] = sum(p.size for p in packs)
        described["new_bytes"] = new_bytes(packs)
        described["files_read"] = ingestor.files_read
        described["bytes_read"] = ingestor.bytes_read
        described["nodes_added"] = nodes_added
        described["node_bytes"] = node_bytes
        # The highest earlier version with this content (another writer may have logged a
        # later one since the commit).
        ours = names.version_key(str(version))
        same = [v for v in store.catalog.versions_with_manifest(art["id"], root.hex(), exclude=version_id)
                if names.version_key(v) < ours]
        described["identical_to"] = max(same, key=names.version_key) if same else None
        described["skipped"] = False
        return described


_by_logical_path = operator.attrgetter("logical_path")
# Sources are stored a batch at a time: one stat-cache query per batch, and the rows made
# move to the spill between batches.
BATCH = 1024


def _batches(stream):
    batch = []
    for src in stream:
        batch.append(src)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _one_ahead(ingestor, batches):
    """(batch, its prefetch state), each batch prefetched before the previous one is yielded."""
    previous = None
    for batch in batches:
        state = ingestor.prefetch([s for s in batch if isinstance(s, ingest.LocalFile)])
        if previous is not None:
            yield previous
        previous = batch, state
    if previous is not None:
        yield previous


def _landed(store, version_id):
    """True if the version's commit went through (asked after an interruption)."""
    try:
        return store.catalog.version_by_id(version_id) is not None
    except Exception:
        return False


def _asset_metadata(src):
    """A source's asset metadata as canonical JSON ("{}" when it has none)."""
    if not src.metadata:
        return "{}"
    return check_metadata(src.metadata, f"metadata of {src.logical_path}", MAX_ASSET_CHARS)


def _store_source(store, ingestor, src):
    """(size, file digest, uri, identity JSON) the manifest records of one source,
    storing its bytes first if local."""
    if isinstance(src, ingest.RemoteRef):
        return src.size, None, src.uri, dumps(src.identity) if src.identity is not None else None
    if isinstance(src, ingest.LocalFile):  # most sources
        record = ingestor.store_file(src.os_path, src.stat_result)
    elif isinstance(src, ingest.InMemory):
        record = ingestor.store_data(src.data)
    elif isinstance(src, ingest.DownloadedFile) and os.path.isfile(src.os_path):
        record = ingestor.store_file(src.os_path)
    elif isinstance(src, (ingest.StoredFile, ingest.DownloadedFile)):
        if store.catalog.get_file(src.digest) is None:
            raise NotFound(f"{src.logical_path}: its stored file is no longer in the store")
        ingestor.check_stored(src.digest, src.logical_path)
        record = ingest.FileRecord(src.digest, src.size)
    else:
        raise InvalidInput(f"cannot store a {type(src).__name__}")
    return record.size, record.digest, None, None
