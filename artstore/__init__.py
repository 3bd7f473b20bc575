"""artstore: a Git-like, content-addressed artifact store for ML data and models.

The Python API follows Comet ML's Artifacts API: ``from artstore import Artifact,
Experiment`` and code written for Comet runs offline against a local store.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    ArtstoreError,
    Conflict,
    DestinationInStore,
    DiskFull,
    IntegrityError,
    InvalidInput,
    NotFound,
    ReadOnlyStore,
    RemoteUnavailable,
    StoreLocked,
)

# The heavy parts load on first use, so that `artstore --version` starts fast.
_LAZY = {
    "Store": "store",
    "Artifact": "api",
    "Experiment": "api",
    "LoggedArtifact": "api",
    "ArtifactAsset": "api",
    "LoggedArtifactAsset": "api",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'artstore' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ArtifactAsset",
    "Artifact",
    "ArtstoreError",
    "Conflict",
    "DestinationInStore",
    "DiskFull",
    "Experiment",
    "IntegrityError",
    "InvalidInput",
    "LoggedArtifact",
    "LoggedArtifactAsset",
    "NotFound",
    "ReadOnlyStore",
    "RemoteUnavailable",
    "Store",
    "StoreLocked",
    "__version__",
]
