"""Moving chunks between the local packs and a remote, several requests at once.

Uploads send whole sealed packs (each pack before its index), a bounded pool of them at
a time. Downloads fetch chunks with ranged reads of remote packs (chunks of one pack less
than RANGE_GAP apart in one read, at most RANGE_MAX bytes per read), a bounded window of
reads in flight, and hand every chunk, checked against its id, to a local PackWriter as
the stored frame it is (no re-encoding). Both report bytes to ``progress``.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from .. import chunkstore
from ..errors import IntegrityError
from ..faults import checkpoint
from . import layout

WORKERS = 8  # requests in flight: enough to hide latency, few enough for a laptop's link
RANGE_GAP = 1 << 20  # chunks of one pack closer than this are fetched with one ranged read
RANGE_MAX = 16 << 20  # and one read holds at most this much (bounds memory: WORKERS x 2 reads)


def upload_packs(transport, pack_dir, sealed, progress=None, remember=None, check=None, indexes=None):
    """Upload sealed local packs and their indexes; returns the bytes sent. A pack's index
    goes up only after the pack itself (an index names chunks the remote must hold).
    ``remember(kind, name, bytes)`` caches each index sent (RemoteState.remember);
    ``check(pack)`` must pass before the pack's index goes up; it runs beside the upload.
    ``indexes``: {pack name: header and index bytes} the caller has read already."""

    def one(pack):
        path = os.path.join(pack_dir, pack.name + ".pack")
        # The check runs while the pack uploads: a pack found damaged never gets its index,
        # so nothing names it and remote gc removes it.
        checking = checker.submit(check, pack) if check else None
        if indexes and pack.name in indexes:
            header, index = indexes[pack.name][:chunkstore.HEADER_SIZE], indexes[pack.name][chunkstore.HEADER_SIZE:]
        else:
            header, index, _entries = chunkstore.read_pack_index(path)
        checkpoint("push-pack")
        transport.put_new_file(layout.pack_key(pack.name), path)
        if checking is not None:
            checking.result()
        checkpoint("push-index")
        transport.put_new(layout.index_key(pack.name), header + index)
        if remember:
            remember("idx", pack.name, header + index)
        if progress:
            progress(pack.size)
        return pack.size + len(header) + len(index)

    if not sealed:
        return 0
    with ThreadPoolExecutor(2, thread_name_prefix="artstore-check") as checker, \
            ThreadPoolExecutor(min(WORKERS, len(sealed)), thread_name_prefix="artstore-upload") as pool:
        return sum(pool.map(one, sealed))


def plan_reads(chunk_ids, locations):
    """[(pack name, start, end, [(offset, cid, stored, size, compression)])]: the ranged
    reads that fetch ``chunk_ids`` (each in ``locations``: cid -> remote index entry)."""
    by_pack = {}
    for cid in dict.fromkeys(chunk_ids):
        name, offset, stored, size, compression = locations[cid]
        by_pack.setdefault(name, []).append((offset, cid, stored, size, compression))
    reads = []
    for name, chunks in by_pack.items():
        chunks.sort()
        run = []
        for item in chunks:
            if run and (item[0] - (run[-1][0] + run[-1][2]) > RANGE_GAP
                        or item[0] + item[2] - run[0][0] > RANGE_MAX):
                reads.append((name, run[0][0], run[-1][0] + run[-1][2], run))
                run = []
            run.append(item)
        if run:
            reads.append((name, run[0][0], run[-1][0] + run[-1][2], run))
    return reads


def fetch_chunks(transport, reads, writer, progress=None):
    """Run the planned reads (a window of them in flight) and add every chunk, checked
    against its id, to ``writer`` as its stored frame. Returns (chunks, stored bytes)."""

    def read(job):
        name, start, end, _run = job
        checkpoint("pull-read")
        try:
            data = transport.read_range(layout.pack_key(name), start, end)
        except FileNotFoundError:
            raise IntegrityError(f"remote pack {layout.pack_key(name)} is missing though an index names it; "
                                 "run 'artstore verify --remote-store'") from None
        if len(data) != end - start:
            raise IntegrityError(f"remote pack {name} is shorter than its index says")
        view = memoryview(data)
        for offset, cid, stored, size, compression in job[3]:  # checked here, beside other reads
            chunkstore.decode(view[offset - start:offset - start + stored], size, compression, cid,
                              f"remote pack {name}")
        return data

    got = nbytes = 0
    if not reads:
        return got, nbytes
    with ThreadPoolExecutor(min(WORKERS, len(reads)), thread_name_prefix="artstore-download") as pool:
        pending = []
        jobs = iter(reads)
        for job in jobs:
            pending.append((job, pool.submit(read, job)))
            if len(pending) < 2 * WORKERS:
                continue
            got, nbytes = _add(pending.pop(0), writer, progress, got, nbytes)
        while pending:
            got, nbytes = _add(pending.pop(0), writer, progress, got, nbytes)
    return got, nbytes


def _add(item, writer, progress, got, nbytes):
    """Hand a finished read's chunks (checked by the reading thread) to the writer."""
    (_name, start, _end, run), future = item
    data = future.result()
    view = memoryview(data)
    for offset, cid, stored, size, compression in run:
        writer.add_stored(cid, bytes(view[offset - start:offset - start + stored]), size, compression)
        got += 1
        nbytes += stored
    if progress:
        progress(len(data))
    return got, nbytes


def fetch_missing(store, state, transport, wanted, progress=None):
    """(sealed packs, chunks fetched) for the chunks of ``wanted`` this store lacks."""
    have = store.catalog.known_chunks(wanted)
    missing = [c for c in wanted if c not in have]
    for cid in missing:
        if cid not in state.chunks:
            raise IntegrityError(f"the remote lacks chunk {cid.hex()} of a file it names")
    reads = plan_reads(missing, state.chunks)
    if progress and hasattr(progress, "set_total"):
        progress.set_total(sum(r[2] - r[1] for r in reads))
    writer = store.new_writer()
    try:
        got, _nbytes = fetch_chunks(transport, reads, writer, progress)
        return writer.finish(), got
    except BaseException:
        writer.abort()
        raise
