"""Remote assets at the store level: pulling their bytes in (fetch, to freeze a
version) and checking that the pinned objects are still there (verify --remote)."""

import json

from . import ingest, remote


def fetch(store, ref, progress=None):
    """Pull the bytes of a version's synced remote assets into the store, so that later
    downloads work offline and survive the bucket changing. Returns a summary."""
    with store.lock.shared():
        store.check_writable()
        art, vrow = store.resolve(ref)
        todo = [a for a in store.catalog.assets(vrow["id"])
                if a["remote"] and a["remote_identity"] and a["fetched_digest"] is None]
        writer = store.new_writer()
        try:
            ingestor = ingest.Ingestor(store.catalog, writer, store.config.chunking, progress)
            fetched = []
            for a in todo:
                identity = json.loads(a["remote_identity"])
                reader = remote.VerifiedReader(
                    a["uri"], identity, a["size"], store.remote_options(remote.scheme_of(a["uri"])))
                try:
                    record = ingestor.store_data(reader)
                finally:
                    reader.close()
                fetched.append((a["id"], vrow["id"], record.digest))
            ingestor.flush()
            packs = writer.finish()
            with store.catalog.transaction() as cat:
                cat.add_packs(packs, relocate=ingestor.lost)
                cat.add_files((d, s, blob) for d, (s, blob) in ingestor.new_files.items())
                cat.add_fetched(fetched)
        except BaseException:
            writer.abort()
            raise
    opaque = [a["logical_path"] for a in store.catalog.assets(vrow["id"])
              if a["remote"] and not a["remote_identity"]]
    return {
        "ref": f"{art['workspace']}/{art['name']}:{vrow['version']}",
        "fetched": len(fetched),
        "bytes": sum(a["size"] for a in todo),
        "stored_bytes": sum(p.size for p in packs),
        "opaque": opaque,
    }


def check_remote(store, progress=None):
    """Problems (verify's shape) for synced remote assets that changed or vanished."""
    problems = []
    for a in store.catalog.remote_assets():
        identity = json.loads(a["remote_identity"])
        problem = remote.check(a["uri"], identity, a["size"], store.remote_options(remote.scheme_of(a["uri"])))
        if problem:
            problems.append({"kind": "remote-changed", "detail": problem,
                             "versions": [store.ref_of(a["version_id"])]})
        if progress:
            progress(1)
    return problems
