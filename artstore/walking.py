"""Directories given to ``add`` -> LocalFiles, streamed in logical-path order.

Walking policy (documented in docs/userguide.rst):

- regular files are stored, empty ones included;
- a symlink to a regular file is followed (its target's bytes are stored under the link's
  name); a symlink to a directory is not descended (that avoids cycles and surprise
  trees) and is reported as skipped; a dangling symlink, and one whose target cannot be
  resolved (a loop), is reported as skipped;
- FIFOs, sockets and device files are reported as skipped;
- ``.git``, ``.hg``, ``.svn`` and ``.artstore`` folders are never walked, and ignore.Rules
  leave out what ``--exclude`` and ``.artstoreignore`` name.

The walk lists one directory at a time and yields its files and sub-trees in the order
of their logical paths (a sub-directory ``d`` sorts as ``d/``, which is where every path
below it sorts), so a tree of millions of files streams into a version without a list
of them (the manifest tree is built from entries in that order; DESIGN.md).
"""

import errno
import heapq
import operator
import os
import re
import stat
import unicodedata

from . import ignore, paths
from .errors import Conflict, InvalidInput, NotFound
from .sources import FileStat, LocalFile, file_stat

# A plain ASCII file name (NFC by construction) that check_logical_path accepts as one
# component: most names in a dataset; any other name takes the full check.
_PLAIN_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.+=,@-]{1,255}")
_by_logical_path = operator.attrgetter("logical_path")
_STORE_LEN = len(paths.STORE_DIRNAME)


def _logical_name(name, full):
    """One checked logical-path component from a directory entry's name."""
    name = unicodedata.normalize("NFC", name)
    try:
        paths.check_logical_path(name)
    except InvalidInput as exc:
        raise InvalidInput(f"cannot store {full}: {exc}") from None
    return name


class _Walk:
    def __init__(self, root, prefix, exclude, rules, skipped):
        self.root = root
        self.exclude = os.path.realpath(exclude) if exclude else None
        self.base = paths.join_logical(prefix, None) + "/" if prefix else ""
        self.rules = rules if rules is not None else ignore.Rules()
        self.cut = len(self.base)  # a logical path minus the prefix: the path the rules match
        self.skipped = skipped

    def listing(self, directory, logical_dir, expect=None):
        """The directory's files (LocalFile) and sub-directories ((os path, logical dir,
        (inode, device))), in logical-path order. ``expect``: the (inode, device) the
        parent's listing saw (None for the root)."""
        fd = _open_dir(directory, expect)
        if fd is None:
            return []  # deleted since its parent was listed: it is not part of the tree
        try:
            return self._listing(fd, directory, logical_dir)
        finally:
            os.close(fd)

    def _listing(self, fd, directory, logical_dir):
        try:
            entries = os.scandir(fd)
        except OSError as exc:
            raise _unreadable(directory, exc) from None
        with entries:
            try:
                return self._listed(entries, directory, logical_dir)
            except OSError as exc:  # reading the directory failed (each entry's stat is handled)
                raise _unreadable(directory, exc) from None

    def _listed(self, entries, directory, logical_dir):
        rules, cut, skipped = self.rules, self.cut, self.skipped
        matching = rules.spec is not None
        plain_name = _PLAIN_NAME.fullmatch
        base = directory if directory.endswith("/") else directory + "/"  # os.path.join, per entry, cost 8 %
        # Listed through the descriptor: entries are stat'ed relative to the directory
        # opened, never through a path a symlink may have replaced since. Taken one at a
        # time: a list of the DirEntry objects (each holding the os.stat_result it was
        # asked for) doubled the peak memory of a flat folder (300,000 files: +170 MB).
        out = []  # (sort key, LocalFile or (os path, logical dir, (inode, device)))
        renamed = False  # a name NFC changed: two entries may now share a logical name
        for entry in entries:
            name = entry.name
            full = base + name
            try:
                # d_type from the directory listing: no system call for a plain file.
                plain_file = entry.is_file(follow_symlinks=False)
                is_dir = not plain_file and entry.is_dir(follow_symlinks=False)
            except OSError:
                plain_file = is_dir = False
            if len(name) == _STORE_LEN and name.casefold() == paths.STORE_DIRNAME:
                # A store (never walked) or anything else with a store's name, which a
                # logical path may not have (downloads never write into a store directory).
                if is_dir and os.path.isdir(os.path.join(full, "objects")):
                    rules.skip_dir(name, (logical_dir + name)[cut:])  # a store: counted as excluded
                else:
                    skipped.append((full, f"named {paths.STORE_DIRNAME}, which artstore keeps for stores"))
                continue
            if plain_file:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted since it was listed: it is not part of the tree
                except OSError as exc:
                    raise InvalidInput(f"cannot stat {full}: {exc.strerror}") from None
                if not plain_name(name):
                    logical = _logical_name(name, full)
                    renamed = renamed or logical != name
                    name = logical
                if matching and rules.skip_file((logical_dir + name)[cut:]):
                    continue
                out.append((name, LocalFile(full, logical_dir + name, None, None, _new_tuple(
                    FileStat, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)))))
                continue
            if is_dir:
                if (self.exclude and os.path.realpath(full) == self.exclude) or rules.skip_dir(
                    name, (logical_dir + name)[cut:]
                ):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)  # what descending it must find again
                except FileNotFoundError:
                    continue  # deleted since it was listed
                except OSError as exc:
                    raise InvalidInput(f"cannot stat {full}: {exc.strerror}") from None
                logical = _logical_name(name, full)
                renamed = renamed or logical != name
                out.append((logical + "/", (full, logical_dir + logical + "/", (st.st_ino, st.st_dev))))
                continue
            try:
                st = entry.stat()  # follows a symlink to its target
            except FileNotFoundError:
                skipped.append((full, "dangling symlink"))
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and entry.is_symlink():
                    # A loop, or a target through a file: as unresolvable as a dangling one.
                    skipped.append((full, f"symlink whose target cannot be resolved ({exc.strerror})"))
                    continue
                raise InvalidInput(f"cannot stat {full}: {exc.strerror}") from None
            if stat.S_ISDIR(st.st_mode):
                skipped.append((full, "symlink to a directory (not followed)"))
            elif not stat.S_ISREG(st.st_mode):
                skipped.append((full, "not a regular file (FIFO, socket or device)"))
            else:
                logical = _logical_name(name, full)
                renamed = renamed or logical != name
                if rules.spec is None or not rules.skip_file((logical_dir + logical)[cut:]):
                    out.append((logical, LocalFile(full, logical_dir + logical, stat_result=file_stat(st))))
        out.sort(key=_first)
        if renamed:
            _check_distinct(out, directory)
        return out


_first = operator.itemgetter(0)
_new_tuple = tuple.__new__  # a FileStat made in C, not through namedtuple's Python __new__


def _unreadable(directory, exc):
    if exc.errno in (errno.EACCES, errno.EPERM):
        return InvalidInput(f"cannot read directory {directory}: permission denied; fix its permissions "
                            "or leave it out with --exclude")
    return InvalidInput(f"cannot read directory {directory}: {exc.strerror}")


def _open_dir(directory, expect):
    """A descriptor of ``directory``, or None if it is gone. ``expect`` ((inode, device)
    from the parent's listing): the directory must still be that one, not a symlink put in
    its place (which the walk would follow out of the tree) nor a file or another directory."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    if expect is not None:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(directory, flags)
    except FileNotFoundError:
        if expect is None:
            raise InvalidInput(f"cannot read directory {directory}: it does not exist") from None
        return None
    except OSError as exc:
        if expect is not None and exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise _replaced(directory) from None
        raise _unreadable(directory, exc) from None
    if expect is not None:
        st = os.fstat(fd)
        if (st.st_ino, st.st_dev) != expect:
            os.close(fd)
            raise _replaced(directory)
    return fd


def _replaced(directory):
    return Conflict(f"{directory} was replaced while it was being added; add it again once it is stable")


def _check_distinct(listing, directory):
    """Refuse two entries of one directory whose names NFC makes equal (a file and a
    directory included): one logical path cannot name both."""
    seen = {}
    for key, item in listing:
        name = key.rstrip("/")
        if name in seen:
            raise InvalidInput(
                f"{seen[name]} and {item.os_path if isinstance(item, LocalFile) else item[0]} in {directory} "
                f"have the same logical name {name!r} once Unicode-normalized (NFC); rename one of them"
            )
        seen[name] = item.os_path if isinstance(item, LocalFile) else item[0]


class Checked:
    """A stream of sources whose logical paths are known valid (each component checked
    as it was listed, the whole length below): ``in_order`` then checks only their order,
    not each path again (5 % of re-adding 100,000 unchanged files)."""

    paths_checked = True

    def __init__(self, iterator):
        self._iterator = iterator

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._iterator)


# A logical path this many characters long may be over paths.MAX_PATH_BYTES in UTF-8.
_LONG = paths.MAX_PATH_BYTES // 4


def iter_walk(root, prefix=None, exclude=None, rules=None, skipped=None):
    """Yield a LocalFile for every file under ``root``, in logical-path order, holding
    one directory listing per level; paths skipped (and why) are appended to
    ``skipped``.

    Logical paths are relative to ``root`` (below ``prefix`` if given). Each LocalFile
    keeps the stat taken here, which ingest uses as its "before" stat. ``rules``
    (ignore.Rules) leave paths out and record them; by default only the version-control
    and store folders are left out."""
    return Checked(_walk(_Walk(root, prefix, exclude, rules, [] if skipped is None else skipped)))


def _walk(walk_):
    stack = [iter(walk_.listing(walk_.root, walk_.base))]
    while stack:
        for _key, item in stack[-1]:
            if isinstance(item, LocalFile):
                if len(item.logical_path) > _LONG:
                    paths.check_logical_path(item.logical_path)  # the whole length, in bytes
                yield item
            else:
                stack.append(iter(walk_.listing(*item)))
                break
        else:
            stack.pop()


def walk(root, prefix=None, exclude=None, rules=None):
    """(LocalFiles for every file under ``root`` sorted by logical path, skipped paths
    with reasons, sorted): iter_walk, listed."""
    skipped = []
    files = list(iter_walk(root, prefix, exclude, rules, skipped))
    skipped.sort()
    return files, skipped


def _check_path(path):
    if any(part.casefold() == paths.STORE_DIRNAME for part in os.path.realpath(path).split(os.sep)):
        # The walk never enters a store (its packs and catalog change under a log); a PATH
        # given inside one, or through a symlink to one, is no different.
        raise InvalidInput(f"{path} is inside a store directory ({paths.STORE_DIRNAME}), which artstore "
                           "never adds; give a path outside it")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(f"no such file or directory: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot stat {path}: {exc.strerror}") from None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise InvalidInput(f"{path} is not a regular file or directory; give a file or a directory")
    return st


def _single_file(path, logical_path):
    name = logical_path or paths.to_logical(os.path.basename(os.path.abspath(path)))
    return LocalFile(path, paths.check_logical_path(name))


def sources_for_path(path, logical_path=None, exclude=None, rules=None):
    """LocalFiles for a path given by the user: a file, or a directory walked recursively
    (``rules``: ignore.Rules for the directory, default: leave out VCS and store folders)."""
    if stat.S_ISDIR(_check_path(path).st_mode):
        return walk(os.path.abspath(path), prefix=logical_path, exclude=exclude, rules=rules)
    return [_single_file(path, logical_path)], []


def stream_for_path(path, logical_path=None, rules=None, skipped=None):
    """sources_for_path as a stream in logical-path order (iter_walk for a directory)."""
    if stat.S_ISDIR(_check_path(path).st_mode):
        return iter_walk(os.path.abspath(path), prefix=logical_path, rules=rules, skipped=skipped)
    return Checked(iter([_single_file(path, logical_path)]))  # _single_file checks the path


def merge(streams):
    """One stream in logical-path order from several, each in that order (Checked when
    each of them is)."""
    if len(streams) == 1:
        return streams[0] if isinstance(streams[0], Checked) else iter(streams[0])
    merged = heapq.merge(*streams, key=_by_logical_path)
    return Checked(merged) if all(isinstance(s, Checked) for s in streams) else merged


def in_order(sources, checked=False):
    """Pass sources through, refusing (InvalidInput) a logical path that is invalid
    (unless ``checked``), out of order, given twice, or both a file and another's
    directory, as paths.check_unique does for a list; holds only the paths a later path
    could still use as a directory (a chain of prefixes, a few deep)."""
    open_files = []  # earlier paths P a later path may still start with P + "/"
    previous = ""
    for src in sources:
        path = src.logical_path
        if not checked:
            paths.check_logical_path(path)
        if path <= previous:
            if path == previous:
                raise InvalidInput(f"logical path {path!r} appears twice; rename one of them")
            raise InvalidInput(f"logical path {path!r} comes after {previous!r}: sources streamed to a log "
                               "must come in logical-path order")
        # Paths below P + "/" sort before P + "0" ("0" follows "/"); past it, P is settled.
        while open_files and path >= open_files[-1] + "0":
            open_files.pop()
        for earlier in open_files:
            if path.startswith(earlier + "/"):
                raise InvalidInput(
                    f"logical path {earlier!r} is a file but {path!r} uses it as a directory; rename one of them"
                )
        open_files.append(path)
        previous = path
        yield src
