"""Files in a download destination that a version does not have: find them, or remove
them so the destination matches the version exactly (``download --exact``).

The destination is walked one directory at a time through file descriptors opened with
O_NOFOLLOW, as materialize.py writes it: a symlink inside it is an entry to report or
unlink (the link itself), never a way out of it. ``.git``, ``.hg``, ``.svn`` and
``.artstore`` folders are never entered nor removed, so downloading into a project with
``--exact`` cannot delete its repository or its store.
"""

import os
import stat

from .ignore import ALWAYS_EXCLUDED

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def extra_paths(root, keep, remove=False):
    """Relative paths under ``root`` of files (and symlinks, special files, and with
    ``remove`` directories left empty) that are not in ``keep``, a set of logical paths.
    With ``remove``, each is unlinked. Returns them sorted ('dir/' for a directory)."""
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return []
    keep_dirs = {p.rsplit("/", 1)[0] for p in keep if "/" in p}
    keep_dirs |= {d.rsplit("/", i)[0] for d in list(keep_dirs) for i in range(1, d.count("/") + 1)}
    found = []
    try:
        _walk(root_fd, "", keep, keep_dirs, remove, found)
    finally:
        os.close(root_fd)
    return sorted(found)


def _walk(dir_fd, prefix, keep, keep_dirs, remove, found):
    """Returns True if the directory is empty once its extra entries are gone."""
    empty = True
    with os.scandir(dir_fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        rel = prefix + name
        if is_dir:
            if name in ALWAYS_EXCLUDED:
                empty = False
                continue
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                empty = False
                continue
            try:
                sub_empty = _walk(sub, rel + "/", keep, keep_dirs, remove, found)
            finally:
                os.close(sub)
            if sub_empty and rel not in keep_dirs and rel not in keep:
                if remove:
                    os.rmdir(name, dir_fd=dir_fd)
                found.append(rel + "/")
            else:
                empty = False
            continue
        if rel in keep:
            empty = False
            continue
        if name.startswith(".") and name.endswith(".tmp") and ".artstore-" in name:
            empty = False  # another download's temp file, being written
            continue
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if remove:
            os.unlink(name, dir_fd=dir_fd)  # a symlink is removed itself, its target untouched
        else:
            empty = False
        found.append(rel if not stat.S_ISDIR(st.st_mode) else rel + "/")
    return empty
