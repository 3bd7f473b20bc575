"""Logical-path validation (DESIGN.md invariant 5): one module decides, hostile paths fail."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artstore import InvalidInput
from artstore.paths import check_logical_path, check_unique, safe_join

GOOD = ["a", "a/b.txt", "data/train/0001.png", "é", "a b/c d", "x..y", ".hidden/f", "..a"]
BAD = [
    "", "/abs", "/", "../x", "a/../b", "a/..", "./a", "a/./b", "a//b", "a/", "C:/x", "c:x",
    "a\\b", "..\\x", "a\x00b", "a\nb", "x" * 256, "/".join(["d"] * 2100), "e\u0301",
]


@pytest.mark.parametrize("path", GOOD)
def test_valid_paths_pass(path):
    assert check_logical_path(path) == path


@pytest.mark.parametrize("path", BAD)
def test_hostile_paths_rejected(path):
    with pytest.raises(InvalidInput) as info:
        check_logical_path(path)
    assert "\n" not in str(info.value)


def test_non_string_rejected():
    with pytest.raises(InvalidInput):
        check_logical_path(b"a")


def test_duplicates_and_file_dir_clash_rejected():
    with pytest.raises(InvalidInput, match="twice"):
        check_unique(["a", "b", "a"])
    with pytest.raises(InvalidInput, match="directory"):
        check_unique(["a", "a/b"])
    check_unique(["a/b", "a/c", "ab"])
    with pytest.raises(InvalidInput, match="directory"):
        check_unique(["x/y/z", "x/y/w", "x/y"])  # a file named like a grandparent dir, seen after
    with pytest.raises(InvalidInput, match="directory"):
        check_unique(["x", "q/r", "x/y/z"])


@given(st.lists(st.lists(st.sampled_from("ab"), min_size=1, max_size=4).map("/".join), max_size=8))
def test_check_unique_refuses_exactly_the_clashes(candidates):
    """Compared with the definition: a duplicate, or a path that is a proper prefix
    directory of another."""
    clash = len(set(candidates)) != len(candidates) or any(
        q.startswith(p + "/") for p in candidates for q in candidates
    )
    if clash:
        with pytest.raises(InvalidInput):
            check_unique(candidates)
    else:
        check_unique(candidates)


hostile_parts = st.sampled_from(["..", ".", "", "/", "\\", "\x00", "C:", "..\\..", "a", "b", "e\u0301"])


@given(st.lists(hostile_parts, min_size=1, max_size=6).map("/".join))
def test_any_accepted_path_stays_inside_root(path):
    root = "/srv/dest"
    try:
        check_logical_path(path)
    except InvalidInput:
        return
    joined = os.path.normpath(safe_join(root, path))
    assert joined.startswith(root + os.sep)


_ident = st.one_of(st.integers(min_value=0, max_value=30).map(str),
                   st.text(alphabet="abAB-9", min_size=1, max_size=4).filter(lambda s: not s.isdigit()))
_semver_text = st.builds(
    lambda ma, mi, pa, pre, build: f"{ma}.{mi}.{pa}" + (f"-{'.'.join(pre)}" if pre else "")
    + (f"+{'.'.join(build)}" if build else ""),
    st.integers(0, 12), st.integers(0, 12), st.integers(0, 12),
    st.lists(_ident, max_size=3), st.lists(_ident, max_size=2),
)


@given(st.lists(_semver_text, min_size=2, max_size=12))
def test_version_key_orders_like_semantic_version(versions):
    """Listing versions sorts with names.version_key (no semantic_version import at start-up);
    it must order exactly as semantic_version.Version does, prereleases and all."""
    import semantic_version

    from artstore.names import version_key

    for a in versions:
        for b in versions:
            assert (version_key(a) < version_key(b)) == (semantic_version.Version(a) < semantic_version.Version(b))


@given(_semver_text)
def test_next_major_is_semantic_versions(text):
    """Logging without --version names the next major with names.next_major (no
    semantic_version import on the add path); it must equal Version.next_major()."""
    import semantic_version

    from artstore.names import next_major

    assert next_major(text) == str(semantic_version.Version(text).next_major())
    assert next_major("1.0.0-rc.1") == "1.0.0" and next_major("1.2.0-rc.1") == "2.0.0"


def test_nogc_pauses_the_collector_and_restores_it_even_on_error():
    import gc

    from artstore.nogc import nogc

    seen = []

    @nogc
    def work(fail):
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("boom")
        return "done"

    assert gc.isenabled()
    assert work(False) == "done"
    with pytest.raises(ValueError):
        work(True)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        work(False)
        assert not gc.isenabled(), "a collector the caller had turned off stays off"
    finally:
        gc.enable()
