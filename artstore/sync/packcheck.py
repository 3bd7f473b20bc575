"""The check of a local pack before push sends it: every chunk read and compared with its
id, so that damage on this disk never spreads to a remote (where a teammate's later push
would skip the good copy of those chunks, since the remote already "has" them).

A pack of many small chunks is checked by a child process (this module's ``_main``,
given the pack's path and name, and its header and index on stdin): the check
hashes each chunk in Python, and in the pushing process that held the GIL against the
upload threads beside it (100,000 small files: the upload phase 1.1 s with the check
in-process, 0.77 s without one, 0.6 s for the raw upload). A child that cannot be
started, or ends in any way but "good" or "damaged", is not trusted either way: the
pack is then checked here.
"""

import mmap
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from .. import chunkstore
from ..errors import IntegrityError

# Packs with at least this many chunks are checked by a child process (when there is a
# core for it); for fewer the ~40 ms start of a Python process costs more than the GIL
# it frees.
CHILD_MIN_CHUNKS = 4096
_DAMAGED = 3  # the child's exit status for a damaged pack; its stderr holds the message
# What the child prints when it ran the check to the end: an exit status alone may come
# from a sys.executable that is no python (an embedding program, a wrapper) and ran nothing.
_VERDICT = b"artstore-packcheck %d\n"
CHECK_BATCH = 16 << 20  # decompressed bytes per batch of a pack check (bounds its memory)


def check_pack(pack_dir, pack, index=None):
    """Check a local pack (a SealedPack of ``pack_dir``) against its entries; raises
    IntegrityError naming the first damaged chunk. ``index``: the pack's header and index
    bytes, which a child process checks against (its entries are exactly those)."""
    path = os.path.join(pack_dir, pack.name + ".pack")
    if (index is not None and pack.count >= CHILD_MIN_CHUNKS and _cores() > 1
            and _checked_by_child(path, pack.name, index)):
        return
    check_file(path, pack.entries, pack.name)


# The child's program: its own folder ('' for -c) is dropped from the path, so a folder
# named artstore where the push runs is never imported (under PYTHONSAFEPATH there is no
# '' and the first entry is a PYTHONPATH folder, which stays); the folder this artstore came
# from is a last resort (an editable install or PYTHONPATH finds it first).
_CHILD = ("import sys; sys.path[:1] = [] if sys.path[:1] == [''] else sys.path[:1]; "
          "sys.path.append(sys.argv.pop(1)); "
          "from artstore.sync.packcheck import _main; sys.exit(_main(sys.argv[1:]))")


def _cores():
    return os.cpu_count() or 1


def _checked_by_child(path, name, index, started=None):
    """True if a child process found the pack good; IntegrityError if it found it
    damaged; False if it could not tell (then the caller checks here). ``started(child)``
    is told of the child before it is waited for (EarlyChecks kills it when not needed)."""
    if not sys.executable:  # an embedding interpreter: no python to start
        return False
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, root, path, name], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError:
        return False
    with child:
        if started is not None:
            started(child)
        try:
            out, err = child.communicate(index)
        except OSError:  # its stdin closed early: it ended, or was killed
            child.kill()
            return False
    if out != _VERDICT % child.returncode:
        return False
    if child.returncode == 0:
        return True
    if child.returncode == _DAMAGED:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise IntegrityError(message[-1] if message else f"pack {name} is damaged")
    return False


class EarlyChecks:
    """Child-process checks of local packs, started before a push has planned what it
    sends. The planning runs on one core (it holds the GIL); the other is idle until the
    uploads begin, while the check of a pack of small chunks takes a child most of a
    second (70 MB of 87,000 chunks: 0.75 s), so it used to finish after the upload it
    guards. Started for the packs a push probably sends whole (push decides which); a pack
    it does send waits here for its check, which counts only if it was made against the
    same index; the others are cancelled, their children killed, at ``close``."""

    def __init__(self, pack_dir, names):
        self.pack_dir = pack_dir
        self._children = set()
        self._lock = threading.Lock()
        self._closed = False
        names = list(names) if _cores() > 1 else []  # one core: no children (check_pack's rule too)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="artstore-early-check") if names else None
        self._jobs = {name: self._pool.submit(self._run, name) for name in names}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _run(self, name):
        """(the header and index checked against, None if good or the IntegrityError if
        damaged); (None, None) when the child could not tell."""
        path = os.path.join(self.pack_dir, name + ".pack")
        try:
            header, index, _entries = chunkstore.read_pack_index(path)
        except (OSError, IntegrityError):
            return None, None  # the push's own check reads and names it
        try:
            good = _checked_by_child(path, name, header + index, self._started)
        except IntegrityError as damaged:
            return header + index, damaged
        return (header + index, None) if good else (None, None)

    def _started(self, child):
        with self._lock:
            if not self._closed:
                self._children.add(child)
                return
        child.kill()

    def check(self, pack, index):
        """What check_pack does for ``pack`` (a SealedPack) and its header and ``index``
        bytes, using the early check of that pack when there is one."""
        job = self._jobs.get(pack.name)
        if job is not None:
            checked, damaged = job.result()
            if checked is not None and checked == index:
                if damaged is not None:
                    raise damaged
                return
        check_pack(self.pack_dir, pack, index)

    def close(self):
        """Cancel the checks not started and kill the children still running."""
        with self._lock:
            self._closed = True
            children = list(self._children)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for child in children:
            child.kill()


def check_file(path, entries, name):
    """Check the pack file at ``path`` against ``entries`` (id, offset, stored, size,
    compression), in this process."""
    with open(path, "rb") as f:
        try:  # mapped, not read: a 64 MiB read cost 0.04 s (more beside an upload), a map 3 ms
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            data = f.read()  # one read, not one pread per chunk (20,000 small files)
    # Not closed here: an error's traceback may still hold views of it; freed with them.
    check_frames(data, entries, f"pack {name}")


def check_frames(data, entries, where):
    """Check the stored frames ``entries`` ((id, offset, stored, size, compression)) of
    ``data`` against their ids. The zstd frames are decompressed a batch at a time by one
    call that releases the GIL once: one call per chunk released and re-took it per chunk,
    and beside an upload each re-take waited for the uploading thread (100,000 small
    chunks: 1.5 s instead of 0.5 s). Any failure is looked at again chunk by chunk
    (chunkstore.decode), which names the damaged chunk."""
    import struct

    import blake3
    import zstandard

    multi = getattr(zstandard.ZstdDecompressor(), "multi_decompress_to_buffer", None)
    view = memoryview(data)
    zstd = [e for e in entries if e[4] == chunkstore.ZSTD]
    others = [e for e in entries if e[4] != chunkstore.ZSTD]
    start = 0
    while start < len(zstd):
        end, total = start, 0
        while end < len(zstd) and total < CHECK_BATCH:
            total += zstd[end][3]
            end += 1
        part, start = zstd[start:end], end
        try:
            out = multi(zstandard.BufferWithSegments(
                data, struct.pack(f"={2 * len(part)}Q", *[x for e in part for x in (e[1], e[2])])),
                decompressed_sizes=struct.pack(f"={len(part)}Q", *[e[3] for e in part]))
            ok = len(out) == len(part) and all(
                len(seg) == e[3] and blake3.blake3(seg).digest() == e[0] for e, seg in zip(part, out, strict=True))
        except Exception:  # zstd's own error, a frame past the end, no multi (cffi backend)
            ok = False
        if not ok:
            others += part
    for cid, offset, stored, size, compression in others:
        chunkstore.decode(view[offset:offset + stored], size, compression, cid, where)


def _main(argv):
    """The child: ``PACK NAME`` with the pack's header and index bytes on stdin. Exit 0:
    every chunk good; 3: damaged (the message on stderr); anything else: not checked."""
    path, name = argv
    index = sys.stdin.buffer.read()
    body = index[chunkstore.HEADER_SIZE:]
    if len(body) % chunkstore.INDEX_ENTRY.size:
        return 2
    entries = list(chunkstore.INDEX_ENTRY.iter_unpack(body))
    try:
        check_file(path, entries, name)
    except IntegrityError as exc:
        print(str(exc), file=sys.stderr)
        sys.stdout.buffer.write(_VERDICT % _DAMAGED)
        return _DAMAGED
    sys.stdout.buffer.write(_VERDICT % 0)
    return 0
