"""Running the app for ``artstore ui``: bind, print the URL, serve until SIGINT/SIGTERM."""

import signal
import socket
import sys
import threading
import webbrowser

import uvicorn

from .app import LOOPBACK_HOSTS, create_app

DEFAULT_PORT = 8017
SHUTDOWN_WAIT = 3  # seconds open requests get to finish once asked to stop


def is_loopback(host):
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def bind(host, port):
    """A listening socket; port 0 picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def url_of(host, sock):
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/"


def open_in_browser(url):
    """--open: start the default browser, or say in one line that there is none (on a
    server without one, webbrowser.open only returns False)."""
    try:
        opened = webbrowser.open(url)
    except Exception:  # a broken BROWSER setting, a missing display: the server goes on
        opened = False
    if not opened:
        print(f"artstore ui: could not start a web browser (--open); open {url} yourself",
              file=sys.stderr, flush=True)


def serve(store_dir, host, port, open_browser=False, echo=print):
    """Serve the store until interrupted. The URL goes to stdout as soon as the socket
    listens, so scripts (and tests) can read it before the first request."""
    sock = bind(host, port)
    url = url_of(host, sock)
    if not is_loopback(host):
        print(f"artstore ui: warning: listening on {host}, so other machines can read this store; "
              "use --host 127.0.0.1 to keep it local", file=sys.stderr, flush=True)
        # Other machines reach it by an address or by this machine's name; any other name
        # is a DNS-rebinding page in someone's browser (which could then read the store).
        allowed = LOOPBACK_HOSTS + ("*ip", host.lower(), socket.gethostname().lower(), socket.getfqdn().lower())
    else:
        allowed = LOOPBACK_HOSTS + (() if host in LOOPBACK_HOSTS else (host,))
    app = create_app(store_dir, allowed_hosts=allowed)
    # timeout_graceful_shutdown: a download whose client stopped reading kept the server
    # from ever exiting on Ctrl-C or SIGTERM (uvicorn waits for open requests by default).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, date_header=False, timeout_graceful_shutdown=SHUTDOWN_WAIT)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM and then raises the signal again
    # for the handler it found. These handlers, in place before the URL is printed, ask the
    # same shutdown (even before uvicorn has started) and keep the exit normal: status 0,
    # not a death by signal or a KeyboardInterrupt.
    def stop(_number, _frame):
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        echo(f"artstore ui: serving {store_dir} read-only at {url} (Ctrl-C stops it)")
        if open_browser:
            threading.Timer(0.5, open_in_browser, (url,)).start()
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    echo("artstore ui: stopped")
