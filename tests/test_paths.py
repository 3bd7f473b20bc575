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
