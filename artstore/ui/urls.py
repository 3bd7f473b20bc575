"""Every link the UI makes, as a path from the site root (datasette's ``Urls``).

Links never come from the request's Host header: a hostile Host cannot change them.
Every piece taken from data (names, versions, logical paths) is percent-encoded, so a
name like ``a?b#c`` or ``..`` stays one path segment.
"""

from urllib.parse import quote, urlencode


def seg(text):
    """One URL path segment: everything but unreserved characters percent-encoded."""
    return quote(str(text), safe="")


def logical(path):
    """A logical path in a URL: its '/' kept, every component encoded."""
    return "/".join(seg(part) for part in path.split("/"))


def artifacts(**params):
    return "/" + _query(params)


def artifact(workspace, name, **params):
    return f"/a/{seg(workspace)}/{seg(name)}" + _query(params)


def version(workspace, name, version_, **params):
    return f"{artifact(workspace, name)}/{seg(version_)}" + _query(params)


def files(workspace, name, version_, path, **params):
    """The file page of ``path``, or the listing of the folder ``path``."""
    return f"{version(workspace, name, version_)}/files/{logical(path)}" + _query(params)


def raw(workspace, name, version_, path):
    return f"{version(workspace, name, version_)}/raw/{logical(path)}"


def lineage(workspace, name, version_, **params):
    return f"{version(workspace, name, version_)}/lineage" + _query(params)


def ref(workspace, name, version_):
    """The ``workspace/name:version`` of a version, encoded for /compare."""
    return f"{seg(workspace)}/{seg(name)}:{seg(version_)}"


def compare(ref_a, ref_b, **params):
    """ref_a and ref_b are (workspace, name, version) triples."""
    return f"/compare/{ref(*ref_a)}...{ref(*ref_b)}" + _query(params)


def runs(**params):
    return "/runs" + _query(params)


def run(run_id):
    return f"/runs/{seg(run_id)}"


def static(name):
    return f"/static/{seg(name)}"


def _query(params):
    kept = {k: v for k, v in params.items() if v not in (None, "", [])}
    return "?" + urlencode(kept, doseq=True) if kept else ""
