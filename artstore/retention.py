"""Keeping the disk in budget: prune versions by rules, and see where the bytes are.

``prune`` works like restic's ``forget`` with a policy: every rule names versions to keep
and a version no rule keeps is removed. The plan is made inside the transaction that
removes, so a version logged meanwhile by another writer is either seen by the plan or
not yet there; the bytes return at the next ``gc``, which never deletes what a writer is
about to reference.
"""

from . import manifests, names, query
from .catalog import split_chunks
from .errors import InvalidInput


def plan(store, artifact_names=(), keep_last=None, keep_within=None, keep_aliased=True, keep_tagged=()):
    """[(version row, artifact row)] to remove and {version id: reasons} of those kept."""
    if keep_last is None and keep_within is None and not keep_tagged and not keep_aliased:
        raise InvalidInput("prune needs a rule of what to keep (--keep-last, --keep-within, --keep-aliased, "
                           "--keep-tagged); it does not remove every version")
    if keep_last is not None and keep_last < 0:
        raise InvalidInput("--keep-last must be 0 or more")
    cutoff = query.parse_when(keep_within, "--keep-within") if keep_within is not None else None
    arts = [store.artifact(n) for n in artifact_names] if artifact_names else store.catalog.list_artifacts()
    aliased = {r["version_id"] for r in store.catalog.query("SELECT DISTINCT version_id FROM aliases")}
    tagged = {r["version_id"] for r in store.catalog.query(
        f"SELECT DISTINCT version_id FROM version_tags WHERE tag IN ({','.join('?' * len(keep_tagged))})",
        list(keep_tagged))} if keep_tagged else set()
    remove, kept = [], {}
    for art in arts:
        rows = store.version_rows(art["id"])
        for i, row in enumerate(rows):
            reasons = []
            if keep_last is not None and i >= len(rows) - keep_last:
                reasons.append("last")
            if cutoff is not None and row["created_at"] >= cutoff:
                reasons.append("within")
            if keep_aliased and (i == len(rows) - 1 or row["id"] in aliased):
                reasons.append("aliased")
            if row["id"] in tagged:
                reasons.append("tagged")
            if reasons:
                kept[row["id"]] = reasons
            else:
                remove.append((row, art))
    return remove, kept


def prune(store, artifact_names=(), keep_last=None, keep_within=None, keep_aliased=True, keep_tagged=(),
          dry_run=False):
    """Remove the versions no rule keeps. Returns {"removed": [ref], "kept": [ref],
    "reclaimable_bytes"} (the stored bytes only removed versions used: what gc returns)."""
    keep_tagged = tuple(names.check_tags(keep_tagged))
    with store.lock.shared():
        if not dry_run:
            store.check_writable()
        with store.catalog.transaction() as cat:
            remove, kept = plan(store, artifact_names, keep_last, keep_within, keep_aliased, keep_tagged)
            reclaim = unique_bytes(store, {r["id"] for r, _ in remove})
            if not dry_run:
                for row, _art in remove:
                    cat.delete_version(row["id"])
                for art_id in {art["id"] for _, art in remove}:
                    cat.delete_artifact_if_empty(art_id)
    return {
        "dry_run": dry_run,
        "removed": [f"{a['workspace']}/{a['name']}:{r['version']}" for r, a in remove],
        "kept": sorted(store.ref_of(v) for v in kept),
        "reclaimable_bytes": reclaim,
    }


def _chunks_by_version_group(store, group_of):
    """{chunk id: (stored size, set of groups whose versions use it)} over every version;
    ``group_of`` maps a version id to its group (an artifact, or kept/removed)."""
    files = {}
    for vids, e in manifests.all_entries(store):
        if e.digest is not None:
            files.setdefault(e.digest, set()).update(group_of(v) for v in vids)
    for row in store.catalog.query("SELECT version_id, file_digest FROM fetched"):
        files.setdefault(row["file_digest"], set()).add(group_of(row["version_id"]))
    chunk_groups = {}
    for digest, (_size, blob) in store.catalog.files_many(files).items():
        for cid in split_chunks(blob):
            chunk_groups.setdefault(cid, set()).update(files[digest])
    sizes = {cid: loc[2] for cid, loc in store.catalog.chunk_locations(chunk_groups).items()}
    return {cid: (sizes.get(cid, 0), groups) for cid, groups in chunk_groups.items()}


def unique_bytes(store, version_ids):
    """Stored bytes of the chunks only ``version_ids`` use (freed if they were removed)."""
    if not version_ids:
        return 0
    chunks = _chunks_by_version_group(store, lambda v: v in version_ids)
    return sum(size for size, groups in chunks.values() if groups == {True})


def du_by_artifact(store):
    """Per artifact: versions, logical bytes and the stored bytes only it uses ("unique":
    what removing it would free); shared bytes are those two or more artifacts use."""
    versions = {r["id"]: r for r in store.catalog.query("SELECT id, artifact_id, local_size FROM versions")}
    chunks = _chunks_by_version_group(store, lambda v: versions[v]["artifact_id"])
    out = {}
    for art in store.catalog.list_artifacts():
        out[art["id"]] = {"workspace": art["workspace"], "name": art["name"], "type": art["type"],
                          "versions": 0, "logical_bytes": 0, "unique_bytes": 0}
    for v in versions.values():
        out[v["artifact_id"]]["versions"] += 1
        out[v["artifact_id"]]["logical_bytes"] += v["local_size"]
    shared = 0
    for size, groups in chunks.values():
        if len(groups) == 1:
            out[next(iter(groups))]["unique_bytes"] += size
        elif groups:
            shared += size
    return {"artifacts": list(out.values()), "shared_bytes": shared}
