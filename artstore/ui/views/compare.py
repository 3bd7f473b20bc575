"""/compare/<ref>...<ref>: what changed between two versions. Counts and paged lists of
added / removed / modified / unchanged paths, bytes shared and new, metadata that
differs, and a line diff for small modified text files."""

import difflib
import json

from starlette.responses import RedirectResponse

from ... import names
from ...errors import NotFound
from .. import preview, urls
from .common import paged

KINDS = ("added", "removed", "modified", "unchanged")
DIFF_FILES = 5  # line diffs shown per page of modified files
DIFF_LINES = 400


def split_spec(store, spec):
    """(ref A, ref B) of "A...B". A name may itself contain '...', so each place it occurs
    is tried until both sides name versions."""
    start = 0
    tried = False
    while (i := spec.find("...", start)) >= 0:
        a, b = spec[:i], spec[i + 3:]
        start = i + 1
        try:
            art_a, va = store.resolve(*_parts(a))
            art_b, vb = store.resolve(*_parts(b))
        except (NotFound, ValueError):
            tried = True
            continue
        return (art_a, va), (art_b, vb)
    raise NotFound("compare needs two versions: /compare/WORKSPACE/NAME:VERSION...WORKSPACE/NAME:VERSION"
                   if not tried else f"no two versions named by {spec!r}")


def _parts(text):
    workspace, slash, rest = text.partition("/")
    name, colon, version = rest.rpartition(":")
    if not (slash and colon and name and version):
        raise ValueError(text)
    names.check_name(workspace, "workspace")
    names.check_name(name, "artifact name")
    return name, workspace, version


def _ref(art, vrow):
    return f"{art['workspace']}/{art['name']}:{vrow['version']}"


def compare(store, request):
    (art_a, va), (art_b, vb) = split_spec(store, request.path_params["spec"])
    ref_a, ref_b = _ref(art_a, va), _ref(art_b, vb)
    d = store.diff(ref_a, ref_b)
    show = request.query_params.get("show")
    show = show if show in KINDS else ("modified" if d["modified"] else "added")
    rows, pager = paged(d[show], request, per=100)
    diffs = []
    if show == "modified":
        for path in rows[:DIFF_FILES]:
            diffs.append(_line_diff(store, ref_a, ref_b, path))
    return "compare.html", {
        "a": {"art": art_a, "v": va, "ref": ref_a}, "b": {"art": art_b, "v": vb, "ref": ref_b},
        "counts": {k: len(d[k]) for k in KINDS}, "show": show, "rows": rows, "pager": pager,
        "bytes_shared": d["bytes_shared"], "bytes_new": d["bytes_new"],
        "metadata_changed": [(k, _json(a), _json(b)) for k, (a, b) in d["metadata_changed"].items()],
        "diffs": diffs, "kinds": KINDS, "diff_cap": preview.PREVIEW_BYTES,
    }


def pick(store, request):
    """/compare?a=VERSION&b=VERSION&workspace=W&name=N (the artifact page's form, which
    cannot build a path without script): redirect to the stable /compare/A...B link."""
    q = request.query_params
    workspace, name = q.get("workspace", ""), q.get("name", "")
    names.check_name(workspace, "workspace")
    art_a, va = store.resolve(name, workspace, q.get("a", "").strip() or None)
    art_b, vb = store.resolve(name, workspace, q.get("b", "").strip() or None)
    return RedirectResponse(urls.compare((art_a["workspace"], art_a["name"], va["version"]),
                                         (art_b["workspace"], art_b["name"], vb["version"])), status_code=303)


def _json(value):
    return "(absent)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _line_diff(store, ref_a, ref_b, path):
    """{"path", "lines" or "why"}: a unified diff when both sides are text that fits the
    preview cap, else why none is shown."""
    sides = []
    for ref in (ref_a, ref_b):
        try:
            head, truncated = preview.read_head(store, ref, path)
        except NotFound:
            return {"path": path, "why": "not stored locally (a remote reference)"}
        if truncated:
            return {"path": path, "why": f"larger than {preview.PREVIEW_BYTES // 1024} KiB"}
        text = preview.as_text(head, False)
        if text is None:
            return {"path": path, "why": "not text"}
        sides.append(text.splitlines())
    lines = list(difflib.unified_diff(sides[0], sides[1], ref_a, ref_b, lineterm="", n=2))
    return {"path": path, "lines": lines[:DIFF_LINES], "cut": len(lines) > DIFF_LINES}
