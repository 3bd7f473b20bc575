"""gc --remote: delete the packs, indexes, bundles and probes no version on a remote
needs, in two phases with a grace period (docs/storage.rst, "Remote gc"), like git's prune
expiry and rustic's delayed delete.

Each run first sweeps: for every marker older than the grace period, it deletes the
objects the marker lists that are still unreferenced (an index before its pack), then
the marker. Then it marks: the unreferenced objects no marker lists yet go into a new
marker. Pushes treat marked objects as absent and re-send what they need of them, and
stop before publishing if they ran longer than the grace period, so a concurrent push is
never left naming an object this deletes. Version records are never deleted. A remote
with damage (a ref naming a missing record, a node or file in no bundle) is not
collected at all: deleting while unsure what is referenced could lose data.
"""

import re
import time
import uuid

from .. import unzstd
from ..catalog import split_chunks
from ..errors import IntegrityError, NotFound
from ..faults import checkpoint
from ..tree import node as node_mod
from . import layout, records
from .pull import remote_refs
from .state import RemoteState, read_markers

PROBES = "probes"
_TMP = r"(\.tmp-[0-9a-f]{32})?"  # a file remote's temp copy that a killed push left
_OURS = {layout.PACKS: re.compile(rf"[0-9a-f]{{64}}\.(pack|idx){_TMP}"),
         layout.META: re.compile(rf"[0-9a-f]{{64}}\.zst{_TMP}"),
         PROBES: re.compile(rf"[0-9a-f]{{32}}{_TMP}")}


def collect(store, name, transport, dry_run=False, grace=3600.0, now=None):
    """Sweep expired markers, then mark what is unreferenced now. Returns a summary."""
    now = time.time() if now is None else now
    try:
        layout.check_format(transport.read(layout.FORMAT_KEY), transport.url)
    except FileNotFoundError:
        raise NotFound(f"no artstore remote at {transport.url} ({transport.why_empty()})") from None
    markers = read_markers(transport)  # listed before the refs are read (see the module docstring)
    roots, fetched = _roots(transport)
    # Indexes and bundles are listed after the refs were read (restic's read order, the
    # reverse of a push's writes): everything those refs reach is then in the listing.
    state = RemoteState(store, name, transport).refresh()
    live_chunks, live_files, live_nodes = _reachable(state, roots, fetched)
    pack_sizes = transport.sizes(layout.PACKS)
    bundle_sizes = transport.sizes(layout.META)
    probe_sizes = transport.sizes(PROBES)
    # Only what a push (or an earlier release's probe) could have written, by its name:
    # a remote pushed into a prefix that held a user's files (data/packs/model.tar) had
    # them marked and then deleted as unreferenced objects.
    sizes = {f"{layout.PACKS}/{k}": v for k, v in pack_sizes.items() if _OURS[layout.PACKS].fullmatch(k)}
    sizes.update({f"{layout.META}/{k}": v for k, v in bundle_sizes.items() if _OURS[layout.META].fullmatch(k)})
    sizes.update({f"{PROBES}/{k}": v for k, v in probe_sizes.items() if _OURS[PROBES].fullmatch(k)})

    live = set()
    for pack, ids in state.pack_chunks.items():
        if ids & live_chunks:
            live.update((layout.pack_key(pack), layout.index_key(pack)))
    for bundle, (files, nodes) in state.bundle_rows.items():
        if files & live_files or nodes & live_nodes:
            live.add(layout.meta_key(bundle))
    unreferenced = {k for k in sizes if k not in live}

    expired = [m for m in markers if now - m[1] >= grace]
    young = [m for m in markers if now - m[1] < grace]
    doomed = set().union(*(objects for _k, _t, objects in expired)) & unreferenced
    resurrected = set().union(*(objects for _k, _t, objects in expired)) & live
    pending = set().union(*(objects for _k, _t, objects in young))
    to_mark = sorted(unreferenced - doomed - pending)
    summary = {
        "remote": transport.url, "dry_run": dry_run, "grace_seconds": grace,
        "deleted": len(doomed), "bytes_freed": sum(sizes.get(k, 0) for k in doomed),
        "resurrected": len(resurrected), "marked": len(to_mark),
        "bytes_marked": sum(sizes.get(k, 0) for k in to_mark),
        "pending": len(pending - doomed), "markers_swept": len(expired),
    }
    if dry_run:
        return summary
    # Indexes before their packs: a reader that lists after this never sees a pack's
    # chunks without the pack. The marker goes last, so a sweep killed half-way is
    # finished by the next run.
    for key in sorted(doomed, key=lambda k: (not k.endswith(".idx"), k)):
        checkpoint("remote-gc-delete")
        transport.delete(key)
    for key, _t, _objects in expired:
        checkpoint("remote-gc-unmark")
        transport.delete(key)
    if to_mark:
        checkpoint("remote-gc-mark")
        marker = layout.marker_key(f"{int(now)}-{uuid.uuid4().hex}.json")
        transport.put_new(marker, layout.encode({"created_at": now, "objects": to_mark}))
    return summary


def _roots(transport):
    """(root node digests, fetched file digests) of every version a ref names."""
    files = set()
    arts, _ = remote_refs(transport)
    frontier = []
    for key in arts:
        data, _token = transport.read_ref(key)
        if data is None:
            continue
        doc = records.check_ref(layout.decode(data, key), key)
        for version, vid in doc["versions"].items():
            what = layout.version_key(vid)
            try:
                record = records.check_version_record(layout.decode(transport.read(what), what), vid, what,
                                                      doc["workspace"], doc["name"], version)
            except FileNotFoundError:
                raise _damaged(f"{key} names {what}, which is missing") from None
            frontier.append(bytes.fromhex(record["manifest_digest"]))
            files.update(bytes.fromhex(d) for _a, d in record.get("fetched", []))
    return frontier, files


def _reachable(state, frontier, fetched):
    """(chunk ids, file digests, node digests) that the versions need, from their roots.
    Anything they reach that the remote lacks or cannot read is IntegrityError."""
    chunks, files, nodes = set(), set(fetched), set()
    while frontier:
        nxt = []
        for digest in set(frontier) - nodes:
            row = state.nodes.get(digest)
            if row is None:
                raise _damaged(f"manifest node {digest.hex()} is in no bundle")
            try:
                level, items = node_mod.decode(digest, unzstd.expand(row[1], node_mod.MAX_NODE_BYTES))
            except Exception as exc:
                raise _damaged(f"manifest node {digest.hex()} is damaged ({str(exc).split(';')[0]})") from None
            nodes.add(digest)
            if level:
                nxt.extend(d for _p, d, _n in items)
            else:
                files.update(e.digest for e in items if e.digest is not None)
        frontier = nxt
    for digest in files:
        row = state.files.get(digest)
        if row is None:
            raise _damaged(f"file {digest.hex()} is in no bundle")
        chunks.update(split_chunks(row[1]))
    absent = [c for c in chunks if c not in state.chunks]
    if absent:
        raise _damaged(f"chunk {absent[0].hex()} is in no indexed pack")
    return chunks, files, nodes


def _damaged(detail):
    return IntegrityError(f"remote gc stopped without deleting anything: {detail}; "
                          "run 'artstore verify --remote-store' to see what is damaged")
