"""Manifest -> files on disk, atomically and safely.

Every target is reached one directory at a time through directory file descriptors opened
with O_NOFOLLOW, so a symlink planted inside the destination is never followed; each file
is written to a temp file beside its target (O_EXCL | O_NOFOLLOW) and renamed into place
only after the BLAKE3 of every byte written matched the file's digest (on a mismatch the
chunks are re-read one by one to name the damaged one). All paths are checked and
all conflicts found before the first byte is written.
"""

import errno
import os
import stat
import uuid

import blake3

from . import paths
from .errors import ArtstoreError, Conflict, DestinationInStore, IntegrityError, InvalidInput, from_os_error
from .faults import checkpoint

FAIL, PRESERVE, OVERWRITE = "fail", "preserve", "overwrite"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
STORE_DIRNAME = ".artstore"
# Bytes of a file's name kept in its temp name: a name may use all 255 bytes a component
# allows, and the temp name must still fit (a cut in characters overflowed on UTF-8).
_TMP_NAME_BYTES = 100


def _store_marker(open_at):
    """True if the directory ``open_at(name, flags)`` opens names in holds a store: a
    ``config`` file that starts with its ``[store]`` section, ``catalog.db`` and
    ``objects/`` (a dataset folder that merely has files called config and catalog.db is
    not one)."""
    try:
        fd = open_at("objects", os.O_RDONLY | os.O_DIRECTORY)
        os.close(fd)
        fd = open_at("catalog.db", os.O_RDONLY | os.O_NONBLOCK)
        os.close(fd)
        fd = open_at("config", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 64).lstrip().startswith(b"[store]")
    except OSError:
        return False
    finally:
        os.close(fd)


class StoreGuard:
    """Refuses any directory a writer of files would enter if it is a store: one of the
    ``protect`` directories (the open store, found by identity, so symlinks and bind
    mounts to it are caught), any directory named ``.artstore``, or any directory that
    holds a store's config and catalog.db. Decisions are cached per directory."""

    def __init__(self, protect=()):
        self.protected = set()
        for path in protect:
            try:
                st = os.stat(path)
            except OSError:
                continue
            self.protected.add((st.st_dev, st.st_ino))
        self._seen = {}

    def _refuse(self, where):
        raise DestinationInStore(
            f"{where} is inside an artstore store directory; files are never written into a "
            "store (it would damage it); choose a destination outside .artstore"
        )

    def check_fd(self, fd, where):
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        ok = self._seen.get(key)
        if ok is None:
            ok = key not in self.protected and not _store_marker(
                lambda name, flags: os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            )
            self._seen[key] = ok
        if not ok:
            self._refuse(where)

    def check_root(self, root):
        """Refuse ``root`` if it or any directory above it (symlinks resolved) is a store."""
        real = os.path.realpath(root)
        here = real
        while True:
            if os.path.basename(here).casefold() == STORE_DIRNAME:
                self._refuse(root)
            try:
                st = os.stat(here)
            except OSError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in self.protected or _store_marker(
                    lambda name, flags, d=here: os.open(os.path.join(d, name), flags | os.O_CLOEXEC)
                ):
                    self._refuse(root)
            parent = os.path.dirname(here)
            if parent == here:
                return
            here = parent


def check_destination(root):
    """Refuse a destination that exists but is not a directory (a file, a dangling symlink)."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise from_os_error(exc, f"looking at the destination {root}") from None
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(root)
        except OSError:
            raise Conflict(
                f"the destination {root} is a symlink to nothing; remove it or choose another destination"
            ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise Conflict(f"the destination {root} exists and is not a directory; choose a directory")


def temp_name(name):
    """A hidden temp name beside ``name``, within the 255 bytes a name may have."""
    prefix = name.encode("utf-8", "surrogateescape")[:_TMP_NAME_BYTES].decode("utf-8", "ignore")
    return f".{prefix}.artstore-{uuid.uuid4().hex[:12]}.tmp"


class Entry:
    """One file to write: logical path, whole-file digest, size, and either its ordered
    chunk ids or ``open_stream``, a function returning a reader of the bytes that checks
    them itself (a remote object not fetched into the store; its digest is then None)."""

    def __init__(self, logical_path, digest, size, chunk_ids, open_stream=None):
        self.logical_path = logical_path
        self.digest = digest
        self.size = size
        self.chunk_ids = chunk_ids
        self.open_stream = open_stream

    def stream_blocks(self):
        """Blocks of a streamed entry (one whose bytes are not in the store)."""
        reader = self.open_stream()
        try:
            buf = bytearray(8 << 20)
            view = memoryview(buf)
            while True:
                n = reader.readinto(view)
                if not n:
                    return
                yield bytes(view[:n])
        finally:
            reader.close()


def normalize_strategy(value):
    """Comet's overwrite_strategy values (False/'FAIL', 'PRESERVE', True/'OVERWRITE')."""
    if value is False or value is None:
        return FAIL
    if value is True:
        return OVERWRITE
    if isinstance(value, str) and value.lower() in (FAIL, PRESERVE, OVERWRITE):
        return value.lower()
    raise InvalidInput(f"overwrite strategy {value!r} is not one of fail, preserve, overwrite")


def _open_dir(parent_fd, name, create):
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.mkdir(name, 0o777, dir_fd=parent_fd)
        except FileExistsError:
            pass
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Conflict(
                f"'{name}' in the destination is a symlink or a file where a directory is needed; "
                "remove it or download elsewhere"
            ) from None
        raise


def _walk_to_parent(root_fd, logical_path, create, guard=None):
    """fd of the directory that holds ``logical_path`` (None if absent and not create)."""
    parts = paths.components(logical_path)
    fd = os.dup(root_fd)
    for part in parts[:-1]:
        try:
            nxt = _open_dir(fd, part, create)
        finally:
            os.close(fd)
        if nxt is None:
            return None, parts[-1]
        fd = nxt
        if guard is not None:
            try:
                guard.check_fd(fd, logical_path)
            except BaseException:
                os.close(fd)
                raise
    return fd, parts[-1]


def _what_is_at(dir_fd, name):
    """('absent'|'file'|'other', lstat result) for name, never following a symlink."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return "absent", None
    return ("file" if stat.S_ISREG(st.st_mode) else "other"), st


def _hash_at(dir_fd, name):
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    hasher = blake3.blake3()
    try:
        while True:
            data = os.read(fd, 8 << 20)
            if not data:
                return hasher.digest()
            hasher.update(data)
    finally:
        os.close(fd)


def plan(root, entries, strategy, guard=None):
    """Decide, before writing anything, which entries to write and which to leave.

    Returns (to_write, unchanged, preserved_different). Raises Conflict under FAIL if an
    existing file differs, or if something other than a regular file is in the way."""
    paths.check_unique([e.logical_path for e in entries])
    to_write, unchanged, preserved, conflicts = [], [], [], []
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY) if os.path.isdir(root) else None
    try:
        for entry in entries:
            if root_fd is None:
                to_write.append(entry)
                continue
            dir_fd, name = _walk_to_parent(root_fd, entry.logical_path, create=False, guard=guard)
            if dir_fd is None:
                to_write.append(entry)
                continue
            try:
                kind, st = _what_is_at(dir_fd, name)
                if kind == "absent":
                    to_write.append(entry)
                elif kind == "other":
                    if stat.S_ISDIR(st.st_mode):
                        raise Conflict(
                            f"{entry.logical_path} is a directory in the destination; remove it first"
                        )
                    # A symlink or special file: never read through it.
                    if strategy == OVERWRITE:
                        to_write.append(entry)
                    elif strategy == PRESERVE:
                        preserved.append(entry)
                    else:
                        conflicts.append(entry.logical_path)
                elif entry.digest is not None and st.st_size == entry.size and _hash_at(dir_fd, name) == entry.digest:
                    unchanged.append(entry)
                elif strategy == OVERWRITE:
                    to_write.append(entry)
                elif strategy == PRESERVE:
                    preserved.append(entry)
                else:
                    conflicts.append(entry.logical_path)
            finally:
                os.close(dir_fd)
    finally:
        if root_fd is not None:
            os.close(root_fd)
    if conflicts:
        shown = ", ".join(conflicts[:3]) + (f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else "")
        raise Conflict(
            f"{len(conflicts)} file(s) in the destination differ from the version ({shown}); "
            "nothing was written; use --overwrite-strategy overwrite or preserve"
        )
    return to_write, unchanged, preserved


def write_file(root_fd, entry, source, progress=None, mtime_ns=None, guard=None):
    """Write one entry to a temp file beside its target, verify it, rename it into place."""
    dir_fd, name = _walk_to_parent(root_fd, entry.logical_path, create=True, guard=guard)
    tmp = temp_name(name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=dir_fd)
        try:
            hasher = blake3.blake3()
            written = 0
            if entry.open_stream is None:
                written = source.copy(entry.chunk_ids, fd, hasher, progress)
            else:
                with os.fdopen(fd, "wb", buffering=0, closefd=False) as out:
                    for data in entry.stream_blocks():
                        hasher.update(data)
                        checkpoint("download-write")
                        out.write(data)
                        written += len(data)
                        if progress:
                            progress(len(data))
            # A stored file's digest is what vouches for its bytes (see ChunkSource.copy); a
            # streamed remote entry may have none, and its reader checks the object itself.
            must_match = entry.open_stream is None or entry.digest is not None
            if written != entry.size or (must_match and hasher.digest() != entry.digest):
                if entry.open_stream is None:
                    source.find_damage(entry.chunk_ids)  # names a damaged chunk and its pack
                raise IntegrityError(
                    f"{entry.logical_path}: the stored chunks do not add up to the recorded file "
                    "digest; run 'artstore verify --read-data'"
                )
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)
        checkpoint("download-rename")
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    finally:
        os.close(dir_fd)


def materialize(root, entries, source, strategy=FAIL, progress=None, mtime_ns=None, protect=()):
    """Write ``entries`` under ``root``. Returns (written, unchanged, preserved) entry lists.

    ``mtime_ns`` stamps each written file's modification time (see Store.download). No
    file is ever written into a store directory (``protect``, or any other: StoreGuard)."""
    check_destination(root)
    guard = StoreGuard(protect)
    guard.check_root(root)
    to_write, unchanged, preserved = plan(root, entries, strategy, guard)
    try:
        os.makedirs(root, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise Conflict(f"the destination {root} (or a directory above it) is not a directory") from None
    except OSError as exc:
        raise from_os_error(exc, f"creating the destination {root}") from None
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        guard.check_fd(root_fd, root)
        for entry in to_write:
            try:
                write_file(root_fd, entry, source, progress, mtime_ns, guard)
            except ArtstoreError:
                raise
            except OSError as exc:
                raise from_os_error(exc, f"writing {entry.logical_path} under {root}") from None
    finally:
        os.close(root_fd)
    return to_write, unchanged, preserved
