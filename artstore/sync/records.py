"""Version records and refs as a remote holds them, built from and applied to a catalog."""

import json

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


def check_version_record(record, version_id, what):
    """A version record read from a remote, checked field by field before it is used."""
    try:
        ok = (
            record.get("id") == version_id
            and all(isinstance(record.get(k), str) for k in ("workspace", "name", "type", "version", "created_at",
                                                              "metadata", "manifest_digest"))
            and all(type(record.get(k)) is int for k in ("size", "asset_count", "local_size"))
            and len(bytes.fromhex(record["manifest_digest"])) == 32
        )
        names.check_name(record["workspace"], "workspace")
        names.check_name(record["name"], "artifact name")
        names.parse_version(record["version"])
        json.loads(record["metadata"])
        for item in record.get("fetched", []):
            bytes.fromhex(item[1])
    except Exception as exc:  # any malformed field is damage, not a crash
        raise IntegrityError(f"remote object {what} is malformed ({exc})") from None
    if not ok:
        raise IntegrityError(f"remote object {what} is malformed")
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
    ok = (isinstance(doc.get("versions"), dict) and isinstance(doc.get("aliases"), dict)
          and isinstance(doc.get("tags"), dict) and isinstance(doc.get("artifact_tags"), list)
          and isinstance(doc.get("type"), str)
          and all(isinstance(k, str) and isinstance(v, str) for k, v in doc["versions"].items())
          and all(isinstance(v, str) and v in doc["versions"] for v in doc["aliases"].values()))
    if not ok:
        raise IntegrityError(f"remote object {what} is malformed")
    return doc
