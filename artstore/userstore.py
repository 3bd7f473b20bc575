"""The per-user default store, for Python code that runs where no project store exists.

Comet code never initialises anything, so ``Experiment()`` and ``Store.open()`` with no
project store (none in the current directory or a parent), no ``ARTSTORE_DIR`` and no
``store=`` use one store per user instead of failing:

    ``$XDG_DATA_HOME/artstore`` if XDG_DATA_HOME is set (and absolute), else
    ``~/.local/share/artstore`` (the XDG default).

It is created on first use and named on stderr once per process, so a script's output
says where its versions went. The command line never falls back to it silently: it
reaches it with ``--user-store`` or ``--store PATH``.
"""

import os
import sys

from .errors import NotFound

_announced = False


def user_store_path():
    """The per-user store's project directory (its ``.artstore`` lives inside)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "artstore")


def open_user_store(store_cls, announce=True):
    """Open the per-user store, creating it if it does not exist yet."""
    global _announced
    path = user_store_path()
    try:
        store = store_cls.open(path, fallback=False)
        created = False
    except NotFound:
        store = store_cls.init(path, exist_ok=True)
        created = True
    if announce and (created or not _announced):
        verb = "created" if created else "using"
        print(
            f"artstore: no project store here; {verb} the per-user store {store.dir} "
            f"(run 'artstore init' in a project, or set ARTSTORE_DIR, to use another; "
            f"the CLI reaches this one with --user-store)",
            file=sys.stderr,
        )
        _announced = True
    return store
