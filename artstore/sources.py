"""What a new version is made of: the kinds of sources ``Store.log`` takes (a file on
disk, bytes, a file already stored, a remote reference, a file this store downloaded)."""

import collections
import types

# What ingest needs of a stat result (os.stat_result is several times larger; 100,000 of
# them cost tens of megabytes while a large directory is added).
FileStat = collections.namedtuple("FileStat", "st_size st_mtime_ns st_ctime_ns st_ino st_dev")


def file_stat(st):
    return FileStat(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


# The metadata of a source given none: one shared, read-only empty mapping (a walk of a
# million files made a million empty dicts).
NO_METADATA = types.MappingProxyType({})


class LocalFile:
    """A file on disk to be stored under ``logical_path``."""

    __slots__ = ("os_path", "logical_path", "metadata", "asset_type", "stat_result")

    def __init__(self, os_path, logical_path, metadata=None, asset_type=None, stat_result=None):
        self.os_path = os_path
        self.logical_path = logical_path
        self.metadata = metadata or NO_METADATA
        self.asset_type = asset_type
        self.stat_result = stat_result


class InMemory:
    """Bytes or a binary file-like object to be stored under ``logical_path``."""

    def __init__(self, data, logical_path, metadata=None, asset_type=None):
        self.data = data
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type


class StoredFile:
    """A file already in the store (from a downloaded version): nothing to read."""

    def __init__(self, digest, size, logical_path, metadata=None, asset_type=None):
        self.digest = digest
        self.size = size
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type


class RemoteRef:
    """A remote asset: a URI with the identity that pins it (None for an opaque reference)."""

    def __init__(self, uri, logical_path, size=0, identity=None, metadata=None, asset_type=None):
        self.uri = uri
        self.logical_path = logical_path
        self.size = size
        self.identity = identity
        self.metadata = metadata or {}
        self.asset_type = asset_type


class DownloadedFile:
    """A file this store downloaded: stored again through the stat cache if it is still on
    disk (so an unchanged file is not read, an edited one is), else by its recorded digest."""

    def __init__(self, os_path, digest, size, logical_path, metadata=None, asset_type=None):
        self.os_path = os_path
        self.digest = digest
        self.size = size
        self.logical_path = logical_path
        self.metadata = metadata or {}
        self.asset_type = asset_type
