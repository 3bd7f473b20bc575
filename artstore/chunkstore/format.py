"""The pack format: its constants, a chunk's id, a pack's name, reading a pack's own index
(the layout is in the package's docstring and docs/storage.rst)."""

import os
import struct

import blake3

from ..errors import IntegrityError

PACK_MAGIC = b"ARTPACK\x01"
HEADER_SIZE = len(PACK_MAGIC) + 16
INDEX_MAGIC = b"ARTPIDX\x01"
INDEX_ENTRY = struct.Struct("<32sQIIB")
FOOTER = struct.Struct("<IQ8s")
RAW = 0
ZSTD = 1


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

def pack_name(header, index):
    """A pack's name: BLAKE3 of its header and index. The index lists the BLAKE3 id of every
    chunk, so the name commits to the pack's content the way a git tree's hash commits to
    its blobs, without a second pass over the data."""
    return blake3.blake3(header + index).hexdigest()

def overhead(entries):
    """Bytes of a pack that are not chunk data: header, index and footer."""
    return HEADER_SIZE + entries * INDEX_ENTRY.size + FOOTER.size

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
    entries = list(INDEX_ENTRY.iter_unpack(raw))  # count entries exactly: the footer check above
    return header, raw, entries
