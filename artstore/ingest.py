"""Paths -> files -> chunks (FastCDC) -> BLAKE3 -> chunk store, with the stat cache.

Walking policy for a directory given to ``add`` (documented in docs/userguide.rst):

- regular files are stored, empty ones included;
- a symlink to a regular file is followed (its target's bytes are stored under the link's
  name); a symlink to a directory is not descended (that avoids cycles and surprise
  trees) and is reported as skipped; a dangling symlink is reported as skipped;
- FIFOs, sockets and device files are reported as skipped;
- the store's own ``.artstore`` folder is never walked.

A file is read once: each block is cut by FastCDC, each chunk hashed, the whole-file
hasher fed, and new chunks appended to the writer's pack. A file that changes while it is
read (size or mtime differ before and after) is refused, so a version never records bytes
that were never on disk together.
"""

import io
import os
import stat
import time

import blake3
import pyfastcdc

from . import paths
from .errors import Conflict, InvalidInput, NotFound

# The racy-timestamp rule git uses: a stat-cache entry is trusted only if the file's mtime
# is older than the moment it was cached by more than one timestamp tick, since a change
# within the same tick would leave size, mtime and ctime as they were. Linux stamps files
# from a clock that ticks every few milliseconds; whole-second mtimes mean a coarse
# filesystem (FAT, HFS+, some network mounts), whose tick is up to two seconds.
RACY_NS = 50_000_000
COARSE_RACY_NS = 2_000_000_000
BLOCK_SIZE = 8 << 20
EMPTY_DIGEST = blake3.blake3(b"").digest()


class LocalFile:
    """A file on disk to be stored under ``logical_path``."""

    def __init__(self, os_path, logical_path, metadata=None, asset_type=None):
        self.os_path = os_path
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type


class InMemory:
    """Bytes or a binary file-like object to be stored under ``logical_path``."""

    def __init__(self, data, logical_path, metadata=None, asset_type=None):
        self.data = data
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type


class StoredFile:
    """A file already in the store (from a downloaded version): nothing to read."""

    def __init__(self, digest, size, logical_path, metadata=None, asset_type=None):
        self.digest = digest
        self.size = size
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type


class DownloadedFile:
    """A file this store downloaded: stored again through the stat cache if it is still on
    disk (so an unchanged file is not read, an edited one is), else by its recorded digest."""

    def __init__(self, os_path, digest, size, logical_path, metadata=None, asset_type=None):
        self.os_path = os_path
        self.digest = digest
        self.size = size
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type


def walk(root, prefix=None, exclude=None):
    """LocalFiles for every file under ``root`` and the list of skipped paths with reasons.

    Logical paths are relative to ``root`` (below ``prefix`` if given), sorted."""
    files, skipped = [], []
    exclude = os.path.realpath(exclude) if exclude else None
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        kept = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if exclude and os.path.realpath(full) == exclude:
                continue
            if d == ".artstore" and os.path.isdir(os.path.join(full, "objects")):
                continue
            if os.path.islink(full):
                skipped.append((full, "symlink to a directory (not followed)"))
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                skipped.append((full, "dangling symlink"))
                continue
            except OSError as exc:
                raise InvalidInput(f"cannot stat {full}: {exc.strerror}") from None
            if stat.S_ISDIR(st.st_mode):
                skipped.append((full, "symlink to a directory (not followed)"))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((full, "not a regular file (FIFO, socket or device)"))
                continue
            rel = paths.to_logical(os.path.relpath(full, root))
            files.append(LocalFile(full, paths.join_logical(prefix, rel)))
    files.sort(key=lambda f: f.logical_path)
    return files, skipped


def _walk_error(exc):
    raise InvalidInput(f"cannot read directory {exc.filename}: {exc.strerror}")


def sources_for_path(path, logical_path=None, exclude=None):
    """LocalFiles for a path given by the user: a file, or a directory walked recursively."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(f"no such file or directory: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot stat {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        return walk(path, prefix=logical_path, exclude=exclude)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path} is not a regular file or directory; give a file or a directory")
    name = logical_path or paths.to_logical(os.path.basename(os.path.abspath(path)))
    return [LocalFile(path, paths.check_logical_path(name))], []


def iter_chunks(fileobj, cdc, block_size=BLOCK_SIZE):
    """Yield memoryviews of the FastCDC chunks of a stream, reading it in large blocks.

    Chunks are the same as cutting the whole stream at once: a chunk is final only when
    ``max_size`` bytes follow its start in the buffer (or the stream has ended); the rest
    is carried over to the next block. Every block is a fresh buffer, so a yielded view
    stays valid after iteration moves on (the pack writer's thread may still hold it)."""
    max_size = cdc.max_size
    carry = b""
    eof = False
    while not eof:
        buf = bytearray(block_size + max_size)
        view = memoryview(buf)
        view[: len(carry)] = carry
        filled = len(carry)
        while filled < len(buf):
            n = fileobj.readinto(view[filled:])
            if not n:
                eof = True
                break
            filled += n
        if filled == 0:
            return
        used = 0
        for chunk in cdc.cut_buf(view[:filled]):
            if not eof and chunk.offset + max_size > filled:
                break
            yield chunk.data
            used = chunk.offset + chunk.length
        carry = bytes(view[used:filled])


class FileRecord:
    def __init__(self, digest, size):
        self.digest = digest
        self.size = size


class Ingestor:
    """Stores file contents through a PackWriter, deduplicating against the catalog."""

    def __init__(self, catalog, writer, chunking, progress=None):
        self.catalog = catalog
        self.writer = writer
        self.cdc = pyfastcdc.FastCDC(
            chunking["avg_size"],
            min_size=chunking["min_size"],
            max_size=chunking["max_size"],
            normalized_chunking=chunking["normalized_chunking"],
        )
        self.progress = progress
        self.new_files = {}  # digest -> (size, chunk-list blob), to be committed
        self.stat_rows = []
        self._written = set()
        self._has_chunk = catalog.conn.cursor()
        self.bytes_read = 0
        self.files_read = 0

    def _known(self, cid):
        if cid in self._written:
            return True
        row = self._has_chunk.execute("SELECT 1 FROM chunks WHERE id = ?", (cid,)).fetchone()
        return row is not None

    def _store_stream(self, fileobj):
        whole = blake3.blake3()
        chunk_ids = []
        size = 0
        for data in iter_chunks(fileobj, self.cdc):
            cid = blake3.blake3(data).digest()
            whole.update(data)
            chunk_ids.append(cid)
            size += len(data)
            if not self._known(cid):
                self.writer.add(cid, data)
                self._written.add(cid)
            if self.progress:
                self.progress(len(data))
        digest = whole.digest()
        if self.catalog.get_file(digest) is None:
            self.new_files[digest] = (size, b"".join(chunk_ids))
        return FileRecord(digest, size)

    def store_file(self, os_path):
        """Store one file from disk (or find it unchanged through the stat cache)."""
        key = os.path.abspath(os_path)
        try:
            before = os.stat(os_path)
        except FileNotFoundError:
            raise NotFound(f"no such file: {os_path}") from None
        cached = self.catalog.stat_cache_get(key)
        if cached is not None and _stat_matches(before, cached):
            if self.progress:
                self.progress(before.st_size)
            return FileRecord(cached[5], cached[0])
        cached_at = time.time_ns()
        try:
            f = open(os_path, "rb", buffering=0)
        except PermissionError:
            raise InvalidInput(f"cannot read {os_path}: permission denied; fix its permissions") from None
        except IsADirectoryError:
            raise InvalidInput(f"{os_path} is a directory, not a file") from None
        with f:
            record = self._store_stream(_SourceReader(f, os_path))
            after_fd = os.fstat(f.fileno())
        try:
            after = os.stat(os_path)
        except FileNotFoundError:
            raise Conflict(f"{os_path} was deleted while it was being read; add it again") from None
        if (
            record.size != before.st_size
            or _identity(after_fd) != _identity(before)
            or _identity(after) != _identity(before)
        ):
            raise Conflict(
                f"{os_path} changed while it was being read; add it again once it is stable"
            )
        self.files_read += 1
        self.bytes_read += record.size
        self.stat_rows.append(
            (key, before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino,
             before.st_dev, record.digest, cached_at)
        )
        return record

    def store_data(self, data):
        """Store bytes or a binary file-like object."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            fileobj = io.BytesIO(data)
        elif hasattr(data, "readinto") or hasattr(data, "read"):
            fileobj = data if hasattr(data, "readinto") else _ReadintoAdapter(data)
        else:
            raise InvalidInput(
                f"cannot add a {type(data).__name__}; give a path, bytes or a binary file object"
            )
        return self._store_stream(fileobj)


def stat_rows_for(root, entries):
    """Stat-cache rows for files just written under ``root`` (each entry: logical_path, digest).

    They are cached with the time now; the racy rule makes a file edited within the same
    second be read again, so a quick edit after download is never missed."""
    rows = []
    cached_at = time.time_ns()
    for entry in entries:
        path = os.path.abspath(paths.safe_join(root, entry.logical_path))
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            rows.append((path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev,
                         entry.digest, cached_at))
    return rows


def _identity(st):
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _stat_matches(st, cached):
    size, mtime_ns, ctime_ns, inode, device, _digest, cached_at_ns = cached
    return (
        st.st_size == size
        and st.st_mtime_ns == mtime_ns
        and st.st_ctime_ns == ctime_ns
        and st.st_ino == inode
        and st.st_dev == device
        and mtime_ns < cached_at_ns - (COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS)
    )


class _SourceReader:
    """A source file whose read errors name the file (a write error is the store's)."""

    def __init__(self, f, path):
        self.f = f
        self.path = path

    def readinto(self, view):
        try:
            return self.f.readinto(view)
        except OSError as exc:
            raise InvalidInput(f"cannot read {self.path}: {exc.strerror or exc}") from None


class _ReadintoAdapter:
    """Gives readinto() to file-like objects that only have read()."""

    def __init__(self, fileobj):
        self.fileobj = fileobj

    def readinto(self, view):
        data = self.fileobj.read(len(view))
        if isinstance(data, str):
            raise InvalidInput("the file object returned text; open it in binary mode ('rb')")
        view[: len(data)] = data
        return len(data)
