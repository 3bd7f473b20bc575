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
This package knows nothing of the catalog: it moves bytes and checks hashes (format:
constants, names and a pack's own index; encoding; writing; reading).
"""

from .encoding import _MIN_SAVING, DEFAULT_LEVEL, MODES, Encoder, decode
from .format import (
    FOOTER,
    HEADER_SIZE,
    INDEX_ENTRY,
    INDEX_MAGIC,
    PACK_MAGIC,
    RAW,
    ZSTD,
    chunk_id,
    fsync_dir,
    overhead,
    pack_name,
    read_pack_index,
)
from .reading import ChunkSource, PackReader
from .writing import TMP_PREFIX, PackWriter, SealedPack, _PackFileWorker, uncommitted

__all__ = ["DEFAULT_LEVEL", "FOOTER", "HEADER_SIZE", "INDEX_ENTRY", "INDEX_MAGIC", "MODES", "PACK_MAGIC", "RAW",
           "TMP_PREFIX", "ZSTD", "ChunkSource", "Encoder", "PackReader", "PackWriter", "SealedPack",
           "_MIN_SAVING", "_PackFileWorker", "chunk_id", "decode", "fsync_dir", "overhead", "pack_name",
           "read_pack_index", "uncommitted"]
