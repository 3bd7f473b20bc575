"""The sharing commands at the store level: remotes in the config, push, pull, clone."""

import os
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
    transport.open_remote(url)  # refuses a URL it cannot use, before it is recorded
    if "@" in (urlsplit(url).netloc or "") or "?" in url:
        raise InvalidInput("a remote URL holds no credentials or options; use the backend's environment")
    config.set_remote(os.path.join(store.dir, "config"), name, url)
    store.config = config.load(os.path.join(store.dir, "config"))


def remove_remote(store, name):
    if name not in remotes(store):
        raise NotFound(f"no remote {name!r}; see 'artstore remote list'")
    config.remove_remote(os.path.join(store.dir, "config"), name)
    store.config = config.load(os.path.join(store.dir, "config"))


def open_named(store, name):
    """(name, Transport) for a configured remote name, or for a URL given directly."""
    known = remotes(store)
    if name is None:
        if "origin" not in known:
            raise NotFound("no remote given and no 'origin'; run 'artstore remote add origin URL'")
        name = "origin"
    if name in known:
        url = known[name]
    elif "://" in name or name.startswith(("/", ".")):
        url, name = name, "url-" + _slug(name)
    else:
        raise NotFound(f"no remote {name!r}; see 'artstore remote list'")
    scheme = urlsplit(url).scheme.lower() or "file"
    return name, transport.open_remote(url, store.remote_options(scheme) if scheme != "file" else None)


def _slug(url):
    import blake3

    return blake3.blake3(url.encode()).hexdigest()[:16]


def push(store, remote=None, refs=(), all_versions=False, force=False, progress=None):
    name, t = open_named(store, remote)
    return push_mod.push(store, name, t, refs, all_versions, force, progress)


def pull(store, remote=None, refs=(), progress=None):
    name, t = open_named(store, remote)
    return pull_mod.pull(store, name, t, refs, progress)


def verify_remote(store, remote=None, read_data=False, progress=None):
    from . import check

    name, t = open_named(store, remote)
    return check.check(store, name, t, read_data, progress)
