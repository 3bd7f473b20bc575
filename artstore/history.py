"""History of versions: what changed between two (diff) and which runs produced and
consumed them (lineage)."""


def diff(store, ref_a, ref_b):
    """Logical paths added / removed / modified / unchanged from A to B, and how many of
    B's bytes (counted by distinct chunk) are shared with A or new."""
    _art_a, va = store.resolve(ref_a)
    _art_b, vb = store.resolve(ref_b)
    a = {x["logical_path"]: x for x in store.catalog.assets(va["id"])}
    b = {x["logical_path"]: x for x in store.catalog.assets(vb["id"])}

    def same(x, y):
        keys = ("file_digest", "uri", "remote_identity", "size")
        return all(x[k] == y[k] for k in keys)

    chunks_a = _chunk_sizes(store, va["id"])
    chunks_b = _chunk_sizes(store, vb["id"])
    return {
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "modified": sorted(p for p in set(a) & set(b) if not same(a[p], b[p])),
        "unchanged": sorted(p for p in set(a) & set(b) if same(a[p], b[p])),
        "bytes_shared": sum(size for cid, size in chunks_b.items() if cid in chunks_a),
        "bytes_new": sum(size for cid, size in chunks_b.items() if cid not in chunks_a),
    }


def _chunk_sizes(store, version_id):
    ids = {cid for e in store.file_entries(version_id) for cid in e.chunk_ids}
    return {cid: loc[3] for cid, loc in store.catalog.chunk_locations(ids).items()}


def lineage(store, ref, depth=None):
    """The lineage graph around a version, walking up and down ``depth`` hops
    (None: all). Nodes are versions and runs; a run ``produced`` a version, a version
    was ``consumed`` by a run; edges point from producer to consumer."""
    _art, vrow = store.resolve(ref)
    nodes, edges = {}, set()
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
            edges.add((r, v, "produced") if row["kind"] == "produced" else (v, r, "consumed"))
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
    edges = [e for e in edges if e[0] in nodes and e[1] in nodes]
    return {
        "root": start,
        "nodes": sorted(nodes.values(), key=lambda n: (n["kind"], n["label"])),
        "edges": [{"from": f, "to": t, "kind": k} for f, t, k in sorted(edges)],
    }
