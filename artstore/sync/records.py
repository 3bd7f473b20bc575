"""Version records and refs as a remote holds them, built from and applied to a catalog."""

import re

from .. import names
from ..errors import IntegrityError


def version_record(store, art, vrow):
    """Everything another store needs to log this version exactly: the version row, its
    artifact, producing run and lineage, kept asset ids and fetched remote assets."""
    cat = store.catalog
    lineage = cat.lineage_of_versions([vrow["id"]])
    run_ids = sorted({r["run_id"] for r in lineage} | ({vrow["run_id"]} if vrow["run_id"] else set()))
    runs = [cat.run(r) for r in run_ids]
    return {
        "format": 1,
        "id": vrow["id"],
        "workspace": art["workspace"], "name": art["name"], "type": art["type"],
        "version": vrow["version"], "created_at": vrow["created_at"], "metadata": vrow["metadata"],
        "manifest_digest": vrow["manifest_digest"], "size": vrow["size"], "asset_count": vrow["asset_count"],
        "local_size": vrow["local_size"], "run_id": vrow["run_id"],
        "runs": [[r["id"], r["project"], r["name"], r["started_at"], r["ended_at"]] for r in runs if r],
        "lineage": [[r["run_id"], r["kind"], r["at"]] for r in lineage],
        "asset_ids": [list(r) for r in cat.asset_id_rows(vrow["id"])],
        "fetched": [[a, d.hex()] for a, d in cat.fetched_rows(vrow["id"])],
    }


_ID = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _rows(value, width, kinds):
    """Whether ``value`` is a list of lists of ``width`` items, item i of a type in kinds[i]."""
    return isinstance(value, list) and all(
        isinstance(row, list) and len(row) == width and all(isinstance(x, k) for x, k in zip(row, kinds, strict=True))
        for row in value)


def check_version_record(record, version_id, what, workspace=None, name=None, version=None):
    """A version record read from a remote, checked field by field before it is used, and
    against the ref that names it (``workspace``/``name``:``version``): every field is
    written into the catalog as it is, so a record that only had to be valid JSON put
    versions under another number or artifact than the ref said, and rows that ``verify``
    then called damage, or stopped the pull with an internal error (exit 1)."""
    from .. import records as catalog_records

    opt = (str, type(None))
    try:
        ok = (
            record.get("id") == version_id
            and all(isinstance(record.get(k), str) for k in ("workspace", "name", "type", "version", "created_at",
                                                              "metadata", "manifest_digest"))
            and all(type(record.get(k)) is int and record[k] >= 0 for k in ("size", "asset_count", "local_size"))
            and _HEX64.fullmatch(record["manifest_digest"]) is not None
            and isinstance(record.get("run_id"), opt)
            and _rows(record.get("runs", []), 5, (str, opt, opt, str, opt))
            and _rows(record.get("lineage", []), 3, (str, str, str))
            and all(kind in ("produced", "consumed") for _r, kind, _at in record.get("lineage", []))
            and _rows(record.get("asset_ids", []), 2, (str, str))
            and _rows(record.get("fetched", []), 2, (str, str))
            and all(_HEX64.fullmatch(d) for _a, d in record.get("fetched", []))
            and {r for r, _k, _at in record.get("lineage", [])} | {record.get("run_id")} - {None}
            <= {run[0] for run in record.get("runs", [])}  # lineage and run_id name runs it carries
            and (workspace is None or record["workspace"] == workspace)
            and (name is None or record["name"] == name)
            and (version is None or record["version"] == version)
        )
        if ok:
            names.check_name(record["workspace"], "workspace")
            names.check_name(record["name"], "artifact name")
            names.check_text(record["type"], "artifact type")
            catalog_records.check_version_string(record["version"], what)
            try:
                catalog_records.created_at(record["created_at"], what)
            except IntegrityError:
                raise ValueError(f"creation time {record['created_at'][:40]!r} is not an ISO 8601 time with a "
                                 "time zone") from None
            for run in record.get("runs", []):
                if run[2] is not None:
                    names.check_name(run[2], "run name")
            try:
                metadata = catalog_records.version_metadata(record["metadata"], what)
            except IntegrityError:
                metadata = None
            if not isinstance(metadata, dict):
                raise ValueError("its metadata is not a JSON object")
    except Exception as exc:  # any malformed field is damage, not a crash
        raise IntegrityError(f"remote object {what} is malformed ({exc})") from None
    if not ok:
        raise IntegrityError(f"remote object {what} is malformed" + (
            f" or is not the record of {workspace}/{name}:{version} that names it" if version else ""))
    return record


def version_row(record):
    return {
        "id": record["id"], "artifact_id": None, "version": record["version"],
        "created_at": record["created_at"], "metadata": record["metadata"],
        "manifest_digest": record["manifest_digest"], "size": record["size"],
        "asset_count": record["asset_count"], "run_id": record.get("run_id"), "local_size": record["local_size"],
    }


def empty_ref(art):
    return {"format": 1, "workspace": art["workspace"], "name": art["name"], "type": art["type"],
            "versions": {}, "aliases": {}, "tags": {}, "artifact_tags": []}


def check_ref(doc, what):
    """A ref read from a remote (``what``: its key, refs/WORKSPACE/NAME.json), checked
    before it is used: its labels are applied to the catalog as they are, and its version
    ids become keys to read (an id of "../x" read outside the remote's prefix)."""
    ws, _, name = what[len("refs/"):-len(".json")].partition("/") if what.startswith("refs/") else (None, "", None)
    try:
        ok = (isinstance(doc.get("versions"), dict) and isinstance(doc.get("aliases"), dict)
              and isinstance(doc.get("tags"), dict) and isinstance(doc.get("artifact_tags"), list)
              and isinstance(doc.get("type"), str)
              and (ws is None or (doc.get("workspace") == ws and doc.get("name") == name))
              and all(isinstance(k, str) and isinstance(v, str) and _ID.fullmatch(v)
                      for k, v in doc["versions"].items())
              and all(isinstance(v, str) and v in doc["versions"] for v in doc["aliases"].values())
              and all(isinstance(k, str) and k in doc["versions"] and isinstance(v, list)
                      for k, v in doc["tags"].items()))
        if ok:
            for version in doc["versions"]:
                names.parse_version(version)
            for alias in doc["aliases"]:
                names.check_alias(alias, allow_latest=True)
            names.check_tags([t for tags in doc["tags"].values() for t in tags] + doc["artifact_tags"])
    except Exception as exc:  # a bad label is damage, not a crash or a row verify flags
        raise IntegrityError(f"remote object {what} is malformed ({exc})") from None
    if not ok:
        raise IntegrityError(f"remote object {what} is malformed")
    return doc
