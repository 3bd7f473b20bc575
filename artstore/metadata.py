"""Metadata: the one place that decides what a JSON metadata value may be, on the way in
(every API call, CLI flag and --metadata file goes through :func:`check_metadata`) and on
the way out (readers parse stored text with :func:`load_stored`).

Rules (docs/userguide.rst): a JSON object; keys are strings; values are null, booleans,
numbers, strings, lists and objects, nested at most ``MAX_DEPTH`` levels (the object
itself is level 1); no NaN or Infinity (not JSON); strings are valid Unicode (no lone
surrogates, which undecodable bytes on a command line become).
"""

import json
import math

from .errors import IntegrityError, InvalidInput

MAX_DEPTH = 100
# An asset's metadata goes into its manifest entry, which may take at most
# tree.node.MAX_ENTRY_CHARS (4 Mi) characters; this leaves room for the path, URI and
# identity beside it, and refuses too much when the asset is added, not at the commit.
MAX_ASSET_CHARS = (4 << 20) - (64 << 10)
_SCALARS = (str, int, float, bool, type(None))


def _dumps(obj):
    from .catalog import dumps

    return dumps(obj)


def _bad_text(value):
    try:
        value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def check_value(value, what="metadata"):
    """Raise InvalidInput unless ``value`` is JSON within the rules above (iteratively:
    a deep value must not exhaust Python's stack while it is checked). Messages name the
    top-level key the bad value is under."""
    stack = [(value, 1, what)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > MAX_DEPTH:
                raise InvalidInput(f"{where} nests deeper than {MAX_DEPTH} levels; flatten it")
            if isinstance(item, dict):
                for key, sub in item.items():
                    if isinstance(key, str):
                        if _bad_text(key):
                            raise InvalidInput(f"{where}: key {key!r} is not valid Unicode (undecodable bytes)")
                    elif not isinstance(key, (int, float, bool, type(None))) or (
                        isinstance(key, float) and not math.isfinite(key)
                    ):
                        raise InvalidInput(f"{where}: key {key!r} is not a string")
                    stack.append((sub, depth + 1, f"{what} key {key!r}" if depth == 1 else where))
            else:
                stack.extend((sub, depth + 1, where) for sub in item)
        elif isinstance(item, str):
            if _bad_text(item):
                raise InvalidInput(f"{where}: value {item!r} is not valid Unicode (undecodable bytes)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{where} holds {item!r}, which JSON cannot represent; use a string or null")
        elif not isinstance(item, _SCALARS):
            raise InvalidInput(f"{where} holds a {type(item).__name__}, which is not JSON-serialisable")


def check_metadata(metadata, what="metadata", max_chars=None):
    """Metadata is a JSON object; returns its canonical JSON text (at most ``max_chars``
    characters of it, if given)."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{what} must be a JSON object (a dict), not {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str):
            raise InvalidInput(f"{what} key {key!r} is not a string")
    check_value(metadata, what)
    try:
        text = _dumps(metadata)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} is not JSON-serialisable ({exc})") from None
    if max_chars is not None and len(text) > max_chars:
        raise InvalidInput(f"{what} takes {len(text):,} characters of JSON, more than the {max_chars:,} an "
                           "asset's metadata may take; put large data in a file")
    return text


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_text(text, what):
    """Parse JSON given by a user (a --metadata file): strict, bounded, else InvalidInput."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"{what} nests deeper than {MAX_DEPTH} levels; flatten it") from None
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON ({str(exc).splitlines()[0]})") from None
    check_value(value, what)
    return value


def parse_cli_value(text, what):
    """A --meta VALUE: JSON if it is strict JSON (so NaN stays the string 'NaN'), else the
    string itself; nesting beyond the limit is refused."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"{what} nests deeper than {MAX_DEPTH} levels; flatten it") from None
    except ValueError:
        value = text
    check_value(value, what)
    return value


def depth(value):
    """Nesting depth of a parsed JSON value (iterative)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in item)
    return deepest


def load_stored(text, what, kind=dict):
    """Parse metadata (or another JSON field) read from the catalog. Damage is an
    IntegrityError naming ``what``; NaN or Infinity stored by older releases come back as
    the strings 'NaN', 'Infinity', so that output stays strict JSON."""
    try:
        value = json.loads(text, parse_constant=str)
    except (TypeError, ValueError, RecursionError):
        raise IntegrityError(f"{what} is damaged in the catalog (not valid JSON); run 'artstore verify'") from None
    if kind is not None and not isinstance(value, kind):
        raise IntegrityError(
            f"{what} is damaged in the catalog (a {type(value).__name__}, not a JSON object); run 'artstore verify'"
        )
    if depth(value) > MAX_DEPTH:
        raise IntegrityError(
            f"{what} nests deeper than {MAX_DEPTH} levels (stored by an older artstore) and cannot be shown; "
            "'artstore verify' lists such versions"
        )
    return value
