"""Remote assets at the store level: pulling their bytes in (fetch, to freeze a
version) and checking that the pinned objects are still there (verify --remote)."""

from . import ingest, manifests, remote
from .catalog import dumps


def fetch(store, ref, progress=None):
    """Pull the bytes of a version's synced remote assets into the store, so that later
    downloads work offline and survive the bucket changing. Returns a summary."""
    with store.lock.shared():
        store.check_writable()
        art, vrow = store.resolve(ref)
        manifest = manifests.Manifest(store, vrow)
        remote_entries = [e for e in manifest.entries() if e.remote]
        todo = [e for e in remote_entries if e.identity and manifest.fetched_digest(e) is None]
        writer = store.new_writer()
        try:
            ingestor = ingest.Ingestor(store.catalog, writer, store.config.chunking, progress)
            fetched = []
            for e in todo:
                reader = remote.VerifiedReader(
                    e.uri, e.identity, e.size, store.remote_options(remote.scheme_of(e.uri)))
                try:
                    record = ingestor.store_data(reader)
                finally:
                    reader.close()
                fetched.append((manifest.id_of(e.path), vrow["id"], record.digest))
            ingestor.flush()
            packs = writer.finish()
            with store.catalog.transaction() as cat:
                cat.add_packs(packs, relocate=ingestor.lost)
                cat.add_files((d, s, blob) for d, (s, blob) in ingestor.new_files.items())
                cat.add_fetched(fetched)
        except BaseException:
            writer.abort(committed=store.catalog.packs_committed)  # a commit that went through keeps its packs
            raise
    opaque = [e.path for e in remote_entries if not e.identity]
    return {
        "ref": f"{art['workspace']}/{art['name']}:{vrow['version']}",
        "fetched": len(fetched),
        "bytes": sum(e.size for e in todo),
        "stored_bytes": sum(p.size for p in packs),
        "opaque": opaque,
    }


def synced_remote_assets(store):
    """(version ids, entry) of every synced remote asset, one per distinct object, by URI."""
    found = {}
    for vids, e in manifests.all_entries(store):
        if e.remote and e.identity:
            key = (e.uri, e.size, dumps(e.identity))
            found.setdefault(key, (set(), e))[0].update(vids)
    return sorted(found.values(), key=lambda item: item[1].uri)


def check_remote(store, progress=None):
    """Problems (verify's shape) for synced remote assets that changed or vanished."""
    problems = []
    for vids, e in synced_remote_assets(store):
        problem = remote.check(e.uri, e.identity, e.size, store.remote_options(remote.scheme_of(e.uri)))
        if problem:
            problems.append({"kind": "remote-changed", "detail": problem,
                             "versions": sorted(store.ref_of(v) for v in vids)})
        if progress:
            progress(1)
    return problems
