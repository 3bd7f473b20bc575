"""Artifacts and versions as the API and CLI show them: listing (a page at a time for an
artifact of many versions), resolving a reference (``name``, ``name:1.2.0``,
``ws/name:alias``, latest by default) and describing one version. Functions of a Store,
which exposes them as methods (``Store.versions`` ...)."""

from . import names, records
from .errors import NotFound


def list_artifacts(store, artifact_type=None):
    """Store.list_artifacts."""
    if artifact_type is not None:
        names.check_text(artifact_type, "artifact type")
    out = []
    for art in store.catalog.list_artifacts(artifact_type):
        numbers = store.version_numbers(art["id"])
        out.append({
            "workspace": art["workspace"],
            "name": art["name"],
            "type": art["type"],
            "latest": numbers[-1][1] if numbers else None,
            "versions": len(numbers),
        })
    return out


def versions_page(store, name, workspace=None, offset=0, limit=50, newest_first=True):
    """Store.versions_page."""
    art = store.artifact(name, workspace)
    numbers = store.version_numbers(art["id"])
    ordered = numbers[::-1] if newest_first else numbers
    ids = [vid for vid, _version in ordered[offset:offset + limit]]
    rows = {r["id"]: r for r in store.catalog.versions_by_ids(ids)}
    aliases, tags = store.catalog.labels_of_versions(ids)
    run_names = store.catalog.run_names({r["run_id"] for r in rows.values() if r["run_id"]})
    latest_id = numbers[-1][0] if numbers else None
    out = []
    for vid in ids:
        row = rows[vid]
        metadata = records.check_version(row, records.where_of(art, row))  # damage is exit 6, never a crash
        mine = aliases.get(vid, [])
        if vid == latest_id:
            mine = sorted(set(mine) | {"latest"})
        out.append({
            "version": row["version"], "aliases": mine, "tags": tags.get(vid, []),
            "created_at": row["created_at"], "size": row["size"], "manifest_digest": row["manifest_digest"],
            "assets_count": row["asset_count"], "artifact_version_id": vid,
            "source_experiment_key": row["run_id"], "source_run_name": run_names.get(row["run_id"]),
            "assets": row["asset_count"], "metadata": metadata,
        })
    return len(numbers), out


def versions(store, name, workspace=None):
    """Store.versions."""
    if workspace is None and "/" in name:
        workspace, name, _ = names.parse_ref(name)
    art = store.artifact(name, workspace)
    rows = store.version_rows(art["id"])
    # Labels and run names of every version in three queries (one per version each cost
    # 0.3 s at 1,000 versions).
    aliases, tags, run_names = store.catalog.version_labels(art["id"])
    out = []
    for row in rows:
        records.check_version(row, records.where_of(art, row))  # damage is exit 6, never a crash
        mine = aliases.get(row["id"], [])
        if row is rows[-1]:
            mine = sorted(set(mine) | {"latest"})
        out.append({
            "version": row["version"], "aliases": mine, "tags": tags.get(row["id"], []),
            "created_at": row["created_at"], "size": row["size"], "manifest_digest": row["manifest_digest"],
            "assets_count": row["asset_count"], "artifact_version_id": row["id"],
            "source_experiment_key": row["run_id"], "source_run_name": run_names.get(row["run_id"]),
            "assets": row["asset_count"],
        })
    return out


def resolve(store, name, workspace=None, version_or_alias=None):
    """Store.resolve."""
    if version_or_alias is None and isinstance(name, str) and (":" in name or "/" in name):
        ref_ws, name, version_or_alias = names.parse_ref(name)
        workspace = workspace or ref_ws
    art = store.artifact(name, workspace)
    ref = f"{art['workspace']}/{art['name']}"
    # Only ids and version numbers are read to find the highest (an artifact may have
    # 10,000 versions); the one row wanted is read whole.
    numbers = store.version_numbers(art["id"])
    if not numbers:
        raise NotFound(f"artifact {ref} has no versions")
    if version_or_alias is None or version_or_alias == "latest":
        row = store.catalog.version_by_id(numbers[-1][0])
        if row is None:  # removed since the numbers were read
            raise NotFound(f"artifact {ref} changed while it was read; try again")
        return art, row
    text = str(version_or_alias)
    # A plain SemVer string names itself: no need to import semantic_version (50 ms of
    # start-up) to look it up; anything else goes through the full parser.
    if names.SEMVER.fullmatch(text) or names.is_version(text):
        row = store.catalog.version_by_number(art["id"], text) if names.SEMVER.fullmatch(text) else None
        if row is None:
            row = store.catalog.version_by_number(art["id"], str(names.parse_version(text)))
        if row is None:
            raise NotFound(
                f"artifact {ref} has no version {version_or_alias}; see 'artstore versions {art['name']}'"
            )
        return art, row
    row = store.catalog.version_by_alias(art["id"], version_or_alias)
    if row is None:
        raise NotFound(
            f"artifact {ref} has no version or alias {version_or_alias!r}; "
            f"see 'artstore versions {art['name']}'"
        )
    return art, row


def describe(store, art, vrow, latest_id=None):
    """Store.describe."""
    if latest_id is None:
        latest_id = store.version_numbers(art["id"])[-1][0]
    aliases = store.catalog.aliases_of_version(vrow["id"])
    if latest_id == vrow["id"]:
        aliases = sorted(set(aliases) | {"latest"})
    run = store.catalog.run(vrow["run_id"]) if vrow["run_id"] else None
    metadata = records.check_version(vrow, records.where_of(art, vrow))
    return {
        "workspace": art["workspace"],
        "name": art["name"],
        "type": art["type"],
        "artifact_id": art["id"],
        "version": vrow["version"],
        "aliases": aliases,
        "tags": store.catalog.tags_of_version(vrow["id"]),
        "artifact_tags": store.catalog.tags_of_artifact(art["id"]),
        "metadata": metadata,
        "size": vrow["size"],
        "assets_count": vrow["asset_count"],
        "manifest_digest": vrow["manifest_digest"],
        "artifact_version_id": vrow["id"],
        "source_experiment_key": vrow["run_id"],
        "source_run_name": run["name"] if run else None,
        "created_at": vrow["created_at"],
    }
