"""Paths -> files -> chunks (FastCDC) -> BLAKE3 -> chunk store, with the stat cache.

Which files a directory holds is artstore.walking; the kinds of sources, artstore.sources
(both re-exported here).

A file is read once: each block is cut by FastCDC, each chunk hashed, the whole-file
hasher fed, and new chunks appended to the writer's pack. A file that changes while it is
read (size or mtime differ before and after) is refused, so a version never records bytes
that were never on disk together.
"""

import collections
import io
import os
import stat
import time

import blake3

from . import paths, safeio
from .catalog import _encodable
from .errors import Conflict, IntegrityError, InvalidInput, NotFound
from .faults import checkpoint
from .sources import DownloadedFile, FileStat, InMemory, LocalFile, RemoteRef, StoredFile, file_stat
from .walking import iter_walk, sources_for_path, walk

__all__ = ["DownloadedFile", "FileStat", "InMemory", "LocalFile", "RemoteRef", "StoredFile", "file_stat",
           "iter_walk", "sources_for_path", "walk", "Ingestor", "FileRecord"]

# The racy-timestamp rule git uses: a stat-cache entry is trusted only if the file's mtime
# is older than the moment it was cached by more than one timestamp tick, since a change
# within the same tick would leave size, mtime and ctime as they were. Linux stamps files
# from a clock that ticks every few milliseconds; whole-second mtimes mean a coarse
# filesystem (FAT, HFS+, some network mounts), whose tick is up to two seconds.
RACY_NS = 50_000_000
COARSE_RACY_NS = 2_000_000_000
BLOCK_SIZE = 8 << 20


def iter_blocks(fileobj, cdc, block_size=BLOCK_SIZE, size_hint=None):
    """Yield ``(view, cuts)`` for each large block of a stream: ``view`` holds bytes whose
    FastCDC chunks are final, ``cuts`` lists each chunk as ``(offset, length)`` in ``view``.

    Chunks are the same as cutting the whole stream at once: a chunk is final only when
    ``max_size`` bytes follow its start in the buffer (or the stream has ended); the rest
    is carried over to the next block. Two buffers alternate (a fresh one per block cost a
    page fault per 4 KiB), so a yielded view stays valid while the next block is produced:
    a consumer may hash block k in another thread while block k+1 is read, and must be done
    with block k before asking for block k+2. ``size_hint`` (the expected size) keeps the
    buffers of a small file small; a longer stream is still read whole."""
    max_size = cdc.max_size
    full = block_size + max_size
    # One byte more than expected, so that the end is seen without another block.
    capacity = full if size_hint is None else min(full, size_hint + 1)
    buffers = [None, None]
    which = 0
    carry = b""  # the bytes after the last final chunk, which start the next block
    eof = False
    while not eof:
        buf = buffers[which]
        if buf is None or len(buf) < capacity:
            buf = buffers[which] = bytearray(capacity)
        view = memoryview(buf)
        filled = len(carry)
        view[:filled] = carry
        while filled < capacity:
            n = fileobj.readinto(view[filled:capacity])
            if not n:
                eof = True
                break
            filled += n
        if filled == 0:
            return
        cuts = []
        used = 0
        for chunk in cdc.cut_buf(view[:filled]):
            if not eof and chunk.offset + max_size > filled:
                break
            cuts.append((chunk.offset, chunk.length))
            used = chunk.offset + chunk.length
        if not used and capacity < full:
            capacity = full  # longer than its hint and no chunk could be cut yet: full blocks
        carry = bytes(view[used:filled])
        if used:
            yield view[:used], cuts
            which ^= 1


def hash_block(whole, view, cuts):
    """Feed a block to the whole-file hasher and return its chunks' ids (BLAKE3 releases
    the GIL on large inputs, so this runs beside the reading and cutting of the next block)."""
    whole.update(view)
    return [blake3.blake3(view[offset:offset + length]).digest() for offset, length in cuts]


FileRecord = collections.namedtuple("FileRecord", "digest size")
# Makes a namedtuple in C (FileRecord(...) runs a Python-level __new__: 1-2 % of a re-add).
_new_tuple = tuple.__new__


class Ingestor:
    """Stores file contents through a PackWriter, deduplicating against the catalog."""

    def __init__(self, catalog, writer, chunking, progress=None):
        self.catalog = catalog
        self.writer = writer
        self.chunking = chunking
        self.min_size = chunking["min_size"]  # FastCDC never cuts a chunk shorter
        self._cdc = None
        self.progress = progress
        self.new_files = {}  # digest -> (size, chunk-list blob), to be committed
        self.stat_rows = []
        self.spill = None  # a spill.Spill that takes those rows as they pile up, if set
        self._seen = set()  # chunk ids queued or written by this ingest, or known stored
        self._pending = []
        self._pending_bytes = 0
        self._compared = {}  # path -> the stat prefetch compared with the stat cache
        self._hits = {}  # path -> FileRecord, for those of _compared unchanged since cached
        self._ahead = None  # the readahead.Batch of the batch being stored, if any
        self.readahead = None  # a readahead.ReadAhead that prefetch hands small files to, if set
        self._cursor = None  # the stat-cache range scan prefetch moves along, if open
        self._next_row = None
        self._scanned_to = ""
        self.bytes_read = 0
        self.files_read = 0
        # Chunks the index knows but whose pack is missing or not its recorded size: they
        # count as absent, so their bytes are stored again (and their index rows moved,
        # see Catalog.add_packs) instead of a new version referencing lost data.
        self.lost = lost_chunks(catalog, writer.pack_dir)

    @property
    def cdc(self):
        """The chunker, made when a file first needs cutting (a re-add of unchanged files
        never imports pyfastcdc)."""
        if self._cdc is None:
            import pyfastcdc

            c = self.chunking
            self._cdc = pyfastcdc.FastCDC(c["avg_size"], min_size=c["min_size"], max_size=c["max_size"],
                                          normalized_chunking=c["normalized_chunking"])
        return self._cdc

    def _known(self, ids):
        known = self.catalog.known_chunks(ids)
        return known - self.lost if self.lost else known

    def needs_restore(self, digest):
        """True if the stored file ``digest`` has a chunk in a missing or damaged pack."""
        if not self.lost:
            return False
        row = self.catalog.get_file(digest)
        return row is None or any(cid in self.lost for cid in _split(row[1]))

    def check_stored(self, digest, logical_path):
        """Refuse to reference a stored file whose bytes are lost (nothing to re-read)."""
        if self.needs_restore(digest):
            raise IntegrityError(
                f"{logical_path}: its stored bytes are in a pack that is missing or damaged; "
                "add the file from disk again, or run 'artstore verify' to see what else is affected"
            )

    # New-looking chunks wait in a batch so that one catalog query answers which of them
    # the store already has; a point query per chunk costs more than reading a 4 KB file.
    _BATCH_CHUNKS = 500
    _BATCH_BYTES = 8 << 20

    # A block with at least this many chunks is looked up on its own.
    _BLOCK_LOOKUP = 16

    def _queue_chunk(self, cid, data):
        if cid in self._seen:
            return
        self._seen.add(cid)
        self._pending.append((cid, bytes(data)))  # the read buffer is reused
        self._pending_bytes += len(data)
        if len(self._pending) >= self._BATCH_CHUNKS or self._pending_bytes >= self._BATCH_BYTES:
            self.flush()

    def flush(self):
        """Write the pending chunks the catalog does not have yet."""
        if not self._pending:
            return
        known = self._known(cid for cid, _ in self._pending)
        for cid, data in self._pending:
            if cid not in known:
                self.writer.add(cid, data)
        self._pending, self._pending_bytes = [], 0

    # Blocks at least this large are hashed on the hasher thread while the next block is
    # read and cut; a smaller one (a small file) is hashed in place, where a hand-over to
    # another thread would cost more than the hashing.
    _PARALLEL_BLOCK = 1 << 20

    def _store_stream(self, fileobj, size_hint=None):
        whole = blake3.blake3()
        chunk_ids = []
        size = 0
        hasher = None  # a thread of its own for a file of large blocks (one per file: cheap)
        previous = None  # (job, view, cuts) of the block being hashed there
        try:
            for view, cuts in iter_blocks(fileobj, self.cdc, size_hint=size_hint):
                if previous is None and len(view) < self._PARALLEL_BLOCK:
                    size += self._take_block(chunk_ids, hash_block(whole, view, cuts), view, cuts)
                    continue
                # One hasher thread takes the blocks in order: the whole-file hash stays in order.
                if hasher is None:
                    from concurrent.futures import ThreadPoolExecutor

                    hasher = ThreadPoolExecutor(1, thread_name_prefix="artstore-hasher")
                job = hasher.submit(hash_block, whole, view, cuts)
                if previous is not None:
                    size += self._take_block(chunk_ids, previous[0].result(), previous[1], previous[2])
                previous = (job, view, cuts)
            if previous is not None:
                size += self._take_block(chunk_ids, previous[0].result(), previous[1], previous[2])
        finally:
            if hasher is not None:
                hasher.shutdown()
        digest = whole.digest()
        # Files the catalog has already are skipped at commit (INSERT OR IGNORE).
        self.new_files[digest] = (size, b"".join(chunk_ids))
        return FileRecord(digest, size)

    def _take_block(self, chunk_ids, ids, view, cuts):
        """Hand a hashed block's new chunks to the pack writer; returns the block's size.

        A block of many chunks asks the catalog about them at once and copies only the
        chunks it lacks (re-adding an edited file copies a few chunks, not the whole file);
        the chunks of small blocks wait in a batch shared across files (see _queue_chunk)."""
        if len(cuts) < self._BLOCK_LOOKUP:
            for cid, (offset, length) in zip(ids, cuts, strict=True):
                self._queue_chunk(cid, view[offset:offset + length])
        else:
            fresh = [(cid, offset, length) for cid, (offset, length) in zip(ids, cuts, strict=True)
                     if cid not in self._seen]
            known = self._known(cid for cid, _, _ in fresh) if fresh else set()
            self._seen.update(known)
            for cid, offset, length in fresh:
                if cid not in self._seen:  # a chunk may repeat within a block
                    self._seen.add(cid)
                    self.writer.add(cid, bytes(view[offset:offset + length]))
        chunk_ids.extend(ids)
        if self.progress:
            self.progress(len(view))
        return len(view)

    def prefetch(self, files):
        """Compare a batch of LocalFiles listed by walk with the stat cache, and start
        reading ahead the small files it does not vouch for (if ``readahead`` is set).
        Returns the batch's state, for ``use`` once the batch is stored: a log prefetches
        the next batch while it stores this one. What is kept is the record of each
        unchanged file, tied to the very stat it was compared with.

        A walk lists files in the order the cache keeps their paths (absolute paths sort
        as logical paths do, '/' rule included), so batch after batch is read from one
        range scan that moves forward with the walk (git compares its index the same
        way). A batch that does not ascend (several roots, a list, a name whose on-disk
        spelling sorts elsewhere than its NFC logical path) is looked up by key, and one
        that starts before where the scan is starts a new scan: no cached file is missed."""
        compared = {}
        for f in files:
            st = f.stat_result
            if st is not None:
                compared[_absolute(f.os_path)] = st
        hits = {}
        if compared:
            order = list(compared)  # stream order (a path given twice is once here)
            ascending = _encodable(order[0]) and order == sorted(order)  # sorted: one C pass on sorted input
            rows = self._scan(order[0], order[-1]) if ascending else self.catalog.stat_cache_many(order)
            get = compared.get
            for row in rows:
                st = get(row[0])
                if st is not None and _stat_matches(st, row):
                    hits[row[0]] = _new_tuple(FileRecord, (row[6], row[1]))
        ahead = None
        if self.readahead is not None and len(hits) < len(compared):
            min_size = self.min_size
            ahead = self.readahead.submit([
                (f.os_path, f.stat_result) for f in files
                if type(f.stat_result) is FileStat and f.stat_result.st_size < min_size
                and _absolute(f.os_path) not in hits
            ])
        return compared, hits, ahead

    def use(self, state):
        """Store the files of the batch ``state`` (from prefetch) is of next."""
        self._compared, self._hits, self._ahead = state

    def _scan(self, low, high):
        """Stat-cache rows with low <= path <= high, from the open range scan when it has
        not reached ``low`` yet, else from a new one."""
        if self._cursor is None or low <= self._scanned_to:
            self.close_scan()
            self._cursor = self.catalog.stat_cache_scan(low)
            self._next_row = next(self._cursor, None)
        row = self._next_row
        cursor = self._cursor
        while row is not None and row[0] <= high:
            yield row
            row = next(cursor, None)
        self._next_row = row
        self._scanned_to = high

    def close_scan(self):
        """End the range scan (it holds a read snapshot of the catalog open)."""
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    # Rows beyond this many move to the spill (artstore.spill) between batches.
    _SPILL_ROWS = 4096

    def spill_rows(self, force=False):
        """Move the file and stat-cache rows made so far to ``self.spill``, if set."""
        if self.spill is None:
            return
        if self.new_files and (force or len(self.new_files) >= self._SPILL_ROWS):
            self.spill.add_files((d, s, blob) for d, (s, blob) in self.new_files.items())
            self.new_files = {}
        if self.stat_rows and (force or len(self.stat_rows) >= self._SPILL_ROWS):
            self.spill.add_stat(self.stat_rows)
            self.stat_rows = []
            checkpoint("rows-spilled")

    def commit_rows(self, cat):
        """Insert every file and stat-cache row this ingest made (inside ``cat``'s transaction)."""
        cat.add_files((d, s, blob) for d, (s, blob) in self.new_files.items())
        cat.stat_cache_put(self.stat_rows)
        if self.spill is not None:
            self.spill.commit(cat)

    def store_file(self, os_path, before=None):
        """Store one file from disk (or find it unchanged through the stat cache).

        ``before`` is a stat of the file taken earlier (by walk); any change since is
        detected like a change during the read."""
        key = _absolute(os_path)
        if before is None:
            try:
                before = os.stat(os_path)
            except FileNotFoundError:
                raise NotFound(f"no such file: {os_path}") from None
        if self._compared.get(key) is before:  # prefetch compared this very stat
            record = self._hits.get(key)
        else:
            cached = self.catalog.stat_cache_get(key)
            record = FileRecord(cached[6], cached[1]) if cached is not None and _stat_matches(before, cached) else None
        if record is not None and not self.needs_restore(record.digest):
            if self.progress:
                self.progress(before.st_size)
            return record
        taken = self._ahead.take(os_path, before) if self._ahead is not None else None
        if taken is not None:  # read and hashed by readahead, which made _check_read's checks
            cached_at = self._ahead.cached_at
            record = self._store_bytes(*taken)
        elif before.st_size < self.min_size:
            cached_at, data, opened, after = read_small_file(os_path, before.st_size, before)
            record = self._store_bytes(data)
            _check_read(os_path, before, opened, after, record.size)
        else:
            cached_at = time.time_ns()
            fd, opened = _open_source(os_path, before)
            try:
                with open(fd, "rb", buffering=0, closefd=False) as f:
                    record = self._store_stream(_SourceReader(f, os_path), before.st_size)
                after = os.fstat(fd)
            finally:
                os.close(fd)
            _check_read(os_path, before, opened, after, record.size)
        self.files_read += 1
        self.bytes_read += record.size
        self.stat_rows.append(
            (key, before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino,
             before.st_dev, record.digest, cached_at)
        )
        return record

    def _store_bytes(self, data, digest=None):
        """Store bytes held in memory (``digest``: their BLAKE3 digest, if known). Fewer
        than min_size bytes are one chunk (FastCDC never cuts a chunk shorter than that),
        whose id is the file's digest: one hash, no cutting."""
        if not 0 < len(data) < self.min_size:
            return self._store_stream(io.BytesIO(data), len(data))
        if digest is None:
            digest = blake3.blake3(data).digest()
        self._queue_chunk(digest, data)
        self.new_files[digest] = (len(data), digest)
        if self.progress:
            self.progress(len(data))
        return FileRecord(digest, len(data))

    def store_data(self, data):
        """Store bytes or a binary file-like object."""
        size_hint = None
        if isinstance(data, (bytes, bytearray, memoryview)):
            if len(data) < self.min_size:
                return self._store_bytes(bytes(data))
            fileobj = io.BytesIO(data)
            size_hint = len(data)
        elif hasattr(data, "readinto") or hasattr(data, "read"):
            fileobj = data if hasattr(data, "readinto") else _ReadintoAdapter(data)
        else:
            raise InvalidInput(
                f"cannot add a {type(data).__name__}; give a path, bytes or a binary file object"
            )
        return self._store_stream(fileobj, size_hint)


def _split(blob):
    return [blob[i:i + 32] for i in range(0, len(blob), 32)]


def lost_chunks(catalog, pack_dir):
    """Ids of indexed chunks whose pack file is missing or not of its recorded size (one
    stat per pack: packs are few, about one per 64 MiB stored)."""
    lost = set()
    for pack in catalog.packs():
        try:
            ok = os.stat(os.path.join(pack_dir, pack["name"] + ".pack")).st_size == pack["size"]
        except OSError:
            ok = False
        if not ok:
            lost.update(row[0] for row in catalog.pack_chunks(pack["id"]))
    return lost


def _absolute(path):
    # startswith, not os.path.isabs: called twice per file, and artstore is POSIX-only.
    return path if path.startswith("/") else os.path.abspath(path)


def stat_rows_for(root, entries):
    """Stat-cache rows for files just written under ``root`` (each entry: logical_path, digest).

    They are cached with the time now; the racy rule makes a file edited within the same
    second be read again, so a quick edit after download is never missed."""
    rows = []
    cached_at = time.time_ns()
    for entry in entries:
        if entry.digest is None:
            continue
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
    mtime_ns = cached[2]
    if type(st) is FileStat:  # the walk's: (size, mtime_ns, ctime_ns, inode, device), one C comparison
        return st == cached[1:6] and mtime_ns < cached[7] - (
            COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS)
    _path, size, mtime_ns, ctime_ns, inode, device, _digest, cached_at_ns = cached
    return (
        st.st_size == size
        and st.st_mtime_ns == mtime_ns
        and st.st_ctime_ns == ctime_ns
        and st.st_ino == inode
        and st.st_dev == device
        and mtime_ns < cached_at_ns - (COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS)
    )


def _open_source(os_path, before=None):
    """(fd, its fstat) of the source file, refused unless it is the regular file
    ``before`` saw: a file swapped for a FIFO (whose open would block forever, holding
    the store lock), a device, a socket or another file is caught on the open descriptor
    (safeio)."""
    return safeio.open_regular_stat(os_path, expect=before, missing=Conflict)


def _held(st):
    """What stays the same on a file nobody touches: a write moves the size or mtime; an
    unlink or a rename onto its name drops its link count; those, a rename away, a chmod
    and a new hard link move its ctime."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, st.st_ino, st.st_dev)


def _check_read(os_path, before, opened, after, size):
    """Refuse bytes read from a file that changed since ``before`` (the walk's stat) or
    while it was read: ``opened`` and ``after`` are fstats of the open file before and
    after the read. The open file is watched, not its path: a file deleted or replaced by
    a rename during the read shows it on its own inode (link count 0, new ctime), which
    a stat of the path after the read (a system call per file: 2.5-3 % of py-spy's
    samples of adding 100,000 small files) told no better."""
    if after.st_nlink == 0:
        raise Conflict(f"{os_path} was deleted or replaced while it was being read; add it again once it is stable")
    if size != before.st_size or _identity(opened) != _identity(before) or _held(after) != _held(opened):
        raise Conflict(f"{os_path} changed while it was being read; add it again once it is stable")


def read_small_file(os_path, size, before=None):
    """(time before the read, the bytes, fstat at the open, fstat after the read) of a
    small file expected to hold ``size`` bytes, read whole with plain system calls (for a
    4 KB file the io layer and the block reader cost more than the read). The caller
    compares the stats (_check_read)."""
    cached_at = time.time_ns()
    fd, opened = _open_source(os_path, before)
    try:
        data = _read_all(fd, os_path, size + 1)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    return cached_at, data, opened, after


def _read_all(fd, path, want):
    """The bytes of an open file: one read when it holds fewer than ``want`` bytes (a short
    read of a regular file is its end; the size check after the read confirms it)."""
    try:
        data = os.read(fd, want)
        if len(data) < want:
            return data
        parts = [data]
        while data:  # it grew since it was listed: read it all, the size check refuses it
            data = os.read(fd, BLOCK_SIZE)
            parts.append(data)
        return b"".join(parts)
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


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
