"""push: send versions with what the remote lacks of their nodes, files and chunks, then
their records, then move the refs by compare-and-swap.

Order (docs/storage.rst): packs, each before its index; the bundle of file rows and nodes;
version records; refs last. A push killed at any point leaves a remote that names no
object it lacks; running it again finishes the work (every write is create-only or CAS).
"""

import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter

from .. import chunkstore, names, tree
from .. import records as store_records
from ..catalog import DIGEST_SIZE
from ..errors import Conflict, IntegrityError, InvalidInput, NotFound, RemoteUnavailable
from ..faults import checkpoint
from ..nogc import nogc
from . import known_refs, labels, layout, packcheck, records, transfer
from .state import RemoteState, read_markers

CAS_TRIES = 5
_chunk_id = itemgetter(0)  # of an index entry


def select(store, refs, all_versions):
    """[(artifact row, version row)] to send: REFs (a name: all its versions), or all."""
    out = []
    if not refs or all_versions:
        for art in store.catalog.list_artifacts():
            out += [(art, v) for v in store.version_rows(art["id"])]
        return out
    for ref in refs:
        if ":" in ref:
            out.append(store.resolve(ref))
        else:
            art = store.artifact(*reversed(ref.split("/", 1))) if "/" in ref else store.artifact(ref)
            out += [(art, v) for v in store.version_rows(art["id"])]
    return list({v["id"]: (a, v) for a, v in out}.values())


def ensure_format(transport):
    """Create the remote's format record on the first push, and check that the backend
    honours create-only writes: refs are only safe for a team on a backend that compares
    before it writes. (True if this push made the record, that is, found the remote new
    (every push writes the record before anything else), the remote's id).

    The record is its own probe: a second create-only write of it must be refused, and a
    backend that ignores the condition only writes the same bytes again. (Earlier
    releases wrote a probes/<uuid> object for this; remote gc still removes those.)"""
    try:
        return False, layout.check_format(transport.read(layout.FORMAT_KEY), transport.url)
    except FileNotFoundError:
        pass
    record = layout.format_record()
    created = transport.put_new(layout.FORMAT_KEY, record)
    if created and transport.put_new(layout.FORMAT_KEY, record):  # made it: a second create must fail
        raise InvalidInput(
            f"{transport.url} does not honour conditional writes (a create-only write replaced an object); "
            "artstore cannot share a store safely there"
        )
    if not created:
        # Refused: another first push made it meanwhile, and the refusal of an existing key
        # is the check; read what it wrote (ours needs no read back).
        return False, layout.check_format(transport.read(layout.FORMAT_KEY), transport.url)
    return True, layout.check_format(record, transport.url)


# Planning a push of 100,000 files makes some 10^6 tuples, bytes and strings, none in a
# cycle; with the collector on it ran every few thousand of them, now and then over every
# object of the process (0.4 s of a 0.98 s push of 20,000 files in the benchmark's process).
@nogc
def push(store, name, transport, refs=(), all_versions=False, force=False, progress=None):
    """Send versions to the remote. Returns a summary."""
    with store.lock.shared():
        if store.config.storage["remote_gc_grace"] <= 0:
            _within_grace(store, time.monotonic())  # refused before anything is sent
        chosen = select(store, refs, all_versions)
        for art in {a["workspace"]: a for a, _v in chosen}.values():
            names.check_workspace(art["workspace"])  # a store made before init refused '.' and '..'
        lazy = store.catalog.lazy_versions()
        elsewhere = [v["id"] for _art, v in chosen if v["id"] in lazy and lazy[v["id"]] != name]
        if elsewhere:
            # A lazy version whose reads brought all its data is no longer lazy: it was
            # refused here with advice to 'fetch' it, which needs the remote it came from.
            from .lazy import settle

            lazy = {v: lazy[v] for v in settle(store, elsewhere)}
        for art, v in chosen:
            if v["id"] in lazy and lazy[v["id"]] != name:
                raise NotFound(f"{art['workspace']}/{art['name']}:{v['version']} is lazy (its data is on remote "
                               f"{lazy[v['id']]}); run 'artstore fetch {art['name']}:{v['version']}' first")
        # The remote's side (its format, gc markers, the objects it holds, the refs: requests)
        # is read on a thread while this one plans from the catalog. A plan made before the
        # remote is known assumes it holds nothing, which is what a remote this store has
        # never reached usually holds (a first push); it is used only when that proves true.
        # (First contact is asked before the thread starts: its refresh caches what it reads.)
        unread = RemoteState(store, name, transport)  # holds nothing until refreshed
        first = _first_contact(unread)
        with packcheck.EarlyChecks(store.pack_dir, _sent_whole_likely(store, chosen) if first else ()) as early:
            reading = _Background(_read_remote, store, name, transport, chosen)
            guess = _plan(store, unread, chosen) if first else None
            return _publish(store, name, transport, chosen, force, progress, early, guess, reading.result())


def _publish(store, name, transport, chosen, force, progress, early, guess, remote):
    """The rest of push, once the ``remote`` is read (_read_remote): check for conflicts,
    send the objects (``guess``: the plan made before the remote was read, if any), the
    records, then move the refs."""
    started, marked, state, docs, remote_id = remote
    todo = []
    for art, v in chosen:
        doc = docs[layout.ref_key(art["workspace"], art["name"])][0]
        there = doc["versions"].get(v["version"])
        if there is not None and there != v["id"]:
            raise Conflict(
                f"{transport.url} already has {art['workspace']}/{art['name']}:{v['version']} with other "
                "content; pull, then log your change under a new version"
            )
        if doc["type"] != art["type"]:
            raise Conflict(f"{transport.url} has {art['name']} as type {doc['type']!r}, not {art['type']!r}")
        if there is None:  # a ref names only records the remote holds (push order)
            todo.append((art, v))
    holds_nothing = not (state.chunks or state.files or state.nodes or marked)
    if guess is None or not holds_nothing or len(todo) != len(chosen):
        guess = _plan(store, state, todo, marked)
    sent = _send_objects(store, state, transport, guess, progress, early)
    for art, v in todo:
        _within_grace(store, started)
        checkpoint("push-version")
        transport.put_new(layout.version_key(v["id"]), layout.encode(records.version_record(store, art, v)))
    _within_grace(store, started)
    moved = _update_refs(store, name, transport, chosen, docs, force, remote_id)
    return {"remote": transport.url, "versions": len(todo), "refs": moved, **sent}


def _within_grace(store, started):
    """A push publishes (records, then refs) only while it is younger than the remote gc
    grace period: what it sent or relied on cannot have been swept before that
    (docs/storage.rst, "Remote gc")."""
    grace = store.config.storage["remote_gc_grace"]
    if grace <= 0:
        # "Ran longer than 0 s ... run the push again" sent the user round in a loop: with
        # no grace period, no push can ever publish safely, whatever its speed.
        raise InvalidInput("remote_gc_grace is 0 in the [storage] section of the store config, so a remote gc "
                           "may delete what any push sends before it is published; set it to more seconds "
                           "than a push takes (default 3600), then push again")
    if time.monotonic() - started >= grace:
        raise RemoteUnavailable(
            f"this push ran longer than the remote gc grace period ({grace:g} s), so a remote gc may have "
            "removed what it sent; nothing was published; run the push again"
        )


def _read_ref(transport, key, art):
    data, token = transport.read_ref(key)
    if data is None:
        return records.empty_ref(art), None
    return records.check_ref(layout.decode(data, key), key), token


class _Background:
    """A call run on a daemon thread. Its result is waited for with a join, which Ctrl-C
    interrupts; the thread (only reading from the remote) is then left behind, and a
    command interrupted while an endpoint hangs exits at once instead of when the read
    times out (a pool's worker is joined at interpreter exit: minutes)."""

    def __init__(self, fn, *args):
        self._outcome = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="artstore-remote", daemon=True)
        self._thread.start()

    def _run(self, fn, args):
        try:
            self._outcome = (True, fn(*args))
        except BaseException as exc:  # handed to the waiting thread, raised there
            self._outcome = (False, exc)

    def result(self):
        self._thread.join()
        ok, value = self._outcome
        if not ok:
            raise value
        return value


def _read_remote(store, name, transport, chosen):
    """(start of the grace period, objects marked by a remote gc, RemoteState, {ref key:
    (ref doc, CAS token)} of the chosen versions' artifacts, the remote's id): what a push
    reads from the remote before it sends anything (a thread of its own: requests only,
    no catalog)."""
    new, remote_id = ensure_format(transport)
    started = time.monotonic()
    if new:
        # A remote this push made the format record of held nothing, so there is nothing to
        # list or read (four requests fewer). What a concurrent first push writes
        # meanwhile is sent again (dedup lost to a race, nothing else) and its refs are
        # met by the compare-and-swap, which re-reads them.
        docs = {layout.ref_key(art["workspace"], art["name"]): (records.empty_ref(art), None) for art, _v in chosen}
        return started, set(), RemoteState(store, name, transport), docs, remote_id
    # Objects a remote gc marked for deletion count as absent: this push re-sends what
    # it needs of them rather than depend on them (docs/storage.rst, "Remote gc").
    marked = set().union(*(objects for _k, _t, objects in read_markers(transport)))
    state = RemoteState(store, name, transport).refresh(skip=marked)
    docs = {}
    for art, _v in chosen:
        key = layout.ref_key(art["workspace"], art["name"])
        if key not in docs:
            docs[key] = _read_ref(transport, key, art)
    return started, marked, state, docs, remote_id


def _sent_whole_likely(store, chosen):
    """Names of the large local packs (those a child process checks) that a first push of
    ``chosen`` will probably send whole, whose checks start before it has planned
    (packcheck.EarlyChecks): when it sends every version of the store, it sends every
    pack whole but those holding chunks of deleted versions."""
    if len(chosen) < len(store.catalog.version_counts()):
        return ()
    return [name for name, count in store.catalog.pack_chunk_counts().items() if count >= packcheck.CHILD_MIN_CHUNKS]


def _first_contact(state):
    """True if this store has cached nothing of ``state``'s remote (never pushed or pulled)."""
    cache = state.cache
    return not any(os.path.isdir(os.path.join(cache, kind)) and os.listdir(os.path.join(cache, kind))
                   for kind in ("idx", "meta"))


def _plan(store, state, todo, marked=frozenset()):
    """What a push of ``todo`` sends, given what the remote holds (``state``): the node
    rows, file rows and chunk ids it lacks, and how the chunks go (whole local packs, or
    frames to copy)."""
    cat = store.catalog
    roots = [store_records.manifest_digest(v["manifest_digest"], f"version {v['id']}") for _a, v in todo]
    internal, leaves = tree.reachable(store.nodes, roots)
    node_rows = cat.nodes_rows([d for d in internal | leaves if d not in state.nodes])
    # Only the entries of leaves the remote lacks: a leaf it holds came in a bundle with (or
    # after) the file rows of its entries, so a one-file edit of a 100,000-file version
    # reads one leaf, not all of them. Not while a remote gc has bundles marked: those
    # count as absent, and the file rows of a leaf held elsewhere may be in one of them.
    bundles_marked = any(k.startswith(layout.META + "/") for k in marked)
    new_leaves = [d for d in leaves if bundles_marked or d not in state.nodes]
    digests = store.nodes.leaf_file_digests(new_leaves, node_rows)
    for _a, v in todo:
        digests.update(d for _asset, d in cat.fetched_rows(v["id"]))
    if state.files:
        digests = {d for d in digests if d not in state.files}
    files = cat.files_many(digests)
    if len(files) != len(digests):
        missing = next(d for d in digests if d not in files)
        raise NotFound(f"file {missing.hex()} of a version to push is not in the store; run 'artstore verify'")
    # Every chunk list is a run of 32-byte ids: cut them all out of one joined blob. A
    # damaged row would shift every id after it (or stop the join with a TypeError):
    # checked first, as readers check it (exit 6, naming the file).
    for digest, (size, blob) in files.items():
        store_records.chunk_list(blob, size, f"file {digest.hex()}")
    joined = b"".join(blob for _size, blob in files.values())
    chunk_ids = list(dict.fromkeys(joined[i:i + DIGEST_SIZE] for i in range(0, len(joined), DIGEST_SIZE)))
    if state.chunks:
        chunk_ids = [c for c in chunk_ids if c not in state.chunks]
    whole, rest, indexes = _whole_packs(store, chunk_ids, marked) if chunk_ids else ([], [], {})
    return {"node_rows": node_rows, "files": files, "chunk_ids": chunk_ids, "whole": whole, "rest": rest,
            "indexes": indexes}


def _send_objects(store, state, transport, plan, progress, early):
    """Upload what the remote lacks of the versions' chunks (as new packs), file rows and
    nodes (one bundle), as ``plan`` (_plan) says; ``early`` (packcheck.EarlyChecks) checks
    each local pack sent whole. Returns counts and bytes."""
    files, node_rows, chunk_ids = plan["files"], plan["node_rows"], plan["chunk_ids"]
    whole, rest, indexes = plan["whole"], plan["rest"], plan["indexes"]
    # The bundle is built while the packs upload (it goes up after them: push order).
    with ThreadPoolExecutor(1, thread_name_prefix="artstore-push") as background:
        uploading = background.submit(_upload_packs, store, transport, whole, rest, indexes, progress,
                                      state.remember, early)
        bundle = state.meta_bundle(files, node_rows) if files or node_rows else None
        packs, bytes_sent = uploading.result()
    if bundle is not None:
        name, data = bundle
        checkpoint("push-meta")
        transport.put_new(layout.meta_key(name), data)
        state.remember("meta", name, data)
        bytes_sent += len(data)
    return {"packs": packs, "chunks": len(chunk_ids), "files": len(files), "nodes": len(node_rows),
            "bytes_sent": bytes_sent}


def _upload_packs(store, transport, whole, rest, indexes, progress, remember, early):
    """Send the chunks: the local packs ``whole`` go up as they are (the first push of a
    version: no copy at all); the stored frames of ``rest`` are copied (as the local
    packs hold them: no re-encoding) into new packs in a work folder. Packs upload
    several at a time. Returns (packs, bytes sent)."""
    if not whole and not rest:
        return 0, 0
    work = os.path.join(store.tmp_dir, f"push-{uuid.uuid4().hex[:12]}")
    os.makedirs(work)
    try:
        sealed = _copy_frames(store, work, rest) if rest else []
        if progress and hasattr(progress, "set_total"):
            progress.set_total(sum(p.size for p in whole + sealed))
        sent = transfer.upload_packs(transport, store.pack_dir, whole, progress, remember,
                                     check=lambda pack: early.check(pack, indexes.get(pack.name)),
                                     indexes=indexes)
        sent += transfer.upload_packs(transport, work, sealed, progress, remember)
        return len(whole) + len(sealed), sent
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _whole_packs(store, chunk_ids, marked):
    """([SealedPack] of local packs to upload as they are, [(pack, chunk id, offset,
    stored, size, compression)] of the other chunks, to copy, {pack: its header and index
    bytes}). A local pack qualifies when its own index lists only wanted chunks and the
    catalog places all of them there, and a remote gc has not marked a pack of that name
    (a push must not depend on a marked object: docs/storage.rst, "Remote gc"). What the
    remote gets is the pack's own index, each of whose chunks packcheck reads and checks
    before it goes up.

    When the push wants most of the store's chunks, the candidates are all local packs,
    read index first: the catalog's chunk rows of a pack only ever come from that pack's
    index (Catalog.add_packs), so a pack whose index is as long as its rows are many and
    lists only wanted chunks is whole, with no catalog row read per chunk (100,000 small
    files: 0.3 s less). Otherwise each wanted chunk's row is looked up and the rows of a
    pack compared with its index."""
    wanted = set(chunk_ids)
    cat = store.catalog
    whole, rest, covered, indexes = [], [], set(), {}

    def index_of(name):
        if layout.pack_key(name) in marked or layout.index_key(name) in marked:
            return None
        try:
            header, index, entries = chunkstore.read_pack_index(os.path.join(store.pack_dir, name + ".pack"))
        except (OSError, IntegrityError):
            return None  # damaged or missing: the copy path reads and names it
        indexes[name] = header + index
        return entries

    def add(name, entries, ids=None):
        whole.append(chunkstore.SealedPack(name, os.path.getsize(os.path.join(store.pack_dir, name + ".pack")),
                                           entries))
        covered.update(ids if ids is not None else map(_chunk_id, entries))

    if cat.scan_beats_lookup("chunks", wanted):
        for name, count in cat.pack_chunk_counts().items():
            entries = index_of(name) if count else None
            if entries and len(entries) == count:
                ids = set(map(_chunk_id, entries))
                if ids <= wanted:
                    add(name, entries, ids)
        by_pack = cat.chunks_by_pack(wanted - covered) if len(covered) < len(wanted) else {}
    else:
        by_pack = cat.chunks_by_pack(wanted)
    found = len(covered)
    for name, rows in by_pack.items():
        found += len(rows)
        entries = index_of(name)
        if entries and len(entries) == len(rows) and set(entries) == set(rows):
            add(name, entries)
        else:
            rest.extend((name, *row) for row in rows)
    if found != len(wanted):
        located = covered | {row[0] for rows in by_pack.values() for row in rows}
        missing = next(c for c in chunk_ids if c not in located)
        raise NotFound(f"chunk {missing.hex()} of a version to push is not in the store; run 'artstore verify'")
    rest.sort(key=lambda r: (r[0], r[2]))  # each pack read front to back, its order kept
    return whole, rest, {p.name: indexes[p.name] for p in whole}


def _copy_frames(store, work, rows):
    """Copy the stored frames of ``rows`` ((pack, chunk id, offset, stored, size,
    compression)), each checked, into new packs in ``work``."""
    writer = chunkstore.PackWriter(work, work, compression=store.config.storage["compression"],
                                   compression_level=store.config.storage["compression_level"],
                                   target_size=store.config.storage["pack_target_size"])
    reader = chunkstore.PackReader(store.pack_dir)
    try:
        for pack, cid, offset, stored, size, compression in rows:
            frame = reader.read_stored(pack, offset, stored)
            chunkstore.decode(frame, size, compression, cid, f"pack {pack}")  # never spread damage
            writer.add_stored(cid, frame, size, compression)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        reader.close()


def _update_refs(store, name, transport, chosen, docs, force, remote_id):
    """Add the versions, aliases and tags to each artifact's ref by compare-and-swap,
    re-reading and merging again when another pusher got there first."""
    moved = 0
    arts = {layout.ref_key(a["workspace"], a["name"]): a for a, _v in chosen}
    for key, art in arts.items():
        base = labels.load_base(store, key, transport.url, remote_id)
        for attempt in range(CAS_TRIES):
            doc, token = docs[key] if attempt == 0 else _read_ref(transport, key, art)
            new = _merged(store, art, doc, [v for a, v in chosen if a["id"] == art["id"]],
                          known_refs.load(store, name, key), force, transport.url, base)
            if new == doc:
                break
            try:
                checkpoint("push-ref")
                transport.write_ref(key, layout.encode(new), token)
                moved += 1
                doc = new
                break
            except Conflict:
                if attempt == CAS_TRIES - 1:
                    raise
        known_refs.save(store, name, key, doc)
        labels.save_base(store, key, labels.next_base(base, labels.local_labels(store.catalog, art["id"]), doc),
                          transport.url, remote_id)
    return moved


def _merged(store, art, doc, versions, known, force, url, base):
    new = {**doc, "versions": dict(doc["versions"]), "aliases": dict(doc["aliases"]),
           "tags": {k: list(v) for k, v in doc["tags"].items()}, "artifact_tags": list(doc["artifact_tags"])}
    # Labels removed here since the last sync leave the remote too, and those removed
    # there since are not sent back (sync/labels.py).
    local = labels.local_labels(store.catalog, art["id"])
    numbers = {v["version"] for v in versions}
    gone_aliases, gone_tags, gone_artifact_tags = labels.removed(base, local, new, numbers)
    # With --force this store's labels win, as for an alias moved there: one removed
    # there since the last sync goes back up (without, the removal is kept).
    left_aliases, left_tags, left_artifact_tags = labels.removed(None if force else base, doc, local, numbers)
    for alias in gone_aliases:
        del new["aliases"][alias]
    for version, tags in gone_tags.items():
        kept = [t for t in new["tags"][version] if t not in tags]
        if kept:
            new["tags"][version] = kept
        else:
            del new["tags"][version]
    new["artifact_tags"] = [t for t in new["artifact_tags"] if t not in gone_artifact_tags]
    aliases_of = {}  # version number -> this store's aliases of it (from ``local``: no query per version)
    for alias, number in sorted(local["aliases"].items()):
        aliases_of.setdefault(number, []).append(alias)
    for v in versions:
        there = new["versions"].get(v["version"])
        if there is not None and there != v["id"]:
            raise Conflict(f"{url} already has {art['workspace']}/{art['name']}:{v['version']} with other content; "
                           "pull, then log your change under a new version")
        new["versions"][v["version"]] = v["id"]
        tags = sorted(set(new["tags"].get(v["version"], []))
                      | (set(local["tags"].get(v["version"], ())) - left_tags.get(v["version"], set())))
        if tags:
            new["tags"][v["version"]] = tags
        for alias in aliases_of.get(v["version"], ()):
            if alias in left_aliases:
                continue
            remote = new["aliases"].get(alias)
            # Moved there since the last sync: the label base knows what this store took (the
            # ref last seen also holds moves it could not take, to versions not pulled).
            seen = base if base is not None else known
            if remote not in (None, v["version"]) and remote != (seen or {}).get("aliases", {}).get(alias) \
                    and not force:
                raise Conflict(
                    f"alias {alias!r} of {art['name']} was moved on {url} to {remote} since your last pull; "
                    "pull first, or push --force to move it anyway"
                )
            new["aliases"][alias] = v["version"]
    new["artifact_tags"] = sorted(set(new["artifact_tags"])
                                  | (set(local["artifact_tags"]) - left_artifact_tags))
    return new
