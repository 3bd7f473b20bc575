"""The C read-ahead of small files (artstore/_readahead.c, artstore/readahead.py): it reads
and hashes exactly what the Python path would, and leaves every file that is not as the
walk saw it to the Python path, whose errors apply."""

import os
import shutil
import stat
import sysconfig
import time

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artstore import Store, readahead
from artstore.errors import Conflict, InvalidInput
from artstore.sources import LocalFile, file_stat
from artstore.walking import sources_for_path

built = pytest.mark.skipif(not readahead.available(), reason="the C extension was not built (no C compiler)")

_readahead = readahead._readahead


def _read(paths):
    stats = [file_stat(os.stat(p, follow_symlinks=False)) for p in paths]
    return stats, _readahead.read_small([str(p) for p in paths], stats)


def _can_compile():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    return shutil.which(compiler) is not None and os.path.exists(headers)


@pytest.mark.skipif(not _can_compile(), reason="no C compiler or no Python headers: the extension is optional")
def test_extension_is_built_where_a_compiler_is():
    # The extension is optional, so a failed build only warns: with a compiler present it
    # must have been built, or every other test here would test only the Python path.
    assert readahead.available()


@built
@settings(max_examples=60, deadline=None)
@given(contents=st.lists(st.one_of(
    st.binary(max_size=70_000),
    st.sampled_from([0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 4096, 16383, 65536]).map(
        lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256)),
), min_size=1, max_size=20))
def test_reads_and_digests_match_python(tmp_path_factory, contents):
    folder = tmp_path_factory.mktemp("files")
    paths = []
    for i, data in enumerate(contents):
        path = folder / f"f{i}"
        path.write_bytes(data)
        paths.append(path)
    _stats, (datas, digests) = _read(paths)
    assert datas == contents
    assert [digests[32 * i:32 * i + 32] for i in range(len(contents))] == [
        blake3.blake3(d).digest() for d in contents]


@built
def test_files_not_as_walked_are_left_to_the_caller(tmp_path):
    names = ["same", "grown", "touched", "replaced", "deleted", "dir", "fifo", "symlinked"]
    paths = [tmp_path / n for n in names]
    for p in paths:
        p.write_bytes(b"x" * 100)
    stats = [file_stat(os.stat(p)) for p in paths]
    with open(paths[1], "ab") as f:  # grew since the walk
        f.write(b"y")
    os.utime(paths[2], ns=(0, stats[2].st_mtime_ns + 1_000_000_000))  # same size, new mtime
    (tmp_path / "new").write_bytes(b"z" * 100)  # same size, another inode
    os.replace(tmp_path / "new", paths[3])
    paths[4].unlink()
    paths[5].unlink()
    paths[5].mkdir()
    paths[6].unlink()
    os.mkfifo(paths[6])  # opened non-blocking: refused on its fstat, never read
    (tmp_path / "target").write_bytes(b"x" * 100)
    paths[7].unlink()
    paths[7].symlink_to(tmp_path / "target")
    if os.path.exists("/proc/self/status"):  # a regular file whose size (0) is not its length
        paths.append("/proc/self/status")
        stats.append(file_stat(os.stat(paths[-1])))
        assert stats[-1].st_size == 0
    datas, digests = _readahead.read_small([str(p) for p in paths], stats)
    assert datas[0] == b"x" * 100 and digests[:32] == blake3.blake3(b"x" * 100).digest()
    assert datas[1:] == [None] * (len(paths) - 1)
    assert digests[32:] == bytes(32 * (len(paths) - 1))
    assert stat.S_ISFIFO(os.stat(paths[6]).st_mode)


@built
def test_bad_arguments_are_errors_not_crashes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    st_ = file_stat(os.stat(path))
    with pytest.raises(ValueError, match="differ in length"):
        _readahead.read_small([str(path)], [])
    with pytest.raises(TypeError):
        _readahead.read_small([str(path)], [(1, 2)])
    with pytest.raises(ValueError, match="out of range"):
        _readahead.read_small([str(path)], [(-1, 0, 0, 0, 0)])
    with pytest.raises(ValueError):  # an embedded NUL, as os.open refuses it
        _readahead.read_small(["a\0b"], [st_])
    assert _readahead.read_small([], []) == ([], b"")
    assert _readahead.read_small([os.fsencode(path)], [st_])[0] == [b"abc"]


def _tree(root, count):
    files = {}
    for i in range(count):
        rel = f"d{i % 7}/f{i:04d}.txt"
        data = (f"row {i}\n" * (i % 300)).encode()
        os.makedirs(root / os.path.dirname(rel), exist_ok=True)
        (root / rel).write_bytes(data)
        files[rel] = data
    (root / "big.bin").write_bytes(os.urandom(40_000))  # over the chunker's minimum: not read ahead
    past = time.time_ns() - 100 * 10**9  # older than the racy window: a re-add trusts the stat cache
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(past, past))
    return files


def _log(path, data_dir, with_c):
    Store.init(str(path), workspace="w")
    store = Store.open(str(path))
    try:
        old = readahead._readahead
        readahead._readahead = old if with_c else None
        try:
            v = store.log("ds", sources_for_path(str(data_dir))[0])
        finally:
            readahead._readahead = old
        return v, v["manifest_digest"], store
    except BaseException:
        store.close()
        raise


@built
def test_a_log_with_and_without_the_extension_records_the_same_version(tmp_path):
    data = tmp_path / "data"
    files = _tree(data, 600)
    v1, root1, s1 = _log(tmp_path / "a", data, True)
    v2, root2, s2 = _log(tmp_path / "b", data, False)
    try:
        assert root1 == root2
        assert v1["files_read"] == v2["files_read"] == 601
        s1.download("ds:1.0.0", str(tmp_path / "out"))
        for rel, content in files.items():
            assert (tmp_path / "out" / rel).read_bytes() == content
        assert s1.verify(read_data=True)["ok"]
        # Unchanged files come from the stat cache, not the read-ahead.
        again = s1.log("ds", sources_for_path(str(data))[0])
        assert again["files_read"] == 0
    finally:
        s1.close()
        s2.close()


def test_a_file_changed_after_the_walk_is_refused_as_before(tmp_path):
    data = tmp_path / "data"
    _tree(data, 100)
    Store.init(str(tmp_path / "s"), workspace="w")
    store = Store.open(str(tmp_path / "s"))
    try:
        sources = sources_for_path(str(data))[0]
        with open(data / "d3" / "f0010.txt", "ab") as f:
            f.write(b"edited after the walk")
        with pytest.raises(Conflict, match="f0010.txt changed while it was being read"):
            store.log("ds", sources)
        (data / "d3" / "f0010.txt").unlink()
        (data / "d3" / "f0010.txt").mkdir()
        with pytest.raises((InvalidInput, Conflict), match="f0010.txt"):
            store.log("ds", sources)
        assert store.list_artifacts() == []
        assert store.verify()["ok"]
    finally:
        store.close()


@built
def test_lists_changed_by_their_own_items_are_not_read_freed(tmp_path):
    # An __fspath__ or __index__ may empty the lists read_small walks: it reads a copy, so
    # the call reads what it was given instead of freed items (it crashed, SIGSEGV).
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    st_ = file_stat(os.stat(path))
    paths, stats = [], []

    class Emptying:
        def __fspath__(self):
            paths.clear()
            stats.clear()
            return str(path)

    class Index:
        def __index__(self):
            stats.clear()
            return 3

    paths += [Emptying()] + [str(path)] * 200
    stats += [tuple(st_)] + [tuple(x + 0 for x in st_) for _ in range(200)]
    assert _readahead.read_small(paths, stats)[0] == [b"abc"] * 201
    paths += [str(path)] * 200
    stats += [(Index(), *st_[1:])] + [tuple(x + 0 for x in st_) for _ in range(199)]
    assert _readahead.read_small(paths, stats)[0] == [b"abc"] * 200


@built
def test_a_stat_beyond_64_bits_is_left_to_python(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    st_ = file_stat(os.stat(path))
    far = [st_._replace(st_mtime_ns=2**63), st_._replace(st_ino=2**64 - 1), st_._replace(st_dev=2**64)]
    assert _readahead.read_small([str(path)] * 4, [*far, st_])[0] == [None, None, None, b"abc"]


def test_a_file_dated_past_2262_is_added(tmp_path):
    # Its mtime in nanoseconds is beyond 64 bits: the read-ahead and the stat cache raised
    # OverflowError ("internal error"); it is read, not cached.
    data = tmp_path / "data"
    files = _tree(data, 40)
    future = data / "d1" / "f0001.txt"
    try:
        os.utime(future, ns=(2**63 + 10**9, 2**63 + 10**9))
    except OverflowError:
        pytest.skip("no time past 2262 here")
    if os.stat(future).st_mtime_ns < 2**63:
        pytest.skip("this file system does not keep times past 2262")
    for with_c in (True, False):
        v, _root, store = _log(tmp_path / f"s{with_c}", data, with_c)
        try:
            store.download("ds:1.0.0", str(tmp_path / f"out{with_c}"))
            for rel, content in files.items():
                assert (tmp_path / f"out{with_c}" / rel).read_bytes() == content
            assert store.log("ds", sources_for_path(str(data))[0])["files_read"] == 1
        finally:
            store.close()


@built
def test_a_path_listed_twice_is_read_against_each_walk_stat(tmp_path):
    # The read-ahead checks a path against the stat it was given (the last one listed):
    # an earlier source of the same path whose stat shows another file took those bytes,
    # where the Python path refuses it.
    path = tmp_path / "x"
    path.write_bytes(b"old!")
    walked = file_stat(os.stat(path))
    (tmp_path / "new").write_bytes(b"new!")
    os.replace(tmp_path / "new", path)
    others = []
    for i in range(20):
        (tmp_path / f"o{i}").write_bytes(b"o" * i)
        others.append(LocalFile(str(tmp_path / f"o{i}"), f"z/o{i:02d}",
                                stat_result=file_stat(os.stat(tmp_path / f"o{i}"))))
    sources = [LocalFile(str(path), "a", stat_result=walked),
               LocalFile(str(path), "b", stat_result=file_stat(os.stat(path)))] + others
    Store.init(str(tmp_path / "s"), workspace="w")
    store = Store.open(str(tmp_path / "s"))
    try:
        with pytest.raises(Conflict, match="replaced while it was being read"):
            store.log("ds", sources)
    finally:
        store.close()
