"""Lazy versions (git's partial clone): a version pulled with ``--metadata-only`` (or by
``clone --lazy``) has its record, nodes and file rows here and its chunks on a remote.

A read that needs chunks the store lacks fetches them from the version's remote with
ranged reads located through the cached pack indexes, each chunk checked against its id,
into a new local pack committed before the read goes on: a second read is local.
``complete`` brings all of a version's chunks and then forgets that it was lazy.
"""

import os
import sys

from .. import chunkstore, manifests
from ..catalog import split_chunks
from ..errors import IntegrityError, RemoteUnavailable
from . import layout
from .state import RemoteState
from .transfer import fetch_missing


def version_chunks(store, version_ids):
    """Chunk ids of every stored file of the versions (local assets and fetched ones)."""
    digests = {e.digest for _v, e in manifests.all_entries(store, set(version_ids)) if e.digest is not None}
    for vid in version_ids:
        digests.update(d for _a, d in store.catalog.fetched_rows(vid))
    ids = []
    for _size, blob in store.catalog.files_many(digests).values():
        ids.extend(split_chunks(blob))
    return list(dict.fromkeys(ids))


def announce(message):
    print(message, file=sys.stderr, flush=True)


def fill(store, name, remote, chunk_ids, what, progress=None, notice=announce):
    """Fetch the chunks of ``chunk_ids`` this store lacks from remote ``name`` (``remote``:
    its cache name and Transport) and commit them; ``what`` names what needs them in
    messages. Returns (chunks, bytes)."""
    missing = _missing(store, chunk_ids)
    if not missing:
        return 0, 0
    cache_name, transport = remote
    try:
        try:
            layout.check_format(transport.read(layout.FORMAT_KEY), transport.url)
        except FileNotFoundError:
            raise RemoteUnavailable(f"{transport.url} holds no artstore remote any more") from None
        state = RemoteState(store, cache_name, transport).refresh(meta=False)
        absent = [c for c in missing if c not in state.chunks]
        if absent:
            raise IntegrityError(f"{what} is lazy but remote {name} lacks {len(absent)} of the chunk(s) it needs "
                                 f"(e.g. {absent[0].hex()}); run 'artstore verify --remote-store {name}'")
        stored = sum(state.chunks[c][2] for c in missing)
        if notice:
            notice(f"fetching {len(missing)} chunk(s) ({stored / (1 << 20):.1f} MiB) of {what} from {name}")
        packs, got = fetch_missing(store, state, transport, missing, progress)
    except RemoteUnavailable as exc:
        raise RemoteUnavailable(
            f"{what} is lazy and {len(missing)} of its chunk(s) are only on remote {name}, which cannot be "
            f"reached ({str(exc).split(';')[0]}); reconnect, or 'artstore fetch' it while online"
        ) from None
    try:
        with store.catalog.transaction() as cat:
            cat.add_packs(packs)
    except BaseException:
        for pack in chunkstore.uncommitted(packs, store.catalog.packs_committed):  # a commit may have gone through
            _unlink_pack(store, pack.name)
        raise
    return got, sum(p.size for p in packs)


def settle(store, version_ids):
    """Forget that the versions of ``version_ids`` are lazy where every chunk they need is
    here (reads fetched them); returns the ids still lazy."""
    done = [v for v in version_ids if not _missing(store, version_chunks(store, [v]))]
    if done:
        with store.catalog.transaction() as cat:
            cat.unmark_lazy(done)
    return [v for v in version_ids if v not in done]


def _missing(store, chunk_ids):
    have = store.catalog.known_chunks(chunk_ids)
    return [c for c in dict.fromkeys(chunk_ids) if c not in have]


def _unlink_pack(store, name):
    try:
        os.unlink(os.path.join(store.pack_dir, name + ".pack"))
    except FileNotFoundError:
        pass


def complete(store, versions, open_remote, progress=None, notice=announce):
    """Bring every missing chunk of the lazy ``versions`` ({version id: remote name}) and
    forget that they were lazy. ``open_remote(name)`` gives (cache name, Transport)."""
    got = nbytes = 0
    by_remote = {}
    for vid, name in versions.items():
        by_remote.setdefault(name, []).append(vid)
    for name, vids in by_remote.items():
        what = store.ref_of(vids[0]) if len(vids) == 1 else f"{len(vids)} lazy versions"
        chunk_ids = version_chunks(store, vids)
        if _missing(store, chunk_ids):
            # The remote is opened only when something is to be fetched: reads (download,
            # cat) may have brought every chunk already, and 'fetch' then said the remote
            # was gone or removed (exit 3 or 7) though the data was all here.
            n, b = fill(store, name, open_remote(name), chunk_ids, what, progress, notice)
            got, nbytes = got + n, nbytes + b
        with store.catalog.transaction() as cat:
            cat.unmark_lazy(vids)
    return got, nbytes
