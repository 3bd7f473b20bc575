"""The sharing commands at the store level: remotes in the config, push, pull, clone."""

import os
import shutil
from urllib.parse import urlsplit

from .. import config, names
from ..errors import Conflict, InvalidInput, NotFound
from . import pull as pull_mod
from . import push as push_mod
from . import transport


def remotes(store):
    return config.remotes(store.config)


def add_remote(store, name, url):
    names.check_name(name, "remote name")
    if name in remotes(store):
        raise Conflict(f"a remote {name!r} exists already ({remotes(store)[name]}); remove it first")
    # open_remote refuses a URL it cannot use (credentials, '?' or '#' in a URL) before
    # it is recorded; a plain path may hold any character ('what?' is a folder name).
    _outside_store(store, transport.open_remote(url))
    # A relative path was resolved against the cwd of each later command, so a push run
    # from a subfolder (or with --store) wrote a new remote beside it instead of the one
    # named: a local remote is recorded as the absolute path it meant when it was added.
    url = _absolute(url)
    config.set_remote(os.path.join(store.dir, "config"), name, url)
    store.config = config.load(os.path.join(store.dir, "config"))
    return url


def remove_remote(store, name):
    if name not in remotes(store):
        raise NotFound(f"no remote {name!r}; see 'artstore remote list'")
    config.remove_remote(os.path.join(store.dir, "config"), name)
    store.config = config.load(os.path.join(store.dir, "config"))
    # What was cached of it (indexes, bundles, the refs last seen) goes with it: a name
    # added again for another remote starts afresh (nothing of it is believed unlisted,
    # but the folder was left behind for good).
    shutil.rmtree(os.path.join(store.dir, "remotes", name), ignore_errors=True)


def is_location(arg):
    """Whether a push/pull argument names a remote by its URL or path rather than a ref:
    a URL, or a path that starts like one ('/', './', '../', '~'). Refs never hold '://'
    and a workspace/name ref starts with a name, never with '/' or '.' then '/'."""
    return "://" in arg or arg.startswith(("/", "./", "../", "~"))


def _absolute(url):
    """A local remote's URL (a plain path or file:) with its path made absolute."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return "file://" + os.path.abspath(os.path.expanduser(parts.path))
    if not scheme:
        return os.path.abspath(os.path.expanduser(url))
    return url


def open_named(store, name):
    """(name, Transport) for a configured remote name, or for a URL given directly."""
    known = remotes(store)
    if name is None:
        if "origin" not in known:
            raise NotFound("no remote given and no 'origin'; run 'artstore remote add origin URL'")
        name = "origin"
    if name in known:
        url = known[name]
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("", "file") and not os.path.isabs(os.path.expanduser(urlsplit(url).path if scheme else url)):
            # A relative path recorded before add_remote made it absolute: the project's
            # folder is what it was relative to (not wherever this command runs).
            path = os.path.join(store.root, urlsplit(url).path if scheme else url)
            url = ("file://" if scheme else "") + os.path.abspath(path)
    elif is_location(name) or name.startswith("."):
        url, name = name, "url-" + _slug(name)
    else:
        raise NotFound(f"no remote {name!r}; see 'artstore remote list'")
    scheme = urlsplit(url).scheme.lower() or "file"
    t = transport.open_remote(url, store.remote_options(scheme) if scheme != "file" else None)
    _outside_store(store, t)
    return name, t


def _outside_store(store, t):
    """A file remote inside the store's own directory is refused: its objects would sit
    among the store's (local gc empties tmp/ and removes unknown packs)."""
    if isinstance(t, transport.FileTransport):
        where, inside = os.path.realpath(t.root), os.path.realpath(store.dir)
        if where == inside or where.startswith(inside.rstrip(os.sep) + os.sep):
            raise InvalidInput(f"{t.url} is inside the store directory {store.dir}; put the remote elsewhere")


def _slug(url):
    import blake3

    return blake3.blake3(url.encode()).hexdigest()[:16]


def push(store, remote=None, refs=(), all_versions=False, force=False, progress=None):
    name, t = open_named(store, remote)
    return push_mod.push(store, name, t, refs, all_versions, force, progress)


def pull(store, remote=None, refs=(), progress=None, metadata_only=False):
    name, t = open_named(store, remote)
    # A lazy version remembers the remote's name, or its URL when it was given as one.
    result = pull_mod.pull(store, name, t, refs, progress, metadata_only,
                           lazy_remote=name if name in remotes(store) else t.url)
    lazy_here = result.pop("lazy_here")
    if lazy_here and refs and not metadata_only:
        # ``pull REF`` of a version already here but lazy brings its data (as fetch does).
        from . import lazy

        lazy_of = store.catalog.lazy_versions()
        got, nbytes = lazy.complete(store, {v: lazy_of[v] for v in lazy_here if v in lazy_of},
                                    lambda n: _open_lazy(store, n), progress, notice=None)
        result["chunks"] += got
        result["bytes_received"] += nbytes
    return result


def fill_lazy(store, version_id, chunk_ids, progress=None, notice=None):
    """Bring the chunks a read of lazy version ``version_id`` needs (the store lacks
    them); returns (chunks, bytes). A version that is not lazy gets nothing: its missing
    chunks are damage, which the read then reports."""
    from . import lazy

    name = store.catalog.lazy_versions().get(version_id)
    if name is None:
        return 0, 0
    return lazy.fill(store, name, _open_lazy(store, name), chunk_ids, store.ref_of(version_id), progress,
                     notice or lazy.announce)


def _open_lazy(store, name):
    """(cache name, Transport) of the remote a lazy version names (a name or a URL)."""
    if name not in remotes(store) and "://" not in name:
        raise NotFound(f"lazy versions have their data on remote {name!r}, which this store no longer names; "
                       f"add it again with 'artstore remote add {name} URL'")
    return open_named(store, name)


def complete_lazy(store, version_id, progress=None, notice=None):
    """Bring every chunk of lazy version ``version_id`` (fetch REF); returns (chunks, bytes)."""
    from . import lazy

    name = store.catalog.lazy_versions().get(version_id)
    if name is None:
        return 0, 0
    return lazy.complete(store, {version_id: name}, lambda n: _open_lazy(store, n), progress,
                         notice or lazy.announce)


def gc_remote(store, remote=None, dry_run=False, grace=None, now=None):
    from . import remote_gc

    name, t = open_named(store, remote)
    grace = store.config.storage["remote_gc_grace"] if grace is None else grace
    return remote_gc.collect(store, name, t, dry_run, grace, now)


def verify_remote(store, remote=None, read_data=False, progress=None):
    from . import check

    name, t = open_named(store, remote)
    return check.check(store, name, t, read_data, progress)
