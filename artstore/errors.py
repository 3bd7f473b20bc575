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
