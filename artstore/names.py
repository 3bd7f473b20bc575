"""Validation of artifact names, workspaces, aliases, tags, versions and references.

Rules (docs/userguide.rst repeats them):

- names, workspaces, aliases and tags: 1-128 characters, no '/', ':' or control
  characters, no leading or trailing whitespace;
- an alias may not look like a version number (``1.2.3``), since ``name:1.2.3`` must be
  unambiguous, and ``latest`` is set by artstore alone;
- versions are semantic versions (``MAJOR.MINOR.PATCH[-pre][+build]``);
- a reference is ``[workspace/]name[:version_or_alias]``.
"""

import re

from .errors import InvalidInput


def _semver():
    # semantic_version is imported on first use: its import reads package metadata
    # (~30 ms), which commands that only list versions do not need (see version_key).
    import semantic_version

    return semantic_version

MAX_NAME = 128
_BAD = re.compile(r"[/:\x00-\x1f\x7f]")


def check_name(value, what="name"):
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value) > MAX_NAME:
        raise InvalidInput(f"{what} {value!r} must be 1 to {MAX_NAME} characters long")
    if _BAD.search(value):
        raise InvalidInput(f"{what} {value!r} may not contain '/', ':' or control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{what} {value!r} is not valid Unicode (bytes that are not UTF-8); use UTF-8 text"
        ) from None
    if value != value.strip():
        raise InvalidInput(f"{what} {value!r} may not start or end with whitespace")
    return value


def check_workspace(value):
    """A workspace name: a name, and not '.' or '..', which on a remote are the folder
    refs/<workspace>/ itself or its parent (a push of workspace '..' wrote its refs beside
    refs/, where no pull looks: 'pushed 1 version', and a clone got none)."""
    check_name(value, "workspace")
    if value in (".", ".."):
        raise InvalidInput(f"workspace {value!r} cannot be shared through a remote; choose a name other than "
                           "'.' and '..'")
    return value


def check_text(value, what):
    """A free-text string (a URI, a project name, an asset type): valid Unicode, no NUL."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} {value!r} is not valid Unicode (bytes that are not UTF-8)") from None
    if "\x00" in value:
        raise InvalidInput(f"{what} {value!r} contains a NUL character")
    return value


def check_alias(alias, allow_latest=False):
    check_name(alias, "alias")
    if alias == "latest" and not allow_latest:
        raise InvalidInput("the alias 'latest' is set automatically to the highest version; choose another")
    if _semver().validate(alias):
        raise InvalidInput(f"alias {alias!r} looks like a version number; choose a name that is not one")
    return alias


def check_tags(tags):
    """A sorted list of distinct, valid tags."""
    return sorted({check_name(t, "tag") for t in tags})


def parse_version(value):
    """A semantic_version.Version from a string or Version, else InvalidInput."""
    semantic_version = _semver()
    if isinstance(value, semantic_version.Version):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"version must be a string like '1.2.0', not {type(value).__name__}")
    try:
        return semantic_version.Version(value)
    except ValueError:
        raise InvalidInput(f"version {value!r} is not a semantic version such as '1.2.0'") from None


def is_version(value):
    return bool(_semver().validate(value))


_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")
SEMVER = _SEMVER
_NO_PRERELEASE = ((2, b""),)  # sorts after every prerelease, as SemVer says


def version_key(text):
    """The SemVer precedence of a stored version string, as a sort key equal in order to
    semantic_version.Version's (build metadata ignored), without importing it."""
    match = _SEMVER.fullmatch(text)
    if match is None:
        return (-1, -1, -1, ((-1, text.encode()),))  # not stored by artstore; sorts first
    major, minor, patch, pre = match.groups()
    if pre is None:
        pre_key = _NO_PRERELEASE
    else:
        # Numeric identifiers compare as numbers and before alphanumeric ones (ASCII order).
        pre_key = tuple((0, int(part)) if part.isdigit() else (1, part.encode()) for part in pre.split("."))
    return (int(major), int(minor), int(patch), pre_key)


def next_major(text):
    """semantic_version.Version(text).next_major() as a string, without importing it: the
    next major version, or x.0.0 for a prerelease of x.0.0. The latest version of an
    artifact is stored SemVer text; anything else starts again at 1.0.0."""
    match = _SEMVER.fullmatch(text)
    if match is None:
        return "1.0.0"
    major, minor, patch, pre = match.groups()
    if pre is not None and minor == patch == "0":
        return f"{major}.0.0"
    return f"{int(major) + 1}.0.0"


def parse_ref(ref):
    """Split '[workspace/]name[:version_or_alias]' into (workspace or None, name, v_or_a or None)."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("artifact reference is empty; use NAME, NAME:VERSION or WORKSPACE/NAME:ALIAS")
    workspace, rest = (ref.split("/", 1) if "/" in ref else (None, ref))
    name, version_or_alias = (rest.split(":", 1) if ":" in rest else (rest, None))
    if workspace is not None:
        check_name(workspace, "workspace")
    check_name(name, "artifact name")
    if version_or_alias is not None:
        if not version_or_alias:
            raise InvalidInput(f"reference {ref!r} has an empty version or alias after ':'")
        check_name(version_or_alias, "version or alias")
    return workspace, name, version_or_alias
