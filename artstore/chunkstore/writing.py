"""Writing packs: a PackWriter batches chunks, encodes them on a pool of threads, lays
them out in packs on a file thread and seals each full pack (fsync, rename) on another;
SealedPack is what a sealed pack holds; uncommitted says which a failed command may
delete."""

import os
import queue
import threading
import uuid

from ..faults import checkpoint
from .encoding import DEFAULT_LEVEL, Encoder
from .format import FOOTER, INDEX_ENTRY, INDEX_MAGIC, PACK_MAGIC, RAW, fsync_dir, pack_name

_IOV_MAX = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024)
TMP_PREFIX = "pack-"


class SealedPack:
    """A pack that is durable under its final name, with the entries it holds: a list of
    (chunk_id, offset, stored_size, size, compression), or the pack's own index bytes
    (INDEX_ENTRY records), which a writer keeps instead of tuples: a pack of a million
    tiny chunks has a million entries, 49 MB packed against 200 MB as tuples."""

    def __init__(self, name, size, entries=None, *, index=None):
        self.name = name
        self.size = size
        self._entries = entries
        self._index = index

    @property
    def entries(self):
        return self._entries if self._entries is not None else list(self.iter_entries())

    def iter_entries(self):
        if self._entries is not None:
            return iter(self._entries)
        return INDEX_ENTRY.iter_unpack(self._index)

    @property
    def count(self):
        return len(self._entries) if self._entries is not None else len(self._index) // INDEX_ENTRY.size

def uncommitted(packs, committed):
    """Those of sealed ``packs`` no catalog commit references, the ones a failed or
    interrupted command may delete. ``committed`` (Catalog.packs_committed, or None: all)
    is asked which the catalog has; if it cannot tell, none may go."""
    if committed is None or not packs:
        return list(packs)
    try:
        keep = committed([p.name for p in packs])
    except Exception:
        return []
    return [p for p in packs if p.name not in keep]

class PackWriter:
    """Appends chunks to packs that this writer owns alone, sealing them as they fill.

    The caller's thread only batches chunks. With compression on, each batch is encoded
    by a pool of two threads (zstd releases the GIL) while the caller reads, cuts and
    hashes the next blocks; a file thread lays the encoded chunks out in packs, in the
    order they were added, writes them, and hands each full pack to a sealer thread
    (fsync, rename). Buffers handed to ``add`` must stay unchanged until ``finish``
    (ingest hands over copies). Nothing is visible to readers until a sealed pack is
    referenced by a catalog commit; ``abort()`` deletes everything this writer made,
    ``finish()`` seals the last pack."""

    _BATCH_BYTES = 4 << 20
    _QUEUE_BATCHES = 16  # at most ~64 MiB of chunk data waiting to be written
    ENCODE_THREADS = 2

    def __init__(self, pack_dir, tmp_dir, *, compression="none", compression_level=DEFAULT_LEVEL,
                 target_size=64 << 20):
        Encoder(compression, compression_level)  # refuses an unknown mode here, not on a thread
        self.pack_dir = pack_dir
        self.tmp_dir = tmp_dir
        self.compression = compression
        self.compression_level = compression_level
        self.target_size = target_size
        self._batch = []
        self._batch_bytes = 0
        self._pool = None
        self._local = threading.local()
        self._file_worker = _PackFileWorker(pack_dir, tmp_dir, self._QUEUE_BATCHES, target_size)

    @property
    def sealed(self):
        return self._file_worker.sealed

    def add(self, cid, data):
        """Append one chunk (``cid`` must be chunk_id(data); the caller has computed it)."""
        self._batch.append((cid, data))
        self._batch_bytes += len(data)
        if self._batch_bytes >= self._BATCH_BYTES:
            self._flush()

    def add_stored(self, cid, stored, size, compression):
        """Append one chunk already encoded (its stored bytes as another pack holds them,
        RAW or ZSTD): push and pull copy frames as they are instead of decoding and
        encoding them again. The caller has checked the frame against ``cid``."""
        self._batch.append((cid, stored, size, compression))
        self._batch_bytes += len(stored)
        if self._batch_bytes >= self._BATCH_BYTES:
            self._flush()

    def _flush(self):
        if not self._batch:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if self.compression == "none" or all(len(item) == 4 for item in batch):
            self._file_worker.send(("chunks", [item if len(item) == 4 else (item[0], item[1], len(item[1]), RAW)
                                               for item in batch]))
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # not at start-up

            self._pool = ThreadPoolExecutor(self.ENCODE_THREADS, thread_name_prefix="artstore-encoder")
        self._file_worker.send(("chunks", self._pool.submit(self._encode_batch, batch)))

    def _encode_batch(self, batch):
        """(id, stored bytes, size, compression) per chunk of a batch (an encoder thread)."""
        encoder = getattr(self._local, "encoder", None)
        if encoder is None:
            encoder = self._local.encoder = Encoder(self.compression, self.compression_level)
        return encoder.encode_batch(batch)

    def finish(self):
        """Seal the open pack, if any, and return every pack this writer sealed."""
        try:
            self._flush()
            if self._file_worker.started:
                self._file_worker.send(("finish", None))
            return self._file_worker.close()
        finally:
            self._stop_pool()

    def abort(self, committed=None):
        """Delete the open pack and every pack sealed but never committed.

        ``committed`` (Catalog.packs_committed): asked which sealed packs a catalog commit
        already references, which are kept. An interruption can land once the COMMIT went
        through (Ctrl-C during its fsync is raised right after it), with the caller still
        inside the code that aborts on failure; deleting those packs would leave a
        committed version without its data. If it cannot be told, every pack is kept
        (gc removes the ones nothing references)."""
        self._batch = []
        self._file_worker.close(abort=True)
        self._stop_pool()
        sealed = uncommitted(self._file_worker.sealed, committed)
        for pack in sealed:
            try:
                os.unlink(os.path.join(self.pack_dir, pack.name + ".pack"))
            except FileNotFoundError:
                pass
        self._file_worker.sealed = []

    def _stop_pool(self):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

class _PackFileWorker:
    """The thread that lays chunks out in packs and writes them in order; a second thread
    fsyncs and renames each full pack, so writing the next pack goes on while the disk
    flushes the last one."""

    def __init__(self, pack_dir, tmp_dir, depth, target_size):
        self.pack_dir = pack_dir
        self.tmp_dir = tmp_dir
        self.target_size = target_size
        self.sealed = []
        self.error = None
        self._queue = queue.Queue(maxsize=depth)
        self._thread = None
        self._file = None
        self._tmp_path = None
        self._entries = None  # packed index entries of the open pack; None when no pack is open
        self._offset = 0
        self._sealer = None
        self._sealing = []

    @property
    def started(self):
        return self._thread is not None

    def send(self, op):
        if self.error is not None:
            raise self.error
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="artstore-pack-writer", daemon=True)
            self._thread.start()
        self._queue.put(op)

    def close(self, abort=False):
        """Wait for every queued operation and every seal; raise the first error.
        Returns the sealed packs."""
        if self._thread is not None:
            self._queue.put(("abort" if abort else "stop", None))
            self._thread.join()
            self._thread = None
        for future in self._sealing:
            try:
                future.result()
            except BaseException as exc:
                if self.error is None:
                    self.error = exc
        self._sealing = []
        if self._sealer is not None:
            self._sealer.shutdown()
            self._sealer = None
        if self.error is not None and not abort:
            raise self.error
        return self.sealed

    def _run(self):
        while True:
            op, arg = self._queue.get()
            if op in ("stop", "abort"):
                if op == "abort" or self.error is not None:
                    self._discard()
                return
            if self.error is not None:
                continue  # drain without working so the producer never blocks
            try:
                getattr(self, "_" + op)(arg)
            except BaseException as exc:  # handed to the producer's thread
                self.error = exc
                self._discard()

    def _chunks(self, chunks):
        """Lay out and write a batch: ``[(id, stored bytes, size, compression)]`` or the
        future of one (batches arrive in the order they were added, so the layout is too)."""
        if hasattr(chunks, "result"):
            chunks = chunks.result()
        buffers = []
        for cid, stored, size, how in chunks:
            if self._entries is None:
                self._open()
            self._entries += INDEX_ENTRY.pack(cid, self._offset, len(stored), size, how)
            self._offset += len(stored)
            buffers.append(stored)
            if self._offset >= self.target_size:
                self._data(buffers)
                buffers = []
                self._seal()
        if buffers:
            self._data(buffers)

    def _finish(self, _arg):
        if self._entries:
            self._seal()
        self._discard()

    def _open(self):
        self._tmp_path = os.path.join(self.tmp_dir, f"{TMP_PREFIX}{uuid.uuid4().hex}.tmp")
        self._file = open(self._tmp_path, "xb", buffering=0)
        self._header = PACK_MAGIC + os.urandom(16)
        self._entries = bytearray()
        self._size = 0
        self._write(self._header)
        self._offset = len(self._header)

    def _write(self, data):
        self._data([data])

    def _data(self, buffers):
        """Write a batch with as few writev calls as the kernel allows: one system call (and
        one wait for the GIL afterwards) per batch, not one per chunk."""
        checkpoint("pack-write")
        fd = self._file.fileno()
        views = [memoryview(b) for b in buffers]
        while views:
            n = os.writev(fd, views[:_IOV_MAX])
            self._size += n
            while views and n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            if views and n:
                views[0] = views[0][n:]

    def _seal(self):
        index, self._entries = bytes(self._entries), None
        index_offset = self._size
        self._write(index + FOOTER.pack(len(index) // INDEX_ENTRY.size, index_offset, INDEX_MAGIC))
        name = pack_name(self._header, index)
        if self._sealer is None:
            from concurrent.futures import ThreadPoolExecutor  # not at start-up

            self._sealer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artstore-pack-sealer")
        job = (self._file, self._tmp_path, name, self._size, index)
        self._file, self._tmp_path = None, None
        self._sealing.append(self._sealer.submit(self._durable, *job))

    def _durable(self, f, tmp_path, name, size, index):
        """fsync a full pack, rename it to its name, fsync the directory (sealer thread)."""
        try:
            try:
                checkpoint("pack-fsync")
                os.fsync(f.fileno())
            finally:
                f.close()
            checkpoint("pack-rename")
            os.replace(tmp_path, os.path.join(self.pack_dir, name + ".pack"))
        except BaseException:
            try:
                os.unlink(tmp_path)
            except FileNotFoundError:
                pass
            raise
        fsync_dir(self.pack_dir)
        self.sealed.append(SealedPack(name, size, index=index))

    def _discard(self, _arg=None):
        self._entries = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp_path is not None:
            try:
                os.unlink(self._tmp_path)
            except FileNotFoundError:
                pass
            self._tmp_path = None
