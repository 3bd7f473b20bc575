"""Store verification: catalog structure, packs, chunk index, files and manifests.

Without ``read_data`` it checks that every referenced chunk lies inside a pack that exists
and has its recorded size; with it, every stored chunk is read and re-hashed. Every problem
names the versions it damages (DESIGN.md invariant 3).
"""

import os

from . import chunkstore, manifests, paths, records, tree
from .catalog import raw_rows, split_chunks, version_asset_totals
from .errors import ArtstoreError, IntegrityError


class _Report:
    def __init__(self):
        self.problems = []  # (kind, detail, chunk ids, file digests, version ids)

    def add(self, kind, detail, chunks=(), files=(), versions=(), lazy_ok=False):
        # lazy_ok: chunks merely absent, which is no damage for a lazy version (its data
        # is on a remote); the problem stands only for the other versions it touches.
        self.problems.append((kind, detail, set(chunks), set(files), set(versions), lazy_ok))


def verify_store(store, read_data=False, progress=None, version_id=None):
    """Check everything, or only what ``version_id`` needs when given."""
    cat = store.catalog
    report = _Report()
    scope = _scope(store, version_id) if version_id else None
    for problem in cat.quick_check():
        report.add("catalog", f"SQLite quick_check: {problem}")
    missing_tables = cat.check_schema()
    if missing_tables:
        report.add("catalog", f"catalog lacks tables {', '.join(missing_tables)}")
        return _result(store, report, [])

    chunk_sizes = _check_packs(store, report, read_data, progress, scope)
    _check_files(cat, report, chunk_sizes, scope)
    _check_manifests(store, report, version_id)
    check_records(cat, report, version_id)
    if version_id is None:
        try:
            _check_search_index(cat, report)
        except IntegrityError:
            pass  # a version row that cannot even be read as text: check_records names it
    notes = _leftovers(store)
    return _result(store, report, notes)


def _scope(store, version_id):
    """(file digests, chunk ids) that one version needs."""
    try:
        digests = {e.digest for e in store.manifest(version_id).entries() if e.digest is not None}
    except IntegrityError:
        digests = set()  # a damaged manifest: _check_manifests reports it
    chunks = set()
    for _size, blob in store.catalog.files_many(digests).values():
        chunks.update(split_chunks(blob))
    return digests, chunks


def _check_packs(store, report, read_data, progress, scope):
    """Check each pack and its chunks; returns {chunk id: size} of the chunks present.

    Packs are checked two at a time: reading and BLAKE3 release the GIL, so hashing runs
    on both cores. The catalog is only read here, in the calling thread."""
    work = []
    for pack in store.catalog.packs():
        rows = store.catalog.pack_chunks(pack["id"])
        if not rows:
            continue  # holds no indexed chunk (all were stored again elsewhere): gc drops it
        if scope is not None:
            rows = [r for r in rows if r[0] in scope[1]]
            if not rows:
                continue
        work.append((pack, rows))
    chunk_sizes = {}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        for problems, sizes, done in pool.map(lambda w: _check_pack(store.pack_dir, *w, read_data), work):
            for problem in problems:
                report.add(*problem[:2], chunks=problem[2])
            chunk_sizes.update(sizes)
            if progress and done:
                progress(done)
    return chunk_sizes


def _check_pack(pack_dir, pack, rows, read_data):
    """(problems, {chunk id: size} of good chunks, bytes read) for one pack."""
    problems, sizes, done = [], {}, 0
    reader = chunkstore.PackReader(pack_dir)
    path = reader.path(pack["name"])
    try:
        actual = os.path.getsize(path)
    except FileNotFoundError:
        return [("missing-pack", f"pack {pack['name']} is missing", [r[0] for r in rows])], sizes, done
    try:
        if actual != pack["size"]:
            problems.append(("pack-size", f"pack {pack['name']} is {actual} bytes, the catalog says {pack['size']}",
                             [r[0] for r in rows if r[1] + r[2] > actual]))
        if read_data:
            problems += _check_pack_name(path, pack["name"], rows)
        for cid, offset, stored, size, compression in rows:
            if offset + stored > actual:
                problems.append(("missing-chunk", f"chunk {cid.hex()} lies beyond the end of pack {pack['name']}",
                                 [cid]))
                continue
            if read_data:
                try:
                    reader.read(cid, pack["name"], offset, stored, size, compression)
                except ArtstoreError as exc:
                    problems.append(("bad-chunk", str(exc).split(";")[0], [cid]))
                    continue
                done += stored
            sizes[cid] = size
    finally:
        reader.close()
    return problems, sizes, done


def _check_pack_name(path, name, rows):
    try:
        header, index, _entries = chunkstore.read_pack_index(path)
    except ArtstoreError as exc:
        return [("bad-pack", str(exc), [r[0] for r in rows])]
    if chunkstore.pack_name(header, index) != name:
        return [("bad-pack", f"pack {name}: its header and index do not hash to its name", [r[0] for r in rows])]
    return []


def _check_files(cat, report, chunk_sizes, scope):
    for digest, size, blob in cat.iter_files():
        if scope is not None and digest not in scope[0]:
            continue
        try:  # what readers and gc refuse (not 'needs chunks the store does not have')
            records.chunk_list(blob, size, f"file {digest.hex()}")
        except IntegrityError as exc:
            report.add("bad-file", str(exc).split("; run 'artstore verify'")[0], files=[digest])
            continue
        ids = split_chunks(blob)
        absent = [c for c in ids if c not in chunk_sizes]
        if absent:
            known = cat.known_chunks(absent)
            unindexed = [c for c in absent if c not in known]
            if unindexed:
                report.add(
                    "missing-chunk",
                    f"file {digest.hex()} needs {len(unindexed)} chunk(s) the store does not have",
                    files=[digest], lazy_ok=True,
                )
            continue
        if sum(chunk_sizes[c] for c in ids) != size:
            report.add("bad-file", f"file {digest.hex()}: its chunks do not add up to its size", files=[digest])


def _check_manifests(store, report, version_id):
    """Every version's tree: each node present, matching its digest and well formed; each
    entry's logical path valid and in order; each local asset's file in the catalog."""
    roots = manifests.roots(store, lambda vid, exc: None)  # check_records reports the digest
    if version_id is not None:
        roots = {version_id: roots[version_id]} if version_id in roots else {}
    leaf_versions, version_leaves, leaf_totals, leaf_span = {}, {}, {}, {}
    for vid, root in roots.items():
        try:
            leaf_items = tree.Tree(store.nodes, root).leaf_items()
        except IntegrityError as exc:
            report.add("bad-node", str(exc).split(";")[0], versions=[vid])
            continue
        leaves = [d for d, _, _ in leaf_items]
        version_leaves[vid] = leaf_items
        for leaf in leaves:
            leaf_versions.setdefault(leaf, set()).add(vid)
    file_versions = {}
    for leaf, vids in leaf_versions.items():
        try:
            _level, entries = store.nodes.load([leaf], 0)[leaf]
        except IntegrityError as exc:
            report.add("bad-node", str(exc).split(";")[0], versions=vids)
            continue
        leaf_totals[leaf] = (len(entries), sum(e.size for e in entries))
        if entries:
            leaf_span[leaf] = (entries[0].path, entries[-1].path)
        previous = None
        for e in entries:
            try:
                paths.check_logical_path(e.path)
            except ArtstoreError as exc:
                report.add("bad-path", str(exc), versions=vids)
            if previous is not None and e.path <= previous:
                report.add("bad-node", f"manifest node {leaf.hex()} lists {e.path!r} out of order", versions=vids)
            previous = e.path
            if e.digest is not None:
                file_versions.setdefault(e.digest, set()).update(vids)
    # Each leaf must start where its parent says and hold the count it says, and each
    # start after the leaf before it ends: readers page by those counts and steer lookups
    # by those paths.
    for vid, leaf_items in version_leaves.items():
        last = None
        for leaf, first, count in leaf_items:
            if leaf not in leaf_totals or first is None:
                continue
            span = leaf_span.get(leaf)
            if span is None or span[0] != first or leaf_totals[leaf][0] != count:
                report.add("bad-node", f"manifest node {leaf.hex()} does not hold what its parent says "
                           f"(first path {first!r}, {count} entries)", versions=[vid])
                break
            if last is not None and not last < first:
                report.add("bad-node", f"manifest node {leaf.hex()} starts at {first!r}, not after the {last!r} "
                           "the leaf before it ends at", versions=[vid])
                break
            last = span[1]
    # The version row's asset count and size must be its tree's (readers show both).
    recorded = store.catalog.version_counts()
    for vid, leaf_items in version_leaves.items():
        leaves = [d for d, _, _ in leaf_items]
        if all(leaf in leaf_totals for leaf in leaves) and vid in recorded:
            count = sum(leaf_totals[leaf][0] for leaf in leaves)
            size = sum(leaf_totals[leaf][1] for leaf in leaves)
            if (count, size) != recorded[vid]:
                report.add("bad-record", f"version {vid}: records {recorded[vid][0]} asset(s) of "
                           f"{recorded[vid][1]} bytes, its manifest holds {count} of {size}", versions=[vid])
    present = store.catalog.files_many(file_versions)
    for digest, vids in file_versions.items():
        if digest not in present:
            report.add("missing-file", f"file {digest.hex()} is not in the catalog", versions=vids)


def _check_search_index(cat, report):
    """The full-text index holds exactly each version's text (search_docs), word for word."""
    def words(rows):
        return {r["rowid"]: (r["version_id"], sorted(" ".join(str(r[c]) for c in _SEARCHED).split())) for r in rows}

    want = words(cat.query("SELECT rowid, * FROM search_docs"))
    have = words(cat.query("SELECT rowid, * FROM search_index"))
    for rowid in want.keys() | have.keys():
        if want.get(rowid) != have.get(rowid):
            vid = (want.get(rowid) or have.get(rowid))[0]
            report.add("search-index", "the search index does not match the catalog; run 'artstore search --reindex'",
                       versions=[vid] if rowid in want else [])
            return


_SEARCHED = ("ref", "name", "type", "tags", "aliases", "metadata")


def _leftovers(store):
    """Unreferenced packs and temp files: harmless leftovers of interrupted work, for gc."""
    known = {p["name"] + ".pack" for p in store.catalog.packs()}
    notes = []
    orphans = [n for n in os.listdir(store.pack_dir) if n not in known]
    if orphans:
        notes.append(f"{len(orphans)} unreferenced pack file(s); 'artstore gc' removes them")
    temps = os.listdir(store.tmp_dir)
    if temps:
        notes.append(f"{len(temps)} temp file(s) in tmp/; 'artstore gc' removes them")
    return notes


def _result(store, report, notes):
    bad_chunks = set().union(*(p[2] for p in report.problems)) if report.problems else set()
    files_by_chunk = {}
    if bad_chunks:
        for digest, _size, blob in store.catalog.iter_files():
            for cid in bad_chunks.intersection(split_chunks(blob)):
                files_by_chunk.setdefault(cid, set()).add(digest)
    for _kind, _detail, chunks, files, _versions, _lazy_ok in report.problems:
        for cid in chunks:
            files |= files_by_chunk.get(cid, set())
    damaged = set().union(*(p[3] for p in report.problems)) if report.problems else set()
    try:
        versions_of = manifests.versions_with_files(store, damaged)
    except IntegrityError:  # a damaged manifest, reported on its own
        versions_of = {}
    problems = []
    try:
        lazy = store.catalog.lazy_versions()
    except ArtstoreError:  # a catalog without the table: check_schema reports it
        lazy = {}
    for kind, detail, _chunks, files, versions, lazy_ok in report.problems:
        vids = set(versions).union(*(versions_of.get(d, ()) for d in files))
        if lazy_ok and vids:
            vids -= lazy.keys()
            if not vids:
                continue  # only lazy versions need it: their data is on the remote
        problems.append({"kind": kind, "detail": detail, "versions": sorted({store.ref_of(v) for v in vids})})
    by_remote = {}
    for remote in lazy.values():
        by_remote[remote] = by_remote.get(remote, 0) + 1
    notes = notes + [f"{n} version(s) are lazy (data on remote {r}); 'artstore fetch REF' brings one's data"
                     for r, n in sorted(by_remote.items())]
    return {"ok": not problems, "problems": problems, "notes": notes}


def _text(value):
    """A TEXT column read as bytes (raw_rows) back as str; UnicodeDecodeError if damaged."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)



def _keyed_rows(cat, table, key, column, version_id=None):
    """(version id, ``key`` as text, raw ``column``) of each row of a per-version table,
    of one version if ``version_id`` is given."""
    for row in raw_rows(cat, table, ["version_id", key], [column]):
        vid = row["version_id"].decode("utf-8", "replace")
        if version_id is None or vid == version_id:
            yield vid, row[key].decode("utf-8", "replace"), row[column]

def _field(report, vid, where, field, check, *args):
    try:
        check(*args)
    except UnicodeDecodeError:
        report.add("bad-record", f"{where}: its {field} is not UTF-8 text in the catalog", versions=[vid])
    except ArtstoreError as exc:
        report.add("bad-record", str(exc).split("; run 'artstore verify'")[0], versions=[vid])


def _decoded(check):
    """``check`` applied to TEXT columns read as bytes."""
    return lambda *args: check(*(_text(a) if isinstance(a, bytes) else a for a in args))


def check_records(cat, report, version_id=None):
    """Every catalog field a command parses, as records.py parses it (DESIGN.md invariant
    6): version numbers, times, sizes, metadata and remote identities, names and labels.
    Each problem names its version ("bad-record")."""
    totals = version_asset_totals(cat)
    for row in raw_rows(cat, "versions", ["id", "artifact_id", "version", "created_at", "metadata",
                                          "manifest_digest"], ["size", "asset_count"]):
        vid = row["id"].decode("utf-8", "replace")
        if version_id is not None and vid != version_id:
            continue
        where = f"version {vid}"
        for field, check, args in (
            ("version number", records.check_version_string, (row["version"], where)),
            ("creation time", records.created_at, (row["created_at"], where)),
            ("metadata", records.version_metadata, (row["metadata"], where)),
            ("manifest digest", records.manifest_digest, (row["manifest_digest"], where)),
            ("size", records.count, (row["size"], where, "size")),
            ("asset count", records.count, (row["asset_count"], where, "asset count")),
        ):
            _field(report, vid, where, field, _decoded(check), *args)
        count, size = totals.get(row["id"], (0, 0))
        if totals and isinstance(row["asset_count"], int) and isinstance(row["size"], int) and (
            count != row["asset_count"] or size != row["size"]
        ):  # schema 2's asset rows; a tree's totals are checked by _check_manifests
            report.add("bad-record", f"{where}: records {row['asset_count']} asset(s) of {row['size']} bytes, "
                       f"its asset rows hold {count} of {int(size)}", versions=[vid])
    for row in raw_rows(cat, "assets", ["version_id", "logical_path", "metadata", "asset_type", "uri",
                                        "remote_identity"], ["size", "file_digest", "remote"]):
        vid = row["version_id"].decode("utf-8", "replace")
        if version_id is not None and vid != version_id:
            continue
        where = f"version {vid}"
        path = row["logical_path"].decode("utf-8", "replace")
        for field, check, args in (
            (f"logical path {path!r}", _text, (row["logical_path"],)),
            (f"metadata of {path!r}", records.asset_metadata, (row["metadata"], where, path)),
            (f"remote identity of {path!r}", records.remote_identity, (row["remote_identity"], where, path)),
            (f"asset type of {path!r}", _text, (row["asset_type"],)),
            (f"URI of {path!r}", _text, (row["uri"],)),
            (f"size of {path!r}", records.count, (row["size"], where, f"size of {path!r}")),
            (f"file digest of {path!r}", records.digest, (row["file_digest"], where)),
        ):
            _field(report, vid, where, field, _decoded(check) if check is not records.digest else check, *args)
    # Asset ids kept from before schema 3 (asset_ids): every asset listing shows them.
    for vid, path, value in _keyed_rows(cat, "asset_ids", "logical_path", "id", version_id):
        _field(report, vid, f"version {vid}", f"asset id of {path!r}", records.asset_id,
               value, f"version {vid}", path)
    # The digests of fetched remote assets: show, cat and download read them (Manifest).
    for vid, asset, value in _keyed_rows(cat, "fetched", "asset_id", "file_digest", version_id):
        _field(report, vid, f"version {vid}", f"fetched file digest of asset {asset}", records.digest,
               value, f"version {vid}", f"fetched file digest of asset {asset}", False)
    if version_id is not None:
        return
    for table, columns in (("artifacts", ("workspace", "name", "type")), ("aliases", ("alias",)),
                           ("version_tags", ("tag",)), ("artifact_tags", ("tag",)), ("runs", ("name",))):
        for row in raw_rows(cat, table, list(columns)):
            for column in columns:
                value = row[column]
                try:
                    text = _text(value)
                    if text is not None and column != "type":
                        records.check_label(text, f"{table} row", column)
                except UnicodeDecodeError:
                    report.add("bad-record", f"a {table} row: its {column} is not UTF-8 text in the catalog")
                except ArtstoreError as exc:
                    report.add("bad-record", str(exc).split("; run 'artstore verify'")[0])
