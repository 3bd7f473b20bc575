"""verify --remote-store: check a remote as pull would read it, without pulling.

Every index and bundle against its name, every ref and version record field by field,
every version's tree nodes (digests), files and chunks present, every pack present and
long enough for its index; with ``read_data``, every pack read whole and every chunk
hashed against its id. Problems name the remote object and the versions they damage.
"""

from .. import chunkstore, unzstd
from ..catalog import split_chunks
from ..errors import ArtstoreError, IntegrityError
from ..tree import node as node_mod
from . import layout, records
from .pull import check_leaf, remote_refs
from .state import RemoteState


def check(store, name, transport, read_data=False, progress=None):
    problems = []

    def add(kind, detail, versions=()):
        problems.append({"kind": kind, "detail": detail, "versions": sorted(versions)})

    try:
        layout.check_format(transport.read(layout.FORMAT_KEY), transport.url)
    except FileNotFoundError:
        add("remote", f"no artstore remote at {transport.url} ({transport.why_empty()})")
        return {"ok": False, "problems": problems, "notes": []}
    except IntegrityError as exc:
        add("remote-object", str(exc))
        return {"ok": False, "problems": problems, "notes": []}
    file_versions, chunk_versions = {}, {}
    found = []  # (ref, version record): read before the indexes and bundles (pull's order)
    arts, _ = remote_refs(transport)
    for key in arts:
        try:
            data, _token = transport.read_ref(key)
            doc = records.check_ref(layout.decode(data, key), key)
        except ArtstoreError as exc:
            add("remote-object", str(exc))
            continue
        for version, vid in doc["versions"].items():
            ref = f"{doc['workspace']}/{doc['name']}:{version}"
            what = layout.version_key(vid)
            try:
                record = records.check_version_record(layout.decode(transport.read(what), what), vid, what,
                                                      doc["workspace"], doc["name"], version)
            except FileNotFoundError:
                add("remote-object", f"{what} is missing", [ref])
                continue
            except ArtstoreError as exc:
                add("remote-object", str(exc), [ref])
                continue
            found.append((ref, record))
    try:
        state = RemoteState(store, name, transport).refresh()
    except IntegrityError as exc:
        add("remote-object", str(exc))
        return {"ok": False, "problems": problems, "notes": []}
    for ref, record in found:
        # (digest, the level its parent names it at): pull refuses a node at another
        # level, so verify reports it (it found only unreadable nodes before).
        frontier = [(bytes.fromhex(record["manifest_digest"]), None)]
        totals, whole = [0, 0], True  # the tree's asset count and bytes, as local verify checks them
        for _asset, digest in record.get("fetched", []):
            file_versions.setdefault(bytes.fromhex(digest), set()).add(ref)
        while frontier:
            nxt = []
            for digest, expect in frontier:
                row = state.nodes.get(digest)
                if row is None:
                    add("remote-node", f"manifest node {digest.hex()} is in no bundle", [ref])
                    whole = False
                    continue
                try:
                    level, items = node_mod.decode(digest, unzstd.expand(row[1], node_mod.MAX_NODE_BYTES))
                except Exception as exc:
                    add("remote-node", f"manifest node {digest.hex()} is damaged ({exc})", [ref])
                    whole = False
                    continue
                if expect is not None and level != expect:
                    add("remote-node", f"manifest node {digest.hex()} is at level {level} where its parent "
                        f"expects level {expect}", [ref])
                    whole = False
                    continue
                if level:
                    nxt.extend((d, level - 1) for _p, d, _n in items)
                else:
                    try:
                        check_leaf(digest, items)
                    except IntegrityError as exc:
                        add("remote-node", str(exc).split("; nothing")[0], [ref])
                    totals[0] += len(items)
                    totals[1] += sum(e.size for e in items)
                    for e in items:
                        if e.digest is not None:
                            file_versions.setdefault(e.digest, set()).add(ref)
            frontier = nxt
        if whole and totals != [record["asset_count"], record["size"]]:
            # A pulled version with other totals than its tree is what local verify calls a
            # bad record: the remote's copy is the damaged one.
            add("remote-object", f"{layout.version_key(record['id'])} records {record['asset_count']} asset(s) of "
                f"{record['size']} bytes, its manifest holds {totals[0]} of {totals[1]}", [ref])
    for digest, refs in file_versions.items():
        row = state.files.get(digest)
        if row is None:
            add("remote-file", f"file {digest.hex()} is in no bundle", refs)
            continue
        for cid in split_chunks(row[1]):
            chunk_versions.setdefault(cid, set()).update(refs)
    packs = {}
    for cid, refs in chunk_versions.items():
        loc = state.chunks.get(cid)
        if loc is None:
            add("remote-chunk", f"chunk {cid.hex()} is in no indexed pack", refs)
            continue
        packs.setdefault(loc[0], []).append((cid, loc, refs))
    for pack, chunks in packs.items():
        refs = set().union(*(r for _c, _l, r in chunks))
        key = layout.pack_key(pack)
        try:
            size = transport._call(key, transport.fs.info, transport.path(key))["size"]
        except FileNotFoundError:
            add("remote-pack", f"{key} is missing", refs)
            continue
        end = max(loc[1] + loc[2] for _c, loc, _r in chunks)
        if size < end:
            add("remote-pack", f"{key} is {size} bytes, shorter than its index says", refs)
            continue
        if read_data:
            data = transport.read(key)
            header, index, _entries = _pack_parts(data)
            if header is None or chunkstore.pack_name(header, index) != pack:
                add("remote-pack", f"{key}: its header and index do not hash to its name", refs)
            for cid, (_p, offset, stored, csize, compression), crefs in chunks:
                try:
                    chunkstore.decode(data[offset:offset + stored], csize, compression, cid, f"remote {key}")
                except ArtstoreError as exc:
                    add("remote-chunk", str(exc).split(";")[0], crefs)
            if progress:
                progress(len(data))
    return {"ok": not problems, "problems": problems, "notes": []}


def _pack_parts(data):
    """(header, index bytes, entries) of a whole pack held in memory, or (None, None, None)."""
    if len(data) < chunkstore.HEADER_SIZE + chunkstore.FOOTER.size or not data.startswith(chunkstore.PACK_MAGIC):
        return None, None, None
    count, index_offset, magic = chunkstore.FOOTER.unpack(data[-chunkstore.FOOTER.size:])
    end = index_offset + count * chunkstore.INDEX_ENTRY.size
    if magic != chunkstore.INDEX_MAGIC or end + chunkstore.FOOTER.size != len(data):
        return None, None, None
    return data[:chunkstore.HEADER_SIZE], data[index_offset:index_offset + count * chunkstore.INDEX_ENTRY.size], count
