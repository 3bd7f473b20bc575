"""The artifacts page (filter by name, type, tag and metadata) and one artifact's page
(its versions, newest first, a page at a time, with the metadata columns asked for)."""

import json

from ... import records
from ...errors import InvalidInput
from ...names import check_name
from .common import paged


def index(store, request):
    q = request.query_params
    name_filter = q.get("q", "").strip()
    type_filter = q.get("type", "").strip() or None
    tag = q.get("tag", "").strip() or None
    where = [w for w in q.getlist("where") if w.strip()]
    everything = store.list_artifacts()
    types = sorted({a["type"] for a in everything})
    context = {"q": name_filter, "type": type_filter or "", "tag": tag or "", "where": where, "types": types,
               "error": None, "found": None, "artifacts": None}
    if tag or where:
        # Metadata and tags belong to versions: the answer is the versions that match.
        try:
            rows = store.find_rows(where, artifact_type=type_filter, tag=tag)
        except InvalidInput as exc:
            context["error"] = str(exc)
            rows = []
        if name_filter:
            rows = [r for r in rows if name_filter.lower() in r["name"].lower()]
        context["found"], context["pager"] = paged(rows, request)
        return "artifacts.html", context
    listed = [a for a in everything if (type_filter is None or a["type"] == type_filter)
              and name_filter.lower() in a["name"].lower()]
    shown, context["pager"] = paged(listed, request)
    for a in shown:
        if a["latest"] is not None:
            art, latest = store.resolve(a["name"], a["workspace"], a["latest"])
            info = store.describe(art, latest, latest_id=latest["id"])
            a.update(aliases=info["aliases"], tags=info["artifact_tags"] + info["tags"], size=info["size"],
                     created_at=info["created_at"])
    context["artifacts"] = shown
    return "artifacts.html", context


def artifact(store, request):
    p = request.path_params
    check_name(p["workspace"], "workspace")
    art = store.artifact(p["name"], p["workspace"])
    rows = store.versions(art["name"], art["workspace"])
    rows.reverse()  # newest (highest) first
    shown, pager = paged(rows, request)
    cols = [c.strip() for c in request.query_params.get("cols", "").split(",") if c.strip()][:12]
    metadata = {}
    if shown:
        # Only this page's rows are read again for their metadata (10,000 versions stay fast).
        for vrow in store.catalog.versions_by_ids([r["artifact_version_id"] for r in shown]):
            metadata[vrow["id"]] = records.version_metadata(vrow["metadata"], records.where_of(art, vrow))
    for r in shown:
        meta = metadata.get(r["artifact_version_id"], {})
        r["cols"] = [_cell(_dig(meta, c)) for c in cols]
    latest_meta = metadata.get(shown[0]["artifact_version_id"], {}) if shown and pager["page"] == 1 else {}
    return "artifact.html", {
        "art": art, "versions": shown, "pager": pager, "cols": cols,
        "cols_text": ",".join(cols), "suggested": sorted(latest_meta)[:20],
        "artifact_tags": store.catalog.tags_of_artifact(art["id"]),
        # The compare form starts from the two newest versions.
        "compare_a": rows[1]["version"] if len(rows) > 1 else "", "compare_b": rows[0]["version"] if rows else "",
    }


def _dig(meta, dotted):
    value = meta
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
