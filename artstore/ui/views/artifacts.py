"""The artifacts page (filter by name, type, tag and metadata) and one artifact's page
(its versions, newest first, a page at a time, with the metadata columns asked for)."""

import json

from ...errors import InvalidInput
from ...names import check_name
from . import common
from .common import paged

SEARCH_LIMIT = 500  # best matches shown for a full-text search
# Longer queries than these reach SQLite's expression-depth limit (about 800 ORed terms or
# conditions), which was an internal error; a person never types this much.
MAX_SEARCH_CHARS = 1000
MAX_WHERE = 50


def index(store, request):
    q = request.query_params
    name_filter = q.get("q", "").strip()
    type_filter = q.get("type", "").strip() or None
    tag = q.get("tag", "").strip() or None
    where = [w for w in q.getlist("where") if w.strip()]
    search = q.get("search", "").strip()
    everything = store.list_artifacts()
    types = sorted({a["type"] for a in everything})
    context = {"q": name_filter, "type": type_filter or "", "tag": tag or "", "where": where, "types": types,
               "search": search, "error": None, "found": None, "artifacts": None}
    if search:
        # Full text (artstore search): names, types, tags, aliases, metadata keys and values.
        try:
            if len(search) > MAX_SEARCH_CHARS:
                raise InvalidInput(f"search text longer than {MAX_SEARCH_CHARS:,} characters; shorten it")
            rows = store.search_rows(search, artifact_type=type_filter, limit=SEARCH_LIMIT)
        except InvalidInput as exc:
            context["error"] = str(exc)
            rows = []
        context["found"], context["pager"] = paged(rows, request)
        return "artifacts.html", context
    if tag or where:
        # Metadata and tags belong to versions: the answer is the versions that match.
        try:
            if len(where) > MAX_WHERE:
                raise InvalidInput(f"more than {MAX_WHERE} metadata conditions; give fewer")
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
    per = common.PAGE
    # Only this page's rows are read whole (an artifact may have 10,000 versions).
    number = common.page_number(request)
    total, shown = store.versions_page(art["name"], art["workspace"], (number - 1) * per, per)
    pager = common.pager(total, request, per)
    if pager["page"] != number:  # past the last page: show the last one
        total, shown = store.versions_page(art["name"], art["workspace"], (pager["page"] - 1) * per, per)
    cols = [c.strip() for c in request.query_params.get("cols", "").split(",") if c.strip()][:12]
    for r in shown:
        r["cols"] = [_cell(_dig(r["metadata"], c)) for c in cols]
    newest = shown[:2] if pager["page"] == 1 else store.versions_page(art["name"], art["workspace"], 0, 2)[1]
    return "artifact.html", {
        "art": art, "versions": shown, "pager": pager, "cols": cols,
        "cols_text": ",".join(cols), "suggested": sorted(newest[0]["metadata"])[:20] if newest else [],
        "artifact_tags": store.catalog.tags_of_artifact(art["id"]),
        # The compare form starts from the two newest versions.
        "compare_a": newest[1]["version"] if len(newest) > 1 else "",
        "compare_b": newest[0]["version"] if newest else "",
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
