"""The command that shows a store in a web browser: ui (the web view is artstore.ui)."""

import errno
import socket

import click

from ..errors import InvalidInput
from .app import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but a loopback address lets other machines read the store.")
@click.option("--port", type=click.IntRange(0, 65535), default=8017, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True,
              help="Open the page in the default web browser.")
@click.pass_obj
def ui(obj, host, port, open_browser):
    """Browse the store in a web browser: artifacts, versions, files, diffs, lineage.

    Serves the store read-only on this machine and prints the URL; Ctrl-C stops it.
    Needs the 'ui' extra (pip install 'artstore[ui]').

    \b
    Example:
      artstore ui --port 8017
    """
    from ..ui import MISSING_EXTRA

    try:  # Starlette, uvicorn and Jinja2 load here only: no other command pays for them
        from ..ui import server
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("starlette", "uvicorn", "jinja2", "markupsafe"):
            raise InvalidInput(MISSING_EXTRA) from None
        raise
    store_dir = obj.store.dir  # opened (and checked, migrated if old) before the server starts
    obj.store.close()
    try:
        server.serve(store_dir, host, port, open_browser, echo=click.echo)
    except OSError as exc:  # socket.gaierror is one: a --host that names nothing
        if not isinstance(exc, socket.gaierror) and exc.errno != errno.EADDRNOTAVAIL:
            raise InvalidInput(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                               "choose another --port (0 picks a free one)") from None
        raise InvalidInput(f"cannot listen on --host {host} ({exc.strerror or exc}); "
                           "give an address of this machine, such as 127.0.0.1") from None
