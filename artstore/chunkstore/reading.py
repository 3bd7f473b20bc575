"""Reading chunks back: PackReader reads one chunk (or its stored frame) from a pack,
ChunkSource streams a file's chunks, decoded and checked, to a descriptor."""

import itertools
import os

from ..errors import IntegrityError
from ..faults import checkpoint
from .encoding import _decompress, decode
from .format import RAW, ZSTD


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
