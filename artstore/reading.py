"""A version's bytes out of the store: download a version or one asset, stream one asset.

Every read takes the store lock shared, checks each chunk's hash as it is read and each
file's digest at its end. Chunks a lazy version lacks are fetched from its remote first
(sync.lazy), unless the store was opened by a reader that must not write (artstore ui).
"""

import os
import time

import blake3

from . import chunkstore, ingest, manifests, materialize, mirror, paths, records, remote
from .errors import DiskError, IntegrityError, NotFound, ReadOnlyStore


def download_mtime_ns(vrow, where=""):
    """Downloaded files carry the version's creation time as their mtime, like files
    unpacked by tar, and never a time within the stat cache's racy window: any later edit
    then changes the mtime, so the stat cache can trust the downloaded files at once and
    logging them again (Comet's update flow) does not read them."""
    created = int(records.created_at(vrow["created_at"], where or vrow["id"]).timestamp() * 1e9)
    return min(created, time.time_ns() - ingest.COARSE_RACY_NS - 1_000_000_000)


def remote_entry(store, entry):
    """A materialize.Entry reading a synced remote asset straight from its backend."""
    identity, uri, size = entry.identity, entry.uri, entry.size
    options = store.remote_options(remote.scheme_of(uri))
    return materialize.Entry(
        entry.path, None, size, [],
        open_stream=lambda: remote.VerifiedReader(uri, identity, size, options),
    )


def chunk_source(store, entries, vrow=None):
    """A chunkstore.ChunkSource for every chunk the entries need (one catalog pass).
    Chunks a lazy version ``vrow`` lacks are fetched from its remote first (sync.lazy)."""
    ids = [cid for e in entries for cid in e.chunk_ids]
    locations = store.catalog.chunk_locations(ids)
    if vrow is not None and len(locations) < len(set(ids)):
        from .sync import commands

        lacking = [c for c in ids if c not in locations]
        if not store.fetch_lazy:
            holder = store.catalog.lazy_versions().get(vrow["id"])
            if holder is not None:
                raise NotFound(f"{store.ref_of(vrow['id'])} is a lazy version: its data is on remote {holder}; "
                               f"run 'artstore fetch {store.ref_of(vrow['id'])}' to read it here")
        elif commands.fill_lazy(store, vrow["id"], lacking, notice=store.notice)[0]:
            locations = store.catalog.chunk_locations(ids)
    return chunkstore.ChunkSource(store.pack_dir, locations)


def download(store, ref, dest, overwrite_strategy=False, run_id=None, progress=None, exact=False):
    """Write a version's local assets under ``dest``. Returns a summary dict.

    Files already in ``dest`` that the version does not have are listed in ``extra``;
    with ``exact`` they are removed instead (``removed``), and so are directories left
    empty, so that ``dest`` matches the version (mirror.py: symlinks are never
    followed, and ``.git``/``.artstore`` folders are left alone)."""
    strategy = materialize.normalize_strategy(overwrite_strategy)
    existed = os.path.isdir(dest)
    with store.lock.shared():
        art, vrow = store.resolve(ref)
        manifest = manifests.Manifest(store, vrow)
        entries = manifest.file_entries(True, lambda e: remote_entry(store, e))
        for e in entries:
            paths.check_logical_path(e.logical_path)
        source = chunk_source(store, entries, vrow)
        try:
            written, unchanged, preserved = materialize.materialize(
                dest, entries, source, strategy, progress,
                download_mtime_ns(vrow, records.where_of(art, vrow)), protect=[store.dir]
            )
        finally:
            source.close()
        found = mirror.extra_paths(dest, {e.path for e in manifest.entries()}, exact) if existed else []
        stat_rows = ingest.stat_rows_for(dest, written + unchanged)
        try:
            with store.catalog.transaction() as cat:
                cat.stat_cache_put(stat_rows)
                if run_id is not None:
                    cat.ensure_run(run_id)
                    cat.add_lineage(run_id, vrow["id"], "consumed")
        except (ReadOnlyStore, DiskError):
            # The stat cache only saves a later read; a download from a read-only or
            # full store still succeeds. Lineage asked for by the caller must be kept.
            if run_id is not None:
                raise
    downloaded = {e.logical_path for e in entries}
    return {
        "ref": f"{art['workspace']}/{art['name']}:{vrow['version']}",
        "version": vrow["version"],
        "not_downloaded": [e.path for e in manifest.entries() if e.remote and e.path not in downloaded],
        "written": [e.logical_path for e in written],
        "unchanged": [e.logical_path for e in unchanged],
        "preserved": [e.logical_path for e in preserved],
        "bytes": sum(e.size for e in written),
        "extra": [] if exact else [p for p in found if not p.endswith("/")],
        "removed": found if exact else [],
    }

def download_asset(store, ref, logical_path, target, overwrite_strategy=False):
    """Write one local asset to the file path ``target``."""
    strategy = materialize.normalize_strategy(overwrite_strategy)
    paths.check_logical_path(logical_path)
    with store.lock.shared():
        art, vrow = store.resolve(ref)
        entry = manifests.Manifest(store, vrow).file_entry(logical_path)
        if entry is None:
            raise NotFound(f"{art['name']}:{vrow['version']} has no local asset {logical_path!r}")
        entries = [entry]
        target = os.path.abspath(target)
        single = materialize.Entry(os.path.basename(target), entry.digest, entry.size, entry.chunk_ids)
        source = chunk_source(store, entries, vrow)
        try:
            materialize.materialize(os.path.dirname(target), [single], source, strategy, protect=[store.dir])
        finally:
            source.close()

def read_asset(store, ref, logical_path):
    """Yield the verified bytes of one local asset, chunk by chunk."""
    paths.check_logical_path(logical_path)
    with store.lock.shared():
        art, vrow = store.resolve(ref)
        entry = manifests.Manifest(store, vrow).file_entry(logical_path)
        if entry is None:
            raise NotFound(
                f"{art['name']}:{vrow['version']} has no local asset {logical_path!r}; "
                f"see 'artstore show {art['name']}:{vrow['version']}'"
            )
        source = chunk_source(store, [entry], vrow)
        hasher = blake3.blake3()
        try:
            for cid in entry.chunk_ids:
                data = source.read(cid)
                hasher.update(data)
                yield data
        finally:
            source.close()
        if hasher.digest() != entry.digest:
            raise IntegrityError(
                f"{logical_path}: stored chunks do not match the file digest; run 'artstore verify --read-data'"
            )
