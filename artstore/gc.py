"""Garbage collection: drop what no logged version references, rewrite mostly-dead packs.

Runs under the store's exclusive lock, so no writer is between sealing a pack and
committing it (DESIGN.md invariant 4) and no reader is reading a pack it deletes. The
order keeps every crash safe: new packs are sealed first, one catalog transaction then
switches the chunk index to them and forgets the dead rows, and only after that commit
are old pack files deleted. A crash leaves unreferenced packs, which the next gc removes.
"""

import os

from . import chunkstore, manifests, records, tree
from .catalog import split_chunks
from .errors import IntegrityError, InvalidInput
from .faults import checkpoint


def _live(store):
    """(live node digests, live file digests): the nodes of every version's tree, and the
    files their entries and fetched remote assets name."""
    internal, leaves = tree.reachable(store.nodes, manifests.roots(store).values())
    files = store.catalog.fetched_digests()
    leaves = list(leaves)
    for start in range(0, len(leaves), 256):
        for _level, entries in store.nodes.load(leaves[start:start + 256], 0).values():
            files.update(e.digest for e in entries if e.digest is not None)
    return internal | set(leaves), files


def _plan(store, threshold):
    cat = store.catalog
    live_nodes, live_files = _live(store)
    dead_nodes = [d for d in cat.node_digests() if d not in live_nodes]
    dead_files, live_chunks = [], set()
    for digest, size, blob in cat.iter_files():
        if digest in live_files:
            # A live file whose chunk list cannot be read would make its chunks look dead
            # and gc delete them: refuse, as for a manifest that cannot be read.
            records.chunk_list(blob, size, f"file {digest.hex()}")
            live_chunks.update(split_chunks(blob))
        else:
            dead_files.append(digest)
    remove, rewrite, dead_chunks, kept = [], [], [], []
    for pack in cat.packs():
        rows = cat.pack_chunks(pack["id"])
        live = [r for r in rows if r[0] in live_chunks]
        dead_chunks.extend(r[0] for r in rows if r[0] not in live_chunks)
        if not live:
            remove.append(pack)
        else:
            # Dead bytes are measured from the file size: a pack may also hold bytes that a
            # concurrent writer stored twice and that the chunk index never pointed at.
            payload = pack["size"] - chunkstore.overhead(len(rows))
            dead = payload - sum(r[2] for r in live)
            if payload > 0 and dead > 0 and dead / payload > threshold:
                rewrite.append((pack, live))
            elif dead > 0:
                kept.append(dead)
    known = {p["name"] + ".pack" for p in cat.packs()}
    orphans = [n for n in os.listdir(store.pack_dir) if n not in known]
    temps = os.listdir(store.tmp_dir)
    return dead_nodes, dead_files, dead_chunks, remove, rewrite, orphans, temps, kept


def _size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def collect(store, dry_run=False, progress=None, repack_threshold=None):
    """Run (or with ``dry_run`` only plan) a collection; returns the summary dict."""
    cat = store.catalog
    if repack_threshold is None:
        repack_threshold = store.config.storage["gc_repack_threshold"]
    if not 0 <= repack_threshold <= 1:
        raise InvalidInput(f"the repack threshold must be between 0 and 1, not {repack_threshold}")
    dead_nodes, dead_files, dead_chunks, remove, rewrite, orphans, temps, kept = _plan(store, repack_threshold)
    orphan_paths = [os.path.join(store.pack_dir, n) for n in orphans]
    temp_paths = [os.path.join(store.tmp_dir, n) for n in temps]
    summary = {
        "dry_run": dry_run,
        "nodes_removed": len(dead_nodes),
        "files_removed": len(dead_files),
        "chunks_removed": len(dead_chunks),
        "packs_removed": len(remove),
        "packs_rewritten": len(rewrite),
        "orphans_removed": len(orphans),
        "temp_removed": len(temps),
        "bytes_freed": 0,
        # Dead bytes left in packs whose dead share is at or below the threshold: rewriting
        # a pack for a few dead bytes costs more than it frees; --repack-threshold 0 does it.
        "dead_bytes_kept": sum(kept),
        "packs_with_dead_bytes_kept": len(kept),
        "repack_threshold": repack_threshold,
    }
    freed = sum(p["size"] for p in remove) + sum(map(_size, orphan_paths + temp_paths))
    if dry_run:
        summary["bytes_freed"] = freed + sum(
            p["size"] - sum(r[2] for r in live) for p, live in rewrite
        )
        return summary

    # Leftovers first: under the exclusive lock nobody can be about to commit them.
    for path in orphan_paths + temp_paths:
        checkpoint("gc-unlink-leftover")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    writer = store.new_writer()
    reader = chunkstore.PackReader(store.pack_dir)
    try:
        for pack, live in rewrite:
            for cid, offset, stored, size, compression in live:
                data = reader.read(cid, pack["name"], offset, stored, size, compression)
                writer.add(cid, data)
                if progress:
                    progress(stored)
        new_packs = writer.finish()
        checkpoint("gc-before-commit")
        with cat.transaction():
            cat.forget_nodes(dead_nodes)
            cat.forget(
                files=dead_files,
                chunks=dead_chunks + [r[0] for _, live in rewrite for r in live],
                pack_ids=[p["id"] for p in remove] + [p["id"] for p, _ in rewrite],
            )
            cat.add_packs(new_packs)
    except IntegrityError as exc:
        writer.abort(committed=cat.packs_committed)
        raise IntegrityError(f"gc stopped without changing anything: {exc}") from None
    except BaseException:
        writer.abort(committed=cat.packs_committed)  # a commit that went through keeps its packs
        raise
    finally:
        reader.close()

    old = [p for p in remove] + [p for p, _ in rewrite]
    for pack in old:
        checkpoint("gc-unlink-pack")
        try:
            os.unlink(os.path.join(store.pack_dir, pack["name"] + ".pack"))
        except FileNotFoundError:
            pass
    chunkstore.fsync_dir(store.pack_dir)
    freed += sum(p["size"] for p, _ in rewrite) - sum(p.size for p in new_packs)
    summary["bytes_freed"] = freed
    return summary
