"""The ArtstoreError tree: one class per kind of failure, each with its CLI exit code.

The CLI prints ``str(error)`` as one line on stderr and exits with ``error.exit_code``;
library users catch the classes. The exit codes are the documented ones (user guide,
"Exit codes"): they are part of the command line's interface and do not change.
"""


class ArtstoreError(Exception):
    """Base class. ``exit_code`` 1 means an unexpected internal error."""

    exit_code = 1


class NotFound(ArtstoreError):
    """An artifact, version, alias, asset, path or store does not exist."""

    exit_code = 3


class Conflict(ArtstoreError):
    """The request contradicts what exists: version exists, immutable, destination differs."""

    exit_code = 4


class InvalidInput(ArtstoreError):
    """A name, version, logical path, metadata or option value is malformed."""

    exit_code = 5


class IntegrityError(ArtstoreError):
    """Stored data does not match its hash, or a store file is damaged."""

    exit_code = 6


class RemoteUnavailable(ArtstoreError):
    """A remote backend cannot be reached or refused the credentials."""

    exit_code = 7


class StoreLocked(ArtstoreError):
    """The store's lock or catalog could not be had within the bounded wait."""

    exit_code = 8


class ReadOnlyStore(ArtstoreError):
    """A write was asked of a store on read-only media or without write permission.

    Reading commands work on such a store; the exit codes have none for the environment, so
    this keeps exit code 1 with a message that is not an internal error."""

    exit_code = 1


class DiskError(ArtstoreError):
    """A write failed in the storage below the store (I/O error)."""

    exit_code = 1


class DiskFull(DiskError):
    """A write failed because the disk is full (ENOSPC / SQLite "database or disk is full")."""


class DestinationInStore(InvalidInput):
    """A download or other file writer was pointed into a store directory."""


def from_os_error(exc, doing):
    """The ArtstoreError for an OSError met while ``doing`` something (e.g. "writing
    /data/x"): a full disk and a read-only medium get their own classes and advice."""
    import errno

    detail = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"the disk is full ({detail}) while {doing}; free some space and run the command again")
    if exc.errno == errno.EROFS:
        return ReadOnlyStore(f"{doing} failed: the filesystem is read-only; choose a writable place")
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidInput(f"{doing} failed: a file name is too long for the filesystem; use shorter names")
    if exc.errno == errno.ELOOP:
        return InvalidInput(f"{doing} failed: too many levels of symlinks; give a path without a symlink loop")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return Conflict(f"{doing} failed: {detail}; something in the way is not what is needed there")
    if exc.errno == errno.ENOENT:
        return NotFound(f"{doing} failed: {detail}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ReadOnlyStore(f"{doing} failed: permission denied; check the permissions")
    return DiskError(f"{doing} failed ({detail}); check the disk and permissions")
