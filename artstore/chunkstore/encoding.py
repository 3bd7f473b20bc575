"""A chunk's stored bytes: compressing under a store's mode (none, zstd, auto) and
decoding with the check of size and (by the caller) id."""


from ..errors import IntegrityError, InvalidInput
from ..unzstd import expand
from .format import RAW, ZSTD, chunk_id

# How a store compresses (config ``[storage] compression``); each chunk's index entry then
# records what was done to it (RAW or ZSTD). See docs/storage.rst, "Compression".
MODES = ("none", "zstd", "auto")
DEFAULT_LEVEL = 3
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

def _decompress(stored, size, cid, where):
    """The bytes of a zstd frame holding ``size`` bytes (unverified). A frame whose header
    declares more is refused before it is decompressed (artstore.unzstd)."""
    try:
        data = expand(stored, size)
    except ValueError as exc:
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
