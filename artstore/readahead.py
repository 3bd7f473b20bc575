"""Small files read and hashed a batch ahead of the ingest, on a thread of their own.

Adding many small files is bound by the main thread's CPU, and about a third of it went
to the five system calls of each file (open, fstat, read, fstat, close). A Python thread
making those calls does not help: every call takes the GIL back, and the hand-overs cost
more than the calls (measured 10-15 % slower). The C loop in ``_readahead`` makes all the
calls of a batch with the GIL released, and hashes each file (BLAKE3, the vendored
reference code in ``_blake3``), so they run on the other core while the main thread
stores the previous batch.

The loop only reads files that are exactly as the walk saw them: a regular file of the
walk's identity (size, mtime, inode, device), read whole, unchanged from open to close
(the checks of ``ingest._check_read``). Any other file comes back as None and the caller
reads it the usual way, which raises the usual one-line error or reads the file as it now
is. Where the extension was not compiled, nothing is read ahead.
"""

import time

try:
    from . import _readahead
except ImportError:  # built without a C compiler: the ingest reads every file itself
    _readahead = None

# A batch read ahead holds at most this many bytes (one batch waits while the next is read).
BATCH_BYTES = 32 << 20

# Fewer files than this are not worth the hand-over to the thread.
MIN_FILES = 16


def available():
    return _readahead is not None


class ReadAhead:
    """The thread, and the batches it reads (one at a time, in order)."""

    def __init__(self):
        self._pool = None

    def submit(self, files):
        """Start reading ``files``: [(os_path, FileStat)], each smaller than the chunker's
        minimum. Returns the Batch, or None when there is nothing worth reading ahead."""
        if _readahead is None or len(files) < MIN_FILES:
            return None
        paths, stats, total = [], [], 0
        for os_path, st in files:
            total += st.st_size
            if total > BATCH_BYTES:
                break
            paths.append(os_path)
            stats.append(st)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # not imported by commands that store nothing

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="artstore-readahead")
        # Taken before the reads: a stat-cache row is trusted only for files last modified
        # before it (the racy rule), so an earlier time errs on the side of reading again.
        cached_at = time.time_ns()
        return Batch(paths, stats, self._pool.submit(_readahead.read_small, paths, stats), cached_at)

    def close(self):
        """Wait for the batch being read, if any, and end the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class Batch:
    def __init__(self, paths, stats, future, cached_at):
        self._index = {path: i for i, path in enumerate(paths)}
        self._stats = stats
        self._future = future
        self.cached_at = cached_at

    def take(self, os_path, st):
        """(bytes, BLAKE3 digest) read of ``os_path``, or None if it was not read (or not
        as walked). ``st`` is the caller's stat of it: the read was checked against the
        stat submitted, so it is taken only for that very stat (a path listed twice, or a
        file stored again from a fresh stat, is read by the caller against its own)."""
        i = self._index.get(os_path)
        if i is None or self._stats[i] is not st:
            return None
        del self._index[os_path]
        datas, digests = self._future.result()
        data = datas[i]
        return None if data is None else (data, digests[32 * i:32 * i + 32])
