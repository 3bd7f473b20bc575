"""The remote format (docs/storage.rst, "Remote format"): where objects live and how the
records are encoded. Immutable objects are named by the BLAKE3 of their bytes (a pack by
that of its header and index, as locally); only refs change."""

import json
import uuid

import blake3

from ..errors import IntegrityError, InvalidInput

FORMAT = 1
FORMAT_KEY = "artstore-remote.json"
PACKS = "packs"
META = "meta"
VERSIONS = "versions"
REFS = "refs"
GC = "gc"


def pack_key(name):
    return f"{PACKS}/{name}.pack"


def index_key(name):
    return f"{PACKS}/{name}.idx"


def meta_key(name):
    return f"{META}/{name}.zst"


def version_key(version_id):
    return f"{VERSIONS}/{version_id}.json"


def ref_key(workspace, name):
    return f"{REFS}/{workspace}/{name}.json"


def marker_key(name):
    return f"{GC}/{name}"


def encode(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data, what):
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting no writer makes, which reached the CLI as "input nests too
        # deeply; simplify it" (exit 5), naming no object, as if the user had typed it.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise IntegrityError(f"remote object {what} is damaged ({reason}); run 'artstore verify --remote-store'") \
            from None
    if not isinstance(obj, dict):
        raise IntegrityError(f"remote object {what} is not a record; run 'artstore verify --remote-store'")
    return obj


def check_named(data, name, what):
    """An immutable object's bytes must hash to its name."""
    if blake3.blake3(data).hexdigest() != name:
        raise IntegrityError(f"remote object {what} does not match its name (damaged or tampered with)")


def format_record():
    """A new remote's format record. Its random ``id`` tells this remote from one made
    again later at the same URL (a prefix wiped and pushed to afresh): label bases are
    kept per remote id (sync/labels.py). Remotes made before it have none."""
    return encode({"artstore_remote_format": FORMAT, "id": uuid.uuid4().hex})


def check_format(data, url):
    """The remote's id (None for a remote made before ids) from its format record, once
    the record is checked."""
    record = decode(data, FORMAT_KEY)
    fmt = record.get("artstore_remote_format")
    remote_id = record.get("id")
    if not isinstance(fmt, int) or not (remote_id is None or isinstance(remote_id, str)):
        raise IntegrityError(f"{url} has a damaged {FORMAT_KEY}")
    if fmt > FORMAT:
        raise InvalidInput(f"{url} has remote format {fmt}, newer than this artstore understands ({FORMAT}); "
                           "upgrade artstore")
    return remote_id
