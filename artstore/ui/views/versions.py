"""A version's pages: overview (metadata, folder tree, lineage), a folder of its files,
one file (capped preview), its raw bytes, and its lineage graph on its own."""

import asyncio
import json

from starlette.responses import RedirectResponse, StreamingResponse

from ... import paths
from ...errors import NotFound
from .. import folders, lineage_svg, preview, urls
from .common import ref, version_of

FOLDER_PAGE = 200
DEFAULT_DEPTH = 2
MAX_DEPTH = 6


def _overview(store, art, vrow):
    numbers = store.version_numbers(art["id"])  # ids and numbers only, lowest first
    info = store.describe(art, vrow, latest_id=numbers[-1][0])
    i = [vid for vid, _version in numbers].index(vrow["id"])
    info["previous"] = numbers[i - 1][1] if i > 0 else None
    info["next"] = numbers[i + 1][1] if i + 1 < len(numbers) else None
    info["metadata_json"] = json.dumps(info["metadata"], indent=2, ensure_ascii=False, sort_keys=True)
    return info


def _listing(store, vrow, folder, request):
    tree = store.manifest(vrow["id"]).tree
    after = request.query_params.get("after") or None
    rows, more = folders.listing(tree, folder, after, FOLDER_PAGE)
    return {"rows": rows, "more": more, "after": rows[-1]["name"] if more and rows else None,
            "folder": folder, "crumbs": _crumbs(folder)}


def _crumbs(folder):
    parts = folder.split("/") if folder else []
    return [("/".join(parts[:i + 1]), part) for i, part in enumerate(parts)]


def _graph(store, art, vrow, request, depth):
    expanded = tuple(request.query_params.getlist("expand"))
    graph = store.lineage(ref(art, vrow), depth)

    def expand_href(node_id):
        return urls.lineage(art["workspace"], art["name"], vrow["version"], depth=depth,
                            expand=sorted(set(expanded) | {node_id}))

    svg, laid = lineage_svg.render(graph, expand_href, expanded=expanded)
    return {"svg": svg, "nodes": len(laid["nodes"]), "edges": len(laid["edges"]), "depth": depth,
            "graph": {"nodes": graph["nodes"], "edges": graph["edges"]}}


def version(store, request):
    art, vrow = version_of(store, request)
    return "version.html", {
        "art": art, "v": _overview(store, art, vrow), "listing": _listing(store, vrow, "", request),
        "lineage": _graph(store, art, vrow, request, DEFAULT_DEPTH),
    }


def lineage(store, request):
    art, vrow = version_of(store, request)
    try:
        depth = min(max(int(request.query_params.get("depth", DEFAULT_DEPTH)), 1), MAX_DEPTH)
    except ValueError:
        depth = DEFAULT_DEPTH
    return "lineage.html", {"art": art, "v": store.describe(art, vrow),
                            "lineage": _graph(store, art, vrow, request, depth), "max_depth": MAX_DEPTH}


def _path(request):
    path = request.path_params["path"].rstrip("/")
    paths.check_logical_path(path)  # InvalidInput: the app answers 404
    return path


def files(store, request):
    """/files/<path>: the file page of an asset, or the listing of a folder."""
    art, vrow = version_of(store, request)
    if not request.path_params["path"].strip("/"):  # .../files/ is the top folder: the version page
        return RedirectResponse(urls.version(art["workspace"], art["name"], vrow["version"]), status_code=303)
    path = _path(request)
    manifest = store.manifest(vrow["id"])
    entry = manifest.find(path)
    info = store.describe(art, vrow)
    if entry is None:
        if not folders.is_folder(manifest.tree, path):
            raise NotFound(f"{ref(art, vrow)} has no file or folder {path!r}")
        return "folder.html", {"art": art, "v": info, "listing": _listing(store, vrow, path, request)}
    asset = manifest.asset(entry)
    context = {"art": art, "v": info, "asset": asset, "crumbs": _crumbs(path), "cap": preview.PREVIEW_BYTES,
               "metadata_json": json.dumps(entry.metadata, indent=2, ensure_ascii=False, sort_keys=True),
               "preview": None, "truncated": False, "stored": asset["content_hash"] is not None,
               "raw": urls.raw(art["workspace"], art["name"], vrow["version"], path)}
    if context["stored"]:
        head, truncated = preview.read_head(store, ref(art, vrow), path)
        context["preview"] = preview.preview(path, head, truncated)
        context["truncated"] = truncated
    return "file.html", context


def raw(store, request):
    """The bytes of a file: PNG/JPEG/GIF/WebP inline, everything else as a download."""
    art, vrow = version_of(store, request)
    path = _path(request)
    entry = store.manifest(vrow["id"]).file_entry(path)
    if entry is None:
        raise NotFound(f"{ref(art, vrow)} has no stored file {path!r}")
    chunks = store.read_asset(ref(art, vrow), path)
    first = next(chunks, b"")
    content_type = preview.image_type(path, first)
    headers = {"Content-Length": str(entry.size), "X-Content-Type-Options": "nosniff"}
    if content_type is None:
        content_type = "application/octet-stream"
        headers["Content-Disposition"] = _attachment(path.rsplit("/", 1)[-1])

    def body():
        yield first
        yield from chunks

    return _Download(body(), release=(chunks, store), media_type=content_type, headers=headers)


class _Download(StreamingResponse):
    """A streamed file that lets go of what it reads from once the response is over,
    however it ends: sent whole, a HEAD (whose body is never read), or a client gone
    midway. ``read_asset`` holds the store lock shared while its generator is open, so a
    generator left suspended would block ``artstore gc`` for as long as the server runs."""

    owns_store = True  # the app must not close the store before the body is sent

    def __init__(self, content, release, **kwargs):
        super().__init__(content, **kwargs)
        self.release = release

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # The server stopping with this download still open (its graceful-shutdown
            # wait ran out): the response is over, and uvicorn would log a traceback.
            pass
        finally:
            chunks, store = self.release
            try:
                chunks.close()  # releases the lock and the pack files
            except ValueError:
                pass  # still running in a worker thread: it ends with the thread's next()
            store.close()


def _attachment(name):
    from urllib.parse import quote

    # The plain filename is a fallback for old clients, some of which percent-decode it.
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;%' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
