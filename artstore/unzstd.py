"""Decompressing zstd frames read back from storage without trusting their headers.

zstandard sizes its output from the content size a frame's header declares and, when one
is declared, ignores ``max_output_size``: a 6 KB frame declaring 200 MB of zeros was
decompressed whole, and one declaring terabytes failed to allocate (an "internal error").
A remote is written by other people's machines, so every frame that stores or remotes
hand back (manifest nodes, metadata bundles, chunks: chunkstore.encoding) is held to a
size before anything is allocated for it.
"""

import threading

_local = threading.local()
_zstd = None  # the zstandard module, imported on first use: listing versions must not pay for it


def _module():
    global _zstd
    if _zstd is None:
        import zstandard

        _zstd = zstandard
    return _zstd


def _decompressor():
    dctx = getattr(_local, "dctx", None)
    if dctx is None:  # one per thread: a context is ~100 KiB to set up and not thread-safe
        dctx = _local.dctx = _module().ZstdDecompressor()
    return dctx


def declared_size(frame):
    """The content size ``frame``'s header declares, None if it declares none; ValueError
    if it has no zstd frame header."""
    zstd = _zstd or _module()
    try:
        size = zstd.frame_content_size(frame)
    except zstd.ZstdError as exc:
        raise ValueError(f"not a zstd frame: {exc}") from None
    return None if size < 0 else size


def expand(frame, limit):
    """The bytes of the zstd ``frame``, at most ``limit`` of them: ValueError if its header
    declares more (before any is allocated) or, declaring none, it holds more."""
    size = declared_size(frame)
    if size is not None and size > limit:
        raise ValueError(f"it would expand to {size:,} bytes, more than the {limit:,} it may hold")
    try:
        return _decompressor().decompress(frame, max_output_size=limit)
    except Exception as exc:  # zstd's own error type, imported lazily
        raise ValueError(str(exc)) from None
