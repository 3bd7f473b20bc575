"""One folder level of a version's manifest tree, a page at a time.

A manifest is sorted by logical path, so the entries under a folder are one run of the
tree. A page starts with one seek (``Tree.iter_from``) and reads on; a sub-folder is
shown once and its entries are skipped with another seek, so listing the root of a
version of 100,000 files in 100 folders reads a few hundred entries, never all of them.
"""

from itertools import islice

# Entries read on past a folder before seeking over it instead: a small folder is
# cheaper to read through than to seek past (a seek decodes a leaf of ~32-256 entries).
_READ_ON = 256
# '/' sorts just before '0', so prefix + name + '0' is the first path after name/...
_AFTER_FOLDER = chr(ord("/") + 1)


def listing(tree, folder="", after=None, limit=200):
    """(rows, more) for the folder ``folder`` ("" is the root): up to ``limit`` rows in
    path order, each {"kind": "folder"|"file", "name", "path", "entry"} (entry None for a
    folder), starting after the row named ``after``; ``more`` says whether rows follow."""
    prefix = folder + "/" if folder else ""
    if after is None:
        start = prefix
    elif is_folder(tree, prefix + after):
        start = prefix + after + _AFTER_FOLDER
    else:
        start = prefix + after + "\0"  # the next path after the file ``after``
    rows = []
    entries = tree.iter_from(start)
    pending = None
    while True:
        e = pending if pending is not None else next(entries, None)
        pending = None
        if e is None or not e.path.startswith(prefix):
            return rows, False
        if len(rows) == limit:
            return rows, True
        name, slash, _rest = e.path[len(prefix):].partition("/")
        if not slash:
            rows.append({"kind": "file", "name": name, "path": e.path, "entry": e})
            continue
        sub = prefix + name + "/"
        rows.append({"kind": "folder", "name": name, "path": prefix + name, "entry": None})
        for later in islice(entries, _READ_ON):
            if not later.path.startswith(sub):
                pending = later
                break
        else:
            entries = tree.iter_from(prefix + name + _AFTER_FOLDER)


def is_folder(tree, path):
    """Whether some entry lies under ``path`` + '/'."""
    first = next(tree.iter_from(path + "/"), None)
    return first is not None and first.path.startswith(path + "/")
