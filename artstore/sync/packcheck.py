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


def _checked_by_child(path, name, index):
    """True if a child process found the pack good; IntegrityError if it found it
    damaged; False if it could not tell (then the caller checks here)."""
    if not sys.executable:  # an embedding interpreter: no python to start
        return False
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, root, path, name], input=index,
                              capture_output=True, check=False)
    except OSError:
        return False
    if done.stdout != _VERDICT % done.returncode:
        return False
    if done.returncode == 0:
        return True
    if done.returncode == _DAMAGED:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise IntegrityError(message[-1] if message else f"pack {name} is damaged")
    return False


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
