"""The store's config file (INI): format version, chunking parameters, workspace, storage.

Chunking parameters are fixed when a store is created so that the same bytes always cut
into the same chunks, which is what makes dedup stable across versions.
"""

import configparser
import os

from .errors import IntegrityError, InvalidInput, NotFound

FORMAT_VERSION = 1
# Chosen by benchmarks/chunk_size.py (see docs/performance.rst): 64 KiB average.
DEFAULT_CHUNKING = {
    "algorithm": "fastcdc2020",
    "min_size": 16 * 1024,
    "avg_size": 64 * 1024,
    "max_size": 256 * 1024,
    "normalized_chunking": 1,
}
# New stores compress (docs/storage.rst, "Compression"; the level was chosen by
# benchmarks/realdata.py, see docs/performance.rst). A store written before compression
# became the default has ``compression = none`` in its config and keeps it; a config with
# no compression key at all reads as "none" too.
DEFAULT_STORAGE = {
    "compression": "auto",
    "compression_level": 3,
    "pack_target_size": 64 * 1024 * 1024,
    "gc_repack_threshold": 0.3,
}

REMOTE_GC_GRACE = 3600.0


class Config:
    def __init__(self, format_version, workspace, chunking, storage, parser):
        self.format_version = format_version
        self.workspace = workspace
        self.chunking = chunking
        self.storage = storage
        self.parser = parser

    def section(self, name):
        """A raw section as a dict (e.g. remote storage options), empty when absent."""
        return dict(self.parser[name]) if self.parser.has_section(name) else {}


def new_storage(storage=None):
    """The [storage] section of a new store: the defaults, overridden and checked."""
    storage = {**DEFAULT_STORAGE, **(storage or {})}
    check_compression(storage["compression"], storage["compression_level"], "the storage settings")
    return storage


def write_new(path, workspace, chunking=None, storage=None):
    chunking = {**DEFAULT_CHUNKING, **(chunking or {})}
    storage = new_storage(storage)
    problem = chunking_problem(chunking) or storage_problem(storage)
    if problem:
        raise InvalidInput(f"cannot create the store: {problem}")
    parser = configparser.ConfigParser(interpolation=None)  # values are literal: a workspace may hold "%"
    parser["store"] = {"format": str(FORMAT_VERSION), "workspace": workspace}
    parser["chunking"] = {k: str(v) for k, v in chunking.items()}
    parser["storage"] = {k: str(v) for k, v in storage.items()}
    _write(path, parser)


def _write(path, parser):
    """Write the config whole, durably, and rename it into place."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        parser.write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path):
    from . import safeio

    parser = configparser.ConfigParser(interpolation=None)  # values are literal: a workspace may hold "%"
    try:
        fd = safeio.open_regular(path)  # a FIFO or device in its place must not hang us
        with open(fd, encoding="utf-8") as f:
            parser.read_file(f)
    except NotFound:
        raise IntegrityError(f"the store config {path} is missing; restore it from a backup") from None
    except InvalidInput as exc:
        raise IntegrityError(f"the store config is unusable ({exc}); restore it from a backup") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise IntegrityError(f"the store config {path} is damaged ({first}); fix or restore it") from None
    try:
        version = int(parser["store"]["format"])
        workspace = parser["store"]["workspace"]
        raw = parser["chunking"]
        chunking = {
            "algorithm": raw.get("algorithm", "fastcdc2020"),
            "min_size": int(raw["min_size"]),
            "avg_size": int(raw["avg_size"]),
            "max_size": int(raw["max_size"]),
            "normalized_chunking": int(raw.get("normalized_chunking", "1")),
        }
        raw_storage = parser["storage"] if parser.has_section("storage") else {}
        storage = {
            "compression": raw_storage.get("compression", "none"),
            "compression_level": int(raw_storage.get("compression_level", DEFAULT_STORAGE["compression_level"])),
            "pack_target_size": int(raw_storage.get("pack_target_size", DEFAULT_STORAGE["pack_target_size"])),
            "gc_repack_threshold": float(
                raw_storage.get("gc_repack_threshold", DEFAULT_STORAGE["gc_repack_threshold"])
            ),
            # Seconds a remote gc waits between marking an object and deleting it; a push
            # that runs longer stops before it moves refs (docs/storage.rst, "Remote gc").
            "remote_gc_grace": float(raw_storage.get("remote_gc_grace", REMOTE_GC_GRACE)),
        }
    except (KeyError, ValueError) as exc:
        raise IntegrityError(
            f"the store config {path} is damaged (bad or missing value {exc}); fix or restore it"
        ) from None
    if version > FORMAT_VERSION:
        raise InvalidInput(
            f"this store has format {version}, newer than this artstore supports ({FORMAT_VERSION}); "
            "upgrade artstore"
        )
    check_compression(storage["compression"], storage["compression_level"], path)
    if chunking["algorithm"] != "fastcdc2020":
        raise InvalidInput(f"unknown chunking algorithm {chunking['algorithm']!r} in {path}")
    problem = chunking_problem(chunking) or storage_problem(storage)
    if problem:
        raise IntegrityError(f"the store config {path} is damaged ({problem}); fix or restore it")
    return Config(version, workspace, chunking, storage, parser)


# Remotes a store shares versions through (artstore remote add NAME URL). Only the URL is
# kept: credentials come from the backends' environment, never from this file.
REMOTE_SECTION = 'remote-store "{}"'


def remotes(config):
    """{name: url} of the configured remotes."""
    out = {}
    for section in config.parser.sections():
        if section.startswith('remote-store "') and section.endswith('"'):
            out[section[len('remote-store "'):-1]] = config.parser[section].get("url", "")
    return out


def set_remote(path, name, url):
    """Add remote ``name`` with ``url`` to the config file (rewritten atomically)."""
    _rewrite(path, lambda parser: parser.__setitem__(REMOTE_SECTION.format(name), {"url": url}))


def remove_remote(path, name):
    _rewrite(path, lambda parser: parser.remove_section(REMOTE_SECTION.format(name)))


def _rewrite(path, change):
    parser = configparser.ConfigParser(interpolation=None)
    with open(path) as f:
        parser.read_file(f)
    change(parser)
    _write(path, parser)


COMPRESSIONS = ("none", "zstd", "auto")


def check_compression(mode, level, where="the store config"):
    """Refuse an unknown compression mode or a zstd level outside 1..19."""
    if mode not in COMPRESSIONS:
        raise InvalidInput(f"unknown compression {mode!r} in {where}; use one of {', '.join(COMPRESSIONS)}")
    if not 1 <= int(level) <= 19:
        raise InvalidInput(f"compression level {level} in {where} is out of range; use 1 to 19")


# FastCDC 2020's bounds (pyfastcdc refuses values outside them with a ValueError).
CHUNK_BOUNDS = {"min_size": (64, 1 << 20), "avg_size": (256, 4 << 20), "max_size": (1024, 16 << 20)}


def chunking_problem(chunking):
    """What is wrong with chunking parameters, or None."""
    for key, (low, high) in CHUNK_BOUNDS.items():
        if not low <= chunking[key] <= high:
            return f"chunking {key} = {chunking[key]} is outside [{low}, {high}]"
    if not chunking["min_size"] <= chunking["avg_size"] <= chunking["max_size"]:
        return "chunking needs min_size <= avg_size <= max_size"
    if chunking["normalized_chunking"] not in (0, 1, 2, 3):
        return f"chunking normalized_chunking = {chunking['normalized_chunking']} is not 0, 1, 2 or 3"
    return None


def storage_problem(storage):
    if storage["pack_target_size"] < 1:
        return f"storage pack_target_size = {storage['pack_target_size']} is not positive"
    if storage.get("remote_gc_grace", 0) < 0:
        return f"storage remote_gc_grace = {storage['remote_gc_grace']} is negative"
    if not 0 <= storage["gc_repack_threshold"] <= 1:
        return f"storage gc_repack_threshold = {storage['gc_repack_threshold']} is outside [0, 1]"
    return None
