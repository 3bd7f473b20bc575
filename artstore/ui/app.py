"""The web application: one route table, the security rules every response follows, and
turning artstore errors into pages.

Every request opens its own Store on the store directory (read-only catalog connection,
about a millisecond) and closes it when the response is done: requests run in Starlette's
thread pool, and an SQLite connection must not serve two threads at once.
"""

import ipaddress
import os
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import units
from ..errors import ArtstoreError, IntegrityError, InvalidInput, NotFound, StoreLocked
from ..lock import LOCK_TIMEOUT_ENV
from ..store import Store
from . import text, urls
from .views import artifacts, compare, runs, versions

HERE = os.path.dirname(os.path.abspath(__file__))
SECURITY_HEADERS = [
    # No script at all; styles and images only from this server (data: for nothing but
    # images, which the pages do not use today but a browser's own icons may).
    (b"content-security-policy",
     b"default-src 'self'; script-src 'none'; object-src 'none'; img-src 'self' data:; style-src 'self'; "
     b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# Seconds a page that reads file bytes waits for the store lock while gc holds it, then
# answers 503 (the CLI's 60 s would hold a browser tab, and one of the server's worker
# threads, for a minute per request). ARTSTORE_LOCK_TIMEOUT, when set, decides instead.
LOCK_WAIT = 2.0


class Guard:
    """ASGI middleware: only GET and HEAD (405 otherwise), only the Host names a loopback
    server answers to (a DNS-rebinding page cannot read the store), and the security
    headers on every response, errors included."""

    def __init__(self, app, allowed_hosts=None):
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, local_location(v) if k.lower() == b"location" else v)
                           for k, v in message.get("headers", []) if k.lower() not in dict(SECURITY_HEADERS)]
                message = message | {"headers": headers + SECURITY_HEADERS}
            await send(message)

        if scope["method"] not in ("GET", "HEAD"):
            response = Response("Method not allowed: this server only reads (GET, HEAD).\n", 405,
                                headers={"Allow": "GET, HEAD"}, media_type="text/plain")
            return await response(scope, receive, send_with_headers)
        if self.allowed_hosts is not None:
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            name, colon, port = host.rpartition(":") if not host.endswith("]") else ("", "", host)
            name = name if colon else port
            known = name.lower() in self.allowed_hosts or ("*ip" in self.allowed_hosts and is_ip(name))
            if not known or (colon and not port.isdigit()):
                response = Response("Unknown Host header: open the URL artstore ui printed.\n", 400,
                                    media_type="text/plain")
                return await response(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


def is_ip(name):
    """Whether a Host name is an IP address: a DNS-rebinding page can only reach this
    server through a name of its own, so an address is always safe to answer."""
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
        return True
    except ValueError:
        return False


def local_location(value):
    """A redirect's target as a path on this server. Starlette's trailing-slash redirect
    builds an absolute URL from the Host header; a redirect here never leaves the site,
    so the scheme and host are dropped (and a leading '//', which a browser reads as
    another host, is one '/')."""
    parts = urlsplit(value.decode("latin-1"))
    path = "/" + parts.path.lstrip("/")
    return (path + ("?" + parts.query if parts.query else "")).encode("latin-1")


def templates():
    env = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["t"] = lambda value: Markup(text.html("" if value is None else value))
    env.filters["v"] = lambda value: text.visible("" if value is None else value)  # titles, attributes
    env.filters["bytes"] = human_bytes
    env.filters["when"] = when
    env.globals["urls"] = urls
    return env


def human_bytes(n):
    return "-" if n is None else units.human_bytes(n)


def when(iso):
    """2026-11-27T10:12:06.123456+00:00 -> 2026-11-27 10:12:06 (stored times are UTC)."""
    if not iso:
        return "-"
    return str(iso)[:19].replace("T", " ")


def create_app(store_dir, allowed_hosts=None):
    """The ASGI app serving the store at ``store_dir`` (a .artstore directory).
    ``allowed_hosts``: Host names to answer (None: any, for tests); "*ip" among them
    also answers any IP address (a server listening on other interfaces)."""
    env = templates()

    def page(view):
        def endpoint(request):
            store = Store(store_dir)
            store.fetch_lazy = False  # serving never writes: a lazy version's data stays remote
            if LOCK_TIMEOUT_ENV not in os.environ:
                store.lock.timeout = LOCK_WAIT
            keep_open = False
            try:
                result = view(store, request)
                if isinstance(result, Response):
                    keep_open = getattr(result, "owns_store", False)
                    return result
                name, context = result
                if request.query_params.get("format") == "json":
                    return JSONResponse(plain(context))
                return HTMLResponse(env.get_template(name).render(**context))
            except ArtstoreError as exc:
                if request.query_params.get("format") == "json":
                    return JSONResponse({"error": str(exc)}, error_status(exc))
                return error_page(env, exc)
            finally:
                if not keep_open:
                    store.close()

        return endpoint

    routes = [
        Route("/", page(artifacts.index)),
        Route("/a/{workspace}/{name}", page(artifacts.artifact)),
        Route("/a/{workspace}/{name}/{version}", page(versions.version)),
        Route("/a/{workspace}/{name}/{version}/lineage", page(versions.lineage)),
        Route("/a/{workspace}/{name}/{version}/files/{path:path}", page(versions.files)),
        Route("/a/{workspace}/{name}/{version}/raw/{path:path}", page(versions.raw)),
        Route("/compare", page(compare.pick)),
        Route("/compare/{spec:path}", page(compare.compare)),
        Route("/runs", page(runs.index)),
        Route("/runs/{run_id}", page(runs.run)),
        Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
    ]

    async def not_found(request, exc):
        return error_page(env, NotFound("no such page"), getattr(exc, "status_code", 404))

    async def server_error(request, exc):
        return error_page(env, exc, 500)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 500: server_error})
    return Guard(app, allowed_hosts)


# What only the HTML needs; ``?format=json`` gives the rest of a page's data.
PRESENTATION = frozenset({"svg", "crumbs", "metadata_json", "cols_text", "suggested", "diff_cap", "cap", "kinds",
                          "shown"})


def plain(value):
    """A page's data as JSON-ready values (datasette's ``.json``): tree entries as objects,
    digests as hex, presentation-only keys left out."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if k not in PRESENTATION}
    if hasattr(value, "_asdict"):
        return plain(value._asdict())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def error_status(exc):
    if isinstance(exc, (NotFound, InvalidInput)):
        return 404  # a URL that names nothing (bad names and paths too)
    if isinstance(exc, StoreLocked):
        return 503
    return 500


def error_page(env, exc, status=None):
    """The page for a failure: not found (bad names and paths are 404 too: a URL that
    names nothing), a damaged store, a busy store, or an internal error without traceback."""
    if status is None:
        status = error_status(exc)
    if isinstance(exc, ArtstoreError):
        message = str(exc)
    elif status == 404:
        message = "no such page"
    else:
        message = f"internal error ({type(exc).__name__}); the server log has no more: please report it"
    title = {404: "Not found", 503: "Busy", 405: "Not allowed"}.get(status, "Error")
    if isinstance(exc, IntegrityError):
        title = "The store is damaged"
    html = env.get_template("error.html").render(title=title, message=message, status=status)
    return HTMLResponse(html, status)
