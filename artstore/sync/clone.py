"""clone: a new store with a remote as 'origin' and all its versions (init + remote add +
pull), finished by running it again if it was killed."""

import os
import shutil

from ..errors import InvalidInput
from ..paths import STORE_DIRNAME
from . import layout, transport

# In a store a clone made, until its first pull is done; holds the URL cloned.
CLONE_MARK = "clone-unfinished"


def clone(store_cls, url, path=None, workspace=None, progress=None, lazy=False):
    """A new ``store_cls`` store at ``path`` (default: the URL's last part) with ``url`` as
    remote 'origin' and all its versions (with ``lazy``, their metadata only)."""
    if path is None:
        path = os.path.basename(url.rstrip("/")) or "store"
    remote = transport.open_remote(url)
    if isinstance(remote, transport.FileTransport):
        # 'clone remote' run beside a file remote defaulted to the remote's own folder
        # (its basename) and made the store inside the remote; a DIR under it did too.
        where, inside = os.path.realpath(path), os.path.realpath(remote.root)
        if where == inside or where.startswith(inside.rstrip(os.sep) + os.sep):
            raise InvalidInput(f"{os.path.abspath(path)} is inside the remote {remote.url}; clone into another "
                               "directory: artstore clone URL DIR")
    # A clone killed (SIGKILL, power) after its store was made left a store that a second
    # 'clone' refused ("a store already exists"), though the clone never ended: the store
    # carries a mark until its pull is done, and a clone of the same URL into it finishes
    # the pull.
    mark = os.path.join(path, STORE_DIRNAME, CLONE_MARK)
    try:
        with open(mark, encoding="utf-8") as f:
            unfinished = f.read() == url
    except (FileNotFoundError, NotADirectoryError):
        unfinished = False
    if unfinished:
        store = store_cls.open(path)
        try:
            if "origin" not in store.remotes():
                store.add_remote("origin", url)
            store.pull("origin", progress=progress, metadata_only=lazy)
            os.unlink(mark)
        except BaseException:
            store.close()
            raise
        return store
    if workspace is None:  # the remote's workspace when it has one, like the team's store
        found = remote.list(layout.REFS)
        workspace = found[0] if len(found) == 1 else None
    existed = os.path.exists(path)
    store = store_cls.init(path, workspace=workspace)
    try:
        with open(os.path.join(store.dir, CLONE_MARK), "w", encoding="utf-8") as f:
            f.write(url)
        store.add_remote("origin", url)
        store.pull("origin", progress=progress, metadata_only=lazy)
        os.unlink(os.path.join(store.dir, CLONE_MARK))
    except BaseException:
        store.close()
        shutil.rmtree(store.dir if existed else store.root, ignore_errors=True)  # nothing half-made stays
        raise
    return store
