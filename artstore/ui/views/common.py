"""Helpers the views share: query parameters, paging, resolving the version a URL names."""

from ...errors import NotFound
from ...names import check_name

PAGE = 50


def page_number(request):
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def pager(total, request, per=None):
    """Paging data for the template's pager: the page asked for, within 1..pages."""
    per = per or PAGE
    pages = max(1, (total + per - 1) // per)
    return {"page": min(page_number(request), pages), "pages": pages, "total": total, "per": per}


def paged(rows, request, per=None):
    """(the rows of this page, paging data for the template's pager)."""
    p = pager(len(rows), request, per)
    start = (p["page"] - 1) * p["per"]
    return rows[start:start + p["per"]], p


def version_of(store, request):
    """(artifact row, version row) of /a/<workspace>/<name>/<version_or_alias>; a name
    that cannot exist is NotFound (a 404), never an error page about input."""
    p = request.path_params
    for key in ("workspace", "name"):
        check_name(p[key], key)
    if not p["version"]:
        raise NotFound("no version in the URL")
    return store.resolve(p["name"], p["workspace"], p["version"])


def ref(art, vrow):
    return f"{art['workspace']}/{art['name']}:{vrow['version']}"
