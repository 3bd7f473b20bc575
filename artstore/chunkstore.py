"""Content-addressed chunk storage in pack files: write, seal, read with verification.

A pack is an immutable file ``objects/pack/<name>.pack``, the name being the BLAKE3 of its
header and index (see pack_name)::

    header   b"ARTPACK\\x01" + 16 random bytes                 24 bytes
    blobs    the stored bytes of each chunk, back to back    (raw or zstd frame)
    index    per chunk: id (32) | offset u64 | stored u32 | size u32 | compression u8
    footer   count u32 | index offset u64 | b"ARTPIDX\\x01"     20 bytes, little-endian

The random bytes make every pack's name unique, even when two writers happen to store the
same chunks in the same order, so a writer can always delete the packs it made. The
catalog's chunk index is the authority for where a chunk lives; the index inside the
pack makes a pack self-describing so that a catalog can be rebuilt from packs alone.
This module knows nothing of the catalog: it moves bytes and checks hashes.
"""

import itertools
import os
import queue
import struct
import threading
import uuid

import blake3

from .errors import IntegrityError, InvalidInput
from .faults import checkpoint

PACK_MAGIC = b"ARTPACK\x01"
HEADER_SIZE = len(PACK_MAGIC) + 16
INDEX_MAGIC = b"ARTPIDX\x01"
INDEX_ENTRY = struct.Struct("<32sQIIB")
FOOTER = struct.Struct("<IQ8s")
RAW = 0
ZSTD = 1
_IOV_MAX = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024)
# How a store compresses (config ``[storage] compression``); each chunk's index entry then
# records what was done to it (RAW or ZSTD). See docs/storage.rst, "Compression".
MODES = ("none", "zstd", "auto")
DEFAULT_LEVEL = 3
TMP_PREFIX = "pack-"
# zstd is kept only when it saves at least this fraction of a chunk.
_MIN_SAVING = 1 / 8
# ``auto`` first compresses a 4 KiB sample from the middle of the chunk at zstd level 1
# (4 us on incompressible data, against 20 us for the whole chunk at level 3): a sample
# that saves less than 1/32 marks the chunk as incompressible and it is stored raw
# without a full attempt. Chunks of at most twice the sample go straight to the full try.
# (1/32 loses nothing against trying every chunk on the real data of
# benchmarks/compression_study.py; 1/16 stored 0.5 % more of the binary kind.)
_PROBE = 4096
_PROBE_MIN_SAVING = 1 / 32


def chunk_id(data):
    """The id of a chunk: its BLAKE3 digest (32 bytes)."""
    return blake3.blake3(data).digest()


def fsync_dir(path):
    """fsync a directory so that a rename or unlink inside it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _zstd():
    # Imported on first use: listing versions must not pay for it (start-up, see docs/performance.rst).
    import zstandard

    return zstandard


class Encoder:
    """Turns a chunk into its stored bytes under a store's compression mode. Not
    thread-safe (zstd contexts are reused): one per thread."""

    def __init__(self, mode="auto", level=DEFAULT_LEVEL):
        if mode not in MODES:
            raise InvalidInput(f"unknown compression {mode!r}; use one of {', '.join(MODES)}")
        self.mode = mode
        self.level = level
        if mode != "none":
            zstd = _zstd()
            self._full = zstd.ZstdCompressor(level=level)
            self._probe = zstd.ZstdCompressor(level=1) if mode == "auto" else None

    def encode(self, data):
        """(stored bytes, RAW or ZSTD) for one chunk."""
        if self.mode == "none":
            return data, RAW
        n = len(data)
        if self._probe is not None and n > 2 * _PROBE:
            middle = (n - _PROBE) // 2
            sample = memoryview(data)[middle:middle + _PROBE]
            if len(self._probe.compress(sample)) > _PROBE * (1 - _PROBE_MIN_SAVING):
                return data, RAW
        packed = self._full.compress(data)
        if len(packed) <= n * (1 - _MIN_SAVING):
            return packed, ZSTD
        return data, RAW

    def encode_batch(self, batch):
        """(id, stored bytes, size, compression) for each (id, data) of ``batch``; an item
        of four is already encoded and kept as it is.

        The small chunks (those ``encode`` compresses whole, without a probe: most chunks
        of small files) are compressed by one call for the whole batch, which holds no
        GIL while it runs: compressed one call each, the encoder thread took the GIL back
        after every 3 KB chunk, and 100,000 small files spent ~1 s more than stored raw
        (benchmarks/trees.py D). The frames are the same bytes ``compress`` makes."""
        # (An empty chunk is never made, but one would fail zstd's batch call: left to encode.)
        small = [item[1] for item in batch if len(item) == 2 and 0 < len(item[1]) <= 2 * _PROBE]
        packed = self._compress_many(small) if self.mode != "none" and small else None
        out = []
        for item in batch:
            if len(item) == 4:
                out.append(item)
                continue
            cid, data = item
            n = len(data)
            if packed is not None and 0 < n <= 2 * _PROBE:
                frame = next(packed)
                if len(frame) <= n * (1 - _MIN_SAVING):
                    out.append((cid, frame.tobytes(), n, ZSTD))
                else:
                    out.append((cid, data, n, RAW))
            else:
                stored, how = self.encode(data)
                out.append((cid, stored, n, how))
        return out

    def _compress_many(self, chunks):
        """An iterator of the zstd frames of ``chunks`` (objects with ``tobytes``)."""
        many = getattr(self._full, "multi_compress_to_buffer", None)  # C backend only
        if many is not None:
            try:
                return iter(many(chunks, threads=1))
            except NotImplementedError:
                pass
        return (memoryview(self._full.compress(c)) for c in chunks)


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


def pack_name(header, index):
    """A pack's name: BLAKE3 of its header and index. The index lists the BLAKE3 id of every
    chunk, so the name commits to the pack's content the way a git tree's hash commits to
    its blobs, without a second pass over the data."""
    return blake3.blake3(header + index).hexdigest()


def overhead(entries):
    """Bytes of a pack that are not chunk data: header, index and footer."""
    return HEADER_SIZE + entries * INDEX_ENTRY.size + FOOTER.size


_decompressors = threading.local()


def _decompress(stored, size, cid, where):
    """The bytes of a zstd frame holding ``size`` bytes (unverified)."""
    dctx = getattr(_decompressors, "dctx", None)
    if dctx is None:  # one per thread: a decompression context is ~100 KiB to set up
        dctx = _decompressors.dctx = _zstd().ZstdDecompressor()
    try:
        data = dctx.decompress(stored, max_output_size=size)
    except Exception as exc:  # zstd raises its own error type for damaged frames
        raise IntegrityError(f"chunk {cid.hex()} in {where} does not decompress ({exc})") from None
    if len(data) != size:
        raise IntegrityError(f"chunk {cid.hex()} in {where} decompresses to {len(data)} bytes, not {size}")
    return data


def decode(stored, size, compression, cid, where):
    """Turn stored chunk bytes back into the chunk and check its hash."""
    if compression == ZSTD:
        data = _decompress(stored, size, cid, where)
    elif compression == RAW:
        data = stored
    else:
        raise IntegrityError(f"chunk {cid.hex()} in {where} has unknown compression {compression}")
    if len(data) != size or chunk_id(data) != cid:
        raise IntegrityError(
            f"chunk {cid.hex()} in {where} does not match its hash; "
            "run 'artstore verify --read-data' to see what is affected"
        )
    return data


class PackReader:
    """Reads chunks from sealed packs with one pread each, keeping a few packs open."""

    def __init__(self, pack_dir, max_open=16):
        self.pack_dir = pack_dir
        self.max_open = max_open
        self._fds = {}

    def path(self, pack_name):
        return os.path.join(self.pack_dir, pack_name + ".pack")

    def _fd(self, pack_name):
        fd = self._fds.get(pack_name)
        if fd is None:
            if len(self._fds) >= self.max_open:
                self._forget(next(iter(self._fds)))
            try:
                fd = os.open(self.path(pack_name), os.O_RDONLY)
            except FileNotFoundError:
                raise IntegrityError(
                    f"pack {pack_name} is missing from the store; "
                    "run 'artstore verify' to see which versions are affected"
                ) from None
            self._fds[pack_name] = fd
        return fd

    def _forget(self, pack_name):
        os.close(self._fds.pop(pack_name))

    def read_stored(self, pack_name, offset, stored_size):
        data = os.pread(self._fd(pack_name), stored_size, offset)
        if len(data) != stored_size:
            raise _truncated(pack_name, offset, stored_size)
        return data

    def read(self, cid, pack_name, offset, stored_size, size, compression):
        """The verified bytes of one chunk."""
        stored = self.read_stored(pack_name, offset, stored_size)
        return decode(stored, size, compression, cid, f"pack {pack_name}")

    def close(self):
        for name in list(self._fds):
            self._forget(name)


def _write_all(out_fd, view):
    while view:
        view = view[os.write(out_fd, view):]


def _truncated(pack_name, offset, size):
    return IntegrityError(
        f"pack {pack_name} is truncated (wanted {size} bytes at {offset}); "
        "run 'artstore verify' to see which versions are affected"
    )


class ChunkSource:
    """The chunks a download needs: located through the catalog, read and verified."""

    def __init__(self, pack_dir, locations):
        self.reader = PackReader(pack_dir)
        self.locations = locations  # chunk id -> (pack name, offset, stored, size, compression)

    def _where(self, cid):
        loc = self.locations.get(cid)
        if loc is None:
            raise IntegrityError(f"chunk {cid.hex()} is missing from the store; run 'artstore verify'")
        return loc

    def read(self, cid):
        """The verified bytes of a chunk."""
        return self.reader.read(cid, *self._where(cid))

    RUN_BYTES = 8 << 20

    def copy(self, chunk_ids, out_fd, whole, progress=None):
        """Append the chunks to ``out_fd``, feeding every byte to ``whole``; returns the
        bytes written. The caller must check ``whole`` against the file's digest before it
        keeps the file: that one hash vouches for every byte, so raw chunks are not also
        hashed one by one (a second BLAKE3 pass, 0.45 s/GiB). If the digest does not
        match, ``find_damage`` names the chunk at fault.

        Chunks lying back to back in one pack (the usual layout of a file added in one go)
        form a run, read with one pread; compressed chunks in it are decompressed but not
        hashed one by one either. A file of several runs is pipelined: a helper thread
        reads and decompresses the next run while this thread hashes the current one and a
        second helper writes the previous one (BLAKE3, zstd and I/O release the GIL)."""
        runs = self._runs(chunk_ids)
        first = next(runs, None)
        second = next(runs, None) if first is not None else None
        if second is None:
            # One run (every file up to RUN_BYTES stored in one go): read into a buffer of
            # its size and write it here. A helper thread and two 9 MiB buffers per file
            # cost 10 ms each, which made a download of 100,000 small files take minutes.
            if first is None:
                return 0
            checkpoint("download-write")
            view = self._read_run(first, [bytearray(0)], 0)
            whole.update(view)
            _write_all(out_fd, view)
            n = sum(r[4] for r in first)
            if progress:
                progress(n)
            return n
        runs = itertools.chain((first, second), runs)
        from concurrent.futures import ThreadPoolExecutor

        # Three stages on three buffers: a helper reads (and decompresses) run i while this
        # thread hashes run i-1 and another helper writes run i-2.
        buffers = [bytearray(0) for _ in range(3)]
        written = 0
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="artstore-download") as helpers:
            reading = writing = None
            for i, run in enumerate(runs):
                future = helpers.submit(self._read_run, run, buffers, i % 3)
                if reading is not None:
                    writing = self._hash_and_write(reading, whole, helpers, writing, out_fd, progress)
                    written += sum(r[4] for r in reading[1])
                reading = (future, run)
            self._hash_and_write(reading, whole, helpers, writing, out_fd, progress).result()
            written += sum(r[4] for r in reading[1])
        return written

    def _hash_and_write(self, reading, whole, helpers, writing, out_fd, progress):
        """Hash a run that has been read and hand it to a helper to write (after the write
        before it is done, so the writes stay in order). Returns the write's future."""
        future, run = reading
        checkpoint("download-write")
        view = future.result()
        whole.update(view)
        if writing is not None:
            writing.result()  # errors surface here
        write = helpers.submit(_write_all, out_fd, view)
        if progress:
            progress(sum(r[4] for r in run))
        return write

    def find_damage(self, chunk_ids):
        """Raise IntegrityError naming the first chunk of ``chunk_ids`` that is missing,
        truncated or does not match its id (every chunk is read and hashed)."""
        for cid in dict.fromkeys(chunk_ids):
            self.read(cid)

    def _read_run(self, run, buffers, which):
        """The bytes of one run (unverified: see copy). Its stored bytes are read with one
        pread, into ``buffers[which]`` when every chunk is raw; compressed chunks are
        decompressed into a new buffer."""
        pack_name, first = run[0][1], run[0][2]
        length = run[-1][2] + run[-1][3] - first
        if all(r[5] == RAW for r in run):
            if length > len(buffers[which]):
                buffers[which] = bytearray(length)
            view = memoryview(buffers[which])[:length]
            if os.preadv(self.reader._fd(pack_name), [view], first) != length:
                raise _truncated(pack_name, first, length)
            return view
        stored = self.reader.read_stored(pack_name, first, length)
        where = f"pack {pack_name}"
        parts = []
        for cid, _pack, offset, stored_size, size, compression in run:
            piece = memoryview(stored)[offset - first:offset - first + stored_size]
            if compression == RAW:
                parts.append(piece)
            elif compression == ZSTD:
                parts.append(_decompress(piece, size, cid, where))
            else:
                raise IntegrityError(f"chunk {cid.hex()} in {where} has unknown compression {compression}")
        return memoryview(parts[0] if len(parts) == 1 else b"".join(parts))

    def _runs(self, chunk_ids):
        """Group chunks into runs: in one pack, back to back, at most RUN_BYTES stored and
        RUN_BYTES once decompressed."""
        run = []
        size_sum = 0
        for cid in chunk_ids:
            pack_name, offset, stored, size, compression = self._where(cid)
            item = (cid, pack_name, offset, stored, size, compression)
            if run and (
                run[-1][1] != pack_name or run[-1][2] + run[-1][3] != offset
                or offset + stored - run[0][2] > self.RUN_BYTES or size_sum + size > self.RUN_BYTES
            ):
                yield run
                run = []
                size_sum = 0
            run.append(item)
            size_sum += size
        if run:
            yield run

    def close(self):
        self.reader.close()


def read_pack_index(path):
    """(header bytes, index bytes, entries) recorded in a pack's own index."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = f.read(HEADER_SIZE)
        if size < HEADER_SIZE + FOOTER.size or not header.startswith(PACK_MAGIC):
            raise IntegrityError(f"{path} is not an artstore pack (bad header)")
        f.seek(size - FOOTER.size)
        count, index_offset, magic = FOOTER.unpack(f.read(FOOTER.size))
        if magic != INDEX_MAGIC or index_offset + count * INDEX_ENTRY.size + FOOTER.size != size:
            raise IntegrityError(f"{path} has a damaged index footer")
        f.seek(index_offset)
        raw = f.read(count * INDEX_ENTRY.size)
    entries = [INDEX_ENTRY.unpack_from(raw, i * INDEX_ENTRY.size) for i in range(count)]
    return header, raw, entries
