"""Validation of catalog records as they are read back (DESIGN.md invariant 6 for the
catalog): every field a command parses is checked here, by the reading command itself
(a damaged field is an IntegrityError, exit 6, never an internal error) and by
``verify`` (which names the versions).

A catalog is trusted for its structure (SQLite's quick_check), not for its values: a
flipped byte, a hand edit or an older release may have left any text in a column.
"""

from datetime import datetime

from . import metadata as metadata_mod
from . import names
from .errors import IntegrityError, InvalidInput

DIGEST_SIZE = 32


def _damaged(where, field, detail):
    return IntegrityError(f"{where}: its {field} is damaged in the catalog ({detail}); run 'artstore verify'")


def where_of(art, vrow):
    """A printable name for a version whose fields may be damaged."""
    return f"{art['workspace']}/{art['name']}:{vrow['version']!r}".replace("'", "")


def check_version_string(text, where):
    if not isinstance(text, str) or names._SEMVER.fullmatch(text) is None:
        raise _damaged(where, "version number", f"{text!r} is not a semantic version")
    return text


def created_at(text, where):
    """The creation time of a version as an aware datetime."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise _damaged(where, "creation time", f"{str(text)[:40]!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise _damaged(where, "creation time", f"{text!r} has no time zone")
    return value


def count(value, where, field):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _damaged(where, field, f"{value!r} is not a whole number of at least 0")
    return value


def digest(value, where, field="file digest", optional=True):
    if value is None and optional:
        return value
    if not isinstance(value, bytes) or len(value) != DIGEST_SIZE:
        raise _damaged(where, field, f"not a {DIGEST_SIZE}-byte digest")
    return value


def asset_id(value, where, path):
    """An asset id kept from before schema 3 (asset_ids): text, as every id is. A blob or
    number there was shown as "b'...'" by show --json and passed verify."""
    if not isinstance(value, str) or not value:
        raise _damaged(where, f"asset id of {path!r}", f"{str(value)[:40]!r} is not text")
    return value


def manifest_digest(text, where):
    """A version's manifest digest (hex text in the catalog) as the 32 bytes of its root
    node: every reader of a tree starts here, so a damaged one is exit 6 naming the
    version, not a ValueError from bytes.fromhex."""
    try:
        value = bytes.fromhex(text)
    except (TypeError, ValueError):
        value = None
    if value is None or len(value) != DIGEST_SIZE:
        raise _damaged(where, "manifest digest", f"{str(text)[:80]!r} is not a {DIGEST_SIZE}-byte hex digest")
    return value


def chunk_list(blob, size, where):
    """A file row's (size, chunk-list blob), checked."""
    count(size, where, "file size")
    if not isinstance(blob, bytes) or len(blob) % DIGEST_SIZE:
        raise _damaged(where, "chunk list", f"its length is not a multiple of {DIGEST_SIZE}")
    return blob


def version_metadata(text, where):
    return metadata_mod.load_stored(text, f"{where}: the version metadata")


def asset_metadata(text, where, path):
    return metadata_mod.load_stored(text, f"{where}: the metadata of {path!r}")


def remote_identity(text, where, path):
    if text is None:
        return None
    return metadata_mod.load_stored(text, f"{where}: the remote identity of {path!r}")


def check_version(vrow, where):
    """Every field of a version row a reader parses; returns its metadata."""
    check_version_string(vrow["version"], where)
    created_at(vrow["created_at"], where)
    count(vrow["size"], where, "size")
    count(vrow["asset_count"], where, "asset count")
    return version_metadata(vrow["metadata"], where)


def check_label(value, where, what):
    try:
        return names.check_name(value, what)
    except InvalidInput as exc:
        raise _damaged(where, what, str(exc)) from None
