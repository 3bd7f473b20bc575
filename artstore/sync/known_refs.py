"""The refs of a remote as this store last saw them (after its last push or pull), kept
under ``.artstore/remotes/NAME/refs/``: a remote alias that differs from what we last saw
was moved by someone else, which push refuses to overwrite without --force."""

import json
import os

from . import layout


def _path(store, name, key):
    return os.path.join(store.dir, "remotes", name, *key.split("/"))


def load(store, name, key):
    try:
        with open(_path(store, name, key), "rb") as f:
            return layout.decode(f.read(), key)
    except (FileNotFoundError, ValueError):
        return None


def save(store, name, key, doc):
    write_doc(_path(store, name, key), doc)


def write_doc(path, doc):
    """Write a JSON document whole or not at all (temp file, then rename): a sync's
    record of a remote, which a killed process must not leave half written."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(doc, f, sort_keys=True)
    os.replace(tmp, path)
