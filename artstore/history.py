"""History of versions: what changed between two (diff), which runs produced and
consumed them (lineage), and naming runs."""


import re
import uuid

from . import names, records, tree
from .catalog import split_chunks

_RUN_ID = re.compile("[0-9a-f]{32}")


def diff(store, ref_a, ref_b):
    """Logical paths added / removed / modified / unchanged from A to B, and how many of
    B's bytes (counted by distinct chunk) are shared with A or new, and which metadata
    keys changed. ``bytes_new`` is the size before compression of the distinct chunks of
    B that A lacks: the measure ``add`` reports as new data (commit.new_bytes).

    The trees are compared first: subtrees both versions share are not decoded for the
    comparison, only listed for ``unchanged``; their chunks count as shared."""
    _art_a, va = store.resolve(ref_a)
    _art_b, vb = store.resolve(ref_b)
    meta_a = records.version_metadata(va["metadata"], records.where_of(_art_a, va))
    meta_b = records.version_metadata(vb["metadata"], records.where_of(_art_b, vb))
    root_a = records.manifest_digest(va["manifest_digest"], records.where_of(_art_a, va))
    root_b = records.manifest_digest(vb["manifest_digest"], records.where_of(_art_b, vb))
    a_only, b_only, shared = tree.diff(store.nodes, root_a, root_b)
    a = {e.path: e for e in a_only}
    b = {e.path: e for e in b_only}
    same = {p for p in a.keys() & b.keys() if a[p] == b[p]}
    unchanged = [e for digest in shared for e in tree.Tree(store.nodes, digest).entries()]
    unchanged += [b[p] for p in same]
    changed_a = [e for p, e in a.items() if p not in same]
    changed_b = [e for p, e in b.items() if p not in same]

    chunks_a = _chunk_sizes(store, changed_a)
    chunks_b = _chunk_sizes(store, changed_b)
    chunks_b.update(chunks_unchanged := _chunk_sizes(store, unchanged))
    new = sum(size for cid, size in chunks_b.items() if cid not in chunks_a and cid not in chunks_unchanged)
    return {
        "added": sorted(b.keys() - a.keys()),
        "removed": sorted(a.keys() - b.keys()),
        "modified": sorted(p for p in a.keys() & b.keys() if p not in same),
        "unchanged": sorted(e.path for e in unchanged),
        "bytes_shared": sum(chunks_b.values()) - new,
        "bytes_new": new,
        # Top-level metadata keys whose value differs: [value in A, value in B], None
        # where a version lacks the key.
        "metadata_changed": {
            key: [meta_a.get(key), meta_b.get(key)]
            for key in sorted(meta_a.keys() | meta_b.keys())
            if (key in meta_a) != (key in meta_b) or meta_a[key] != meta_b[key]
        },
    }


def _chunk_sizes(store, entries):
    """{chunk id: size} of the distinct chunks of the entries' stored files. A file smaller
    than the chunker's minimum is one chunk whose id is the file's digest (FastCDC never
    cuts below it), so only larger files are looked up."""
    min_size = store.config.chunking["min_size"]
    out, large = {}, set()
    for e in entries:
        if e.digest is None or e.size == 0:
            continue
        if e.size < min_size:
            out[e.digest] = e.size
        else:
            large.add(e.digest)
    rows = store.catalog.files_many(large)
    ids = {cid for _size, blob in rows.values() for cid in split_chunks(blob)}
    sizes = {cid: loc[3] for cid, loc in store.catalog.chunk_locations(ids).items()}
    for digest, (size, blob) in rows.items():
        chunks = split_chunks(blob)
        if all(c in sizes for c in chunks):
            out.update((c, sizes[c]) for c in chunks)
        else:  # a lazy version's file (its chunks are on a remote): counted whole, by digest
            out[digest] = size
    return out


def lineage(store, ref, depth=None):
    """The lineage graph around a version, walking up and down ``depth`` hops
    (None: all). Nodes are versions and runs; a run ``produced`` a version, a version
    was ``consumed`` by a run; edges point from producer to consumer."""
    _art, vrow = store.resolve(ref)
    nodes, edges = {}, {}
    start = "version:" + vrow["id"]
    frontier, hops = [start], 0
    seen = {start}
    while frontier and (depth is None or hops < depth):
        versions = [n.split(":", 1)[1] for n in frontier if n.startswith("version:")]
        runs = [n.split(":", 1)[1] for n in frontier if n.startswith("run:")]
        rows = (store.catalog.lineage_of_versions(versions) if versions else []) + (
            store.catalog.lineage_of_runs(runs) if runs else []
        )
        nxt = []
        for row in rows:
            v, r = "version:" + row["version_id"], "run:" + row["run_id"]
            edge = (r, v, "produced") if row["kind"] == "produced" else (v, r, "consumed")
            edges[edge] = row["at"]
            for node in (v, r):
                if node not in seen:
                    seen.add(node)
                    nxt.append(node)
        frontier, hops = nxt, hops + 1
    for node in seen:
        kind, ident = node.split(":", 1)
        if kind == "version":
            nodes[node] = {"id": node, "kind": "version", "label": store.ref_of(ident)}
        else:
            run = store.catalog.run(ident) or {}
            label = run.get("name") or (
                f"{run['project']}/{ident[:8]}" if run.get("project") else f"run {ident[:8]}"
            )
            nodes[node] = {"id": node, "kind": "run", "label": label}
    # Oldest first: the order in which the runs produced and consumed the versions.
    edges = sorted(((at, e) for e, at in edges.items() if e[0] in nodes and e[1] in nodes))
    return {
        "root": start,
        "nodes": sorted(nodes.values(), key=lambda n: (n["kind"], n["label"])),
        "edges": [{"from": f, "to": t, "kind": k, "at": at} for at, (f, t, k) in edges],
    }


def run_named(store, name, new=False):
    """Store.run_named."""
    if not new and _RUN_ID.fullmatch(name or "") and store.catalog.run(name) is not None:
        return name
    names.check_name(name, "run name")
    with store.catalog.transaction() as cat:
        row = cat.run_by_name(name)
        if row is not None and not new:
            return row["id"]
        run_id = uuid.uuid4().hex
        cat.ensure_run(run_id, None, name)
        return run_id


def use(store, ref, run_id):
    """Store.use."""
    with store.lock.shared():
        art, vrow = store.resolve(ref)
        store.record_lineage(run_id, vrow["id"], "consumed")
    return f"{art['workspace']}/{art['name']}:{vrow['version']}"


def run_versions(store, run_id):
    """Store.run_versions."""
    return [r | {"ref": f"{r['workspace']}/{r['name']}:{r['version']}"}
            for r in store.catalog.versions_of_run(run_id)]
