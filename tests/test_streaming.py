"""Logging a version as a stream: the walk yields files in logical-path order one
directory at a time, the tree is built as entries come, and rows wait in SQLite
temporary tables (artstore.spill) until the commit. These tests check the order, the
checks a stream gets instead of a list's, that a log really streams, and that what was
spilled lands in the catalog (or nowhere, when the log fails)."""

import os
import sqlite3
import unicodedata

import pytest
from conftest import read_tree, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artstore import Store, commit, ingest, walking
from artstore import paths as paths_mod
from artstore.errors import Conflict, InvalidInput
from artstore.sources import InMemory, LocalFile
from artstore.tree import build
from artstore.tree.node import MAX_BYTES, MAX_ITEMS, MIN_ITEMS, child_text, encode, is_boundary

# -- the walk's order --------------------------------------------------------------------

NAME = st.text(alphabet="ab.-_0/ é~", min_size=1, max_size=4).filter(
    lambda s: "/" not in s and s not in (".", "..") and s.strip() == s and not s.startswith("."))


@st.composite
def trees(draw):
    """{relative path: is a directory} of a random small tree whose names sort around '/'
    ('.', '-', ' ' and '0' are on either side of it)."""
    out = {}
    for path in draw(st.lists(st.lists(NAME, min_size=1, max_size=3), max_size=25)):
        parents = ["/".join(path[:i]) for i in range(1, len(path))]
        if any(out.get(p) is False for p in parents) or out.get("/".join(path)) is not None:
            continue
        for p in parents:
            out[p] = True
        out["/".join(path)] = False
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees())
def test_walk_yields_files_in_logical_path_order(tmp_path_factory, tree):
    root = tmp_path_factory.mktemp("walk")
    for path, is_dir in sorted(tree.items()):
        if is_dir:
            (root / path).mkdir(parents=True, exist_ok=True)
        else:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(path.encode())
    files = [f.logical_path for f in walking.iter_walk(str(root))]
    expected = sorted(unicodedata.normalize("NFC", p) for p, is_dir in tree.items() if not is_dir)
    assert files == expected


def test_names_around_the_separator_sort_as_paths(tmp_path):
    # '.' and '-' sort before '/', '0' after it: a folder 'a' goes between them.
    write_tree(tmp_path, {"a.txt": b"1", "a-b": b"2", "a/x": b"3", "a0": b"4", "a/ b": b"5", "a b": b"6"})
    assert [f.logical_path for f in walking.iter_walk(str(tmp_path))] == ["a b", "a-b", "a.txt", "a/ b", "a/x", "a0"]


def test_two_names_equal_once_nfc_are_refused(tmp_path):
    nfc, nfd = "\u00e9", "e\u0301"
    write_tree(tmp_path, {nfc: b"1", nfd: b"2"})
    with pytest.raises(InvalidInput, match="same logical name"):
        list(walking.iter_walk(str(tmp_path)))
    other = tmp_path / "other"
    write_tree(other, {nfc: b"1", nfd + "/inside": b"2"})  # a file and a directory
    with pytest.raises(InvalidInput, match="same logical name"):
        list(walking.iter_walk(str(other)))


def test_the_walk_holds_one_listing_per_level(tmp_path, monkeypatch):
    """The first file comes before the last directory is listed."""
    for d in range(5):
        write_tree(tmp_path, {f"d{d}/f": b"x"})
    listed = []
    real = walking._Walk.listing
    monkeypatch.setattr(walking._Walk, "listing", lambda self, d, *a: listed.append(d) or real(self, d, *a))
    it = walking.iter_walk(str(tmp_path))
    first = next(it)
    assert first.logical_path == "d0/f" and len(listed) == 2  # the root and d0
    assert [f.logical_path for f in it] == [f"d{d}/f" for d in range(1, 5)]


# -- the checks a stream gets ------------------------------------------------------------

def _mem(path):
    return InMemory(path.encode(), path)


@pytest.mark.parametrize("paths, message", [
    (["b", "a"], "comes after"),
    (["a", "a"], "appears twice"),
    (["a", "a-x", "a.y", "a/b"], "uses it as a directory"),
    (["x/../y"], "component"),
    (["ok", "/abs"], "comes after|absolute"),
])
def test_a_bad_stream_logs_nothing(store, paths, message):
    with pytest.raises(InvalidInput, match=message):
        store.log("ds", iter([_mem(p) for p in paths]))
    assert store.catalog.scalar("SELECT count(*) FROM versions") == 0
    assert store.catalog.scalar("SELECT count(*) FROM files") == 0
    assert store.verify()["ok"]


def test_a_list_is_sorted_and_checked_before_any_data_is_read(store):
    v = store.log("ds", [_mem("b"), _mem("a/x"), _mem("a.txt")])
    assert [a["logical_path"] for a in store.assets(v["artifact_version_id"])] == ["a.txt", "a/x", "b"]
    with pytest.raises(InvalidInput, match="uses it as a directory"):
        store.log("ds", [_mem("a"), _mem("a/b")])


def test_merged_streams_refuse_a_path_from_two_of_them(tmp_path):
    write_tree(tmp_path / "one", {"x/a": b"1"})
    write_tree(tmp_path / "two", {"x/a": b"2"})
    merged = walking.merge([walking.stream_for_path(str(tmp_path / "one")),
                            walking.stream_for_path(str(tmp_path / "two"))])
    with pytest.raises(InvalidInput, match="appears twice"):
        list(walking.in_order(merged))


# -- the log streams ----------------------------------------------------------------------

def test_a_log_reads_files_before_the_stream_ends(store, tmp_path, monkeypatch):
    monkeypatch.setattr(commit, "BATCH", 4)
    write_tree(tmp_path / "d", {f"f{i:03d}": os.urandom(100) for i in range(200)})
    pulled = []
    reads_seen_at = []

    def stream():
        for f in walking.iter_walk(str(tmp_path / "d")):
            pulled.append(f.logical_path)
            yield f

    real = ingest.Ingestor.store_file

    def store_file(self, *a, **kw):
        reads_seen_at.append(len(pulled))
        return real(self, *a, **kw)

    monkeypatch.setattr(ingest.Ingestor, "store_file", store_file)
    v = store.log("ds", stream())
    assert v["assets_count"] == 200 and len(pulled) == 200
    # The first file was stored when two batches were listed: its own and the next one,
    # prefetched (stat cache, read-ahead) while it is stored.
    assert reads_seen_at[0] <= 2 * 4


@pytest.mark.parametrize("spill_rows", [1, 3, 1000])
def test_spilled_rows_reach_the_catalog(project, tmp_path, monkeypatch, spill_rows):
    monkeypatch.setattr(commit, "BATCH", 5)
    monkeypatch.setattr(ingest.Ingestor, "_SPILL_ROWS", spill_rows)
    files = {f"d{i % 3}/f{i:02d}": (b"same" if i % 7 == 0 else os.urandom(50 + i * 900)) for i in range(30)}
    write_tree(tmp_path / "d", files)
    for rel in files:  # older than the racy-timestamp window, so the stat cache is trusted
        os.utime(tmp_path / "d" / rel, (1_600_000_000, 1_600_000_000))
    with Store.open(project) as store:
        v = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert v["files_read"] == 30
        assert store.catalog.scalar("SELECT count(*) FROM stat_cache") == 30
        distinct = {blob for blob in files.values()}
        assert store.catalog.scalar("SELECT count(*) FROM files") == len(distinct)
        again = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert again["files_read"] == 0 and again["identical_to"] == v["version"]
        store.download(f"ds:{v['version']}", str(tmp_path / "out"))
        assert store.verify(read_data=True)["ok"]
    assert read_tree(tmp_path / "out") == files


def test_a_failed_log_leaves_no_spilled_rows(project, tmp_path, monkeypatch):
    monkeypatch.setattr(commit, "BATCH", 2)
    monkeypatch.setattr(ingest.Ingestor, "_SPILL_ROWS", 1)
    write_tree(tmp_path / "d", {f"f{i}": os.urandom(100) for i in range(6)})

    def stream():
        yield from walking.iter_walk(str(tmp_path / "d"))
        yield LocalFile(str(tmp_path / "d" / "f0"), "f0")  # out of order: refused at the end

    with Store.open(project) as store:
        with pytest.raises(InvalidInput, match="comes after"):
            store.log("ds", stream())
        assert store.catalog.scalar("SELECT count(*) FROM files") == 0
        assert store.catalog.scalar("SELECT count(*) FROM stat_cache") == 0
        # the next log starts from empty temporary tables
        v = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert v["files_read"] == 6 and store.verify()["ok"]
    with sqlite3.connect(project / ".artstore" / "catalog.db") as db:
        assert "spill" not in " ".join(r[0] for r in db.execute("SELECT name FROM sqlite_master"))


# -- the streamed tree equals the tree of the whole list -----------------------------------

def _reference_build(items):
    """The tree built level by level from the whole list (the builder before streaming)."""
    if not items:
        return encode(0, [])[0]
    current = [(path, text, 1) for path, text in items]
    level = 0
    while True:
        groups, group, size = [], [], 0
        for item in current:
            group.append(item)
            size += len(item[1])
            if (len(group) >= MIN_ITEMS and is_boundary(item[0], level)) or len(group) >= MAX_ITEMS \
                    or size >= MAX_BYTES:
                groups.append(group)
                group, size = [], 0
        if group:
            groups.append(group)
        children = []
        for g in groups:
            digest, _ = encode(level, [t for _, t, _ in g])
            count = sum(n for _, _, n in g)
            children.append((g[0][0], child_text(g[0][0], digest, count), count))
        if len(children) == 1:
            return digest
        current = children
        level += 1


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3000), width=st.integers(1, 3000), seed=st.integers(0, 10))
def test_streamed_tree_equals_the_level_by_level_tree(n, width, seed):
    items = sorted((f"p{seed}/{i:05d}", "x" * (1 + (i * 7919 + seed) % width)) for i in range(n))
    root, nodes = build(items)
    assert root == _reference_build(items) and root in nodes


def test_cli_add_of_two_paths_with_one_logical_path_is_one_line(cli, project):
    write_tree(project, {"one/x": b"1", "two/x": b"2", "one/y": b"3"})
    r = cli("add", "ds", "one", "two")
    assert r.code == 5 and "'x' appears twice" in r.err and "Traceback" not in r.err
    assert len(r.err.splitlines()) == 1
    r = cli("add", "ds", "two", "one/y", "--json")
    assert r.code == 0, r
    assert [a["logical_path"] for a in cli("show", "ds", "--json").json()["assets"]] == ["x", "y"]


# -- the stat cache read as one range scan along the walk ---------------------------------

def _aged(root, rels):
    for rel in rels:  # older than the racy-timestamp window, so the stat cache is trusted
        os.utime(root / rel, (1_600_000_000, 1_600_000_000))


@pytest.mark.parametrize("batch", [1, 3, 1024])
def test_an_unchanged_re_add_reads_nothing_whatever_the_names(project, tmp_path, monkeypatch, batch):
    """Names whose on-disk spelling sorts elsewhere than their logical path (NFD on disk,
    NFC logical), names around '/', deleted files whose cache rows stay between the
    walk's: the scan still finds every unchanged file."""
    monkeypatch.setattr(commit, "BATCH", batch)
    nfd = unicodedata.normalize("NFD", "é")
    files = {f"a{nfd}/x": b"1", "af": b"0", "a/y": b"2", "a.txt": b"3", "a-b/c": b"4", f"z{nfd}z": b"5", "b/gone": b"6",
             "b/kept": b"7", "\u00e9t\u00e9": b"8", "a0": b"9"}
    write_tree(tmp_path / "d", files)
    _aged(tmp_path / "d", files)
    with Store.open(project) as store:
        v = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert v["files_read"] == len(files)
        os.unlink(tmp_path / "d" / "b" / "gone")
        again = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert again["files_read"] == 0 and again["assets_count"] == len(files) - 1


def test_a_list_from_several_folders_is_looked_up_by_key(project, tmp_path):
    """Logical order that is not the on-disk order: batches out of the scan's order."""
    write_tree(tmp_path / "z", {"one": b"1"})
    write_tree(tmp_path / "a", {"two": b"2"})
    _aged(tmp_path, ["z/one", "a/two"])
    sources = [LocalFile(str(tmp_path / "z" / "one"), "1-first"), LocalFile(str(tmp_path / "a" / "two"), "2-second")]
    with Store.open(project) as store:
        assert store.log("ds", sources)["files_read"] == 2
        for f in sources:
            f.stat_result = os.stat(f.os_path)
        assert store.log("ds", sources)["files_read"] == 0
        two = walking.merge([walking.stream_for_path(str(tmp_path / "z")),
                             walking.stream_for_path(str(tmp_path / "a"))])
        assert store.log("ds", two)["files_read"] == 0


def test_the_scan_does_not_hide_the_new_version(project, tmp_path):
    """The scan holds a read snapshot while it is open: the log closes it before its
    commit, so what is read after the commit sees the new version."""
    write_tree(tmp_path / "d", {f"f{i}": b"x%d" % i for i in range(5)})
    with Store.open(project) as store:
        v = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert store.versions("ds")[-1]["version"] == v["version"]
        v2 = store.log("ds", walking.iter_walk(str(tmp_path / "d")))
        assert [x["version"] for x in store.versions("ds")] == [v["version"], v2["version"]]


def test_a_schema_5_store_migrates_its_stat_cache_intact(project, tmp_path):
    """Schema 6 keeps the stat cache WITHOUT ROWID: a store made with the rowid table of
    schema 5 is migrated on open, and its cached files are still not read again."""
    files = {f"d/f{i}": b"%d" % i for i in range(20)}
    write_tree(tmp_path / "src", files)
    _aged(tmp_path / "src", files)
    with Store.open(project) as store:
        store.log("ds", walking.iter_walk(str(tmp_path / "src")))
    db = project / ".artstore" / "catalog.db"
    with sqlite3.connect(db) as conn:  # back to schema 5's table, rows and all
        conn.executescript("""
            CREATE TABLE old (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, device INTEGER NOT NULL,
                digest BLOB NOT NULL, cached_at_ns INTEGER NOT NULL);
            INSERT INTO old SELECT * FROM stat_cache;
            DROP TABLE stat_cache;
            ALTER TABLE old RENAME TO stat_cache;
            UPDATE meta SET value = '5' WHERE key = 'schema_version';
        """)
        before = sorted(conn.execute("SELECT * FROM stat_cache"))
    assert len(before) == 20
    with Store.open(project) as store:
        assert store.catalog.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == "6"
        sql = store.catalog.scalar("SELECT sql FROM sqlite_master WHERE name = 'stat_cache'")
        assert "WITHOUT ROWID" in sql
        assert sorted(store.catalog.conn.execute("SELECT * FROM stat_cache")) == before
        assert store.log("ds", walking.iter_walk(str(tmp_path / "src")))["files_read"] == 0
        assert store.verify()["ok"]


def test_one_file_under_two_logical_paths_in_two_batches_is_not_read_again(project, tmp_path, monkeypatch):
    """The same file at the end of one batch and the start of the next: the second batch
    starts where the scan is, so it scans again rather than miss the row."""
    monkeypatch.setattr(commit, "BATCH", 1)
    write_tree(tmp_path, {"f": b"same"})
    _aged(tmp_path, ["f"])
    with Store.open(project) as store:
        sources = [LocalFile(str(tmp_path / "f"), "a"), LocalFile(str(tmp_path / "f"), "b")]
        assert store.log("ds", sources)["files_read"] == 2
        for s in sources:
            s.stat_result = ingest.file_stat(os.stat(s.os_path))
        assert store.log("ds", sources)["files_read"] == 0


def test_a_walked_path_over_the_length_limit_is_refused(store, tmp_path):
    """The walk checks each name as it lists it and the whole path's length (in UTF-8
    bytes) when it could be over the limit: log then trusts the walk's paths."""
    write_tree(tmp_path / "d", {"f" * 100: b"1", "é" * 40: b"2"})
    prefix = "/".join(["a" * 250] * 16)  # 4,015 characters: valid by itself
    assert len(prefix) <= paths_mod.MAX_PATH_BYTES
    with pytest.raises(InvalidInput, match="longer than 4096 bytes"):
        store.log("ds", walking.iter_walk(str(tmp_path / "d"), prefix=prefix))
    assert store.catalog.scalar("SELECT count(*) FROM versions") == 0
    ok = "/".join(["a" * 250] * 15)  # 3,764 characters + '/' + 80 bytes of 'é' x 40
    v = store.log("ds", walking.iter_walk(str(tmp_path / "d"), prefix=ok))
    assert v["assets_count"] == 2


def _walk_until(root, stop_at):
    """An iter_walk of ``root`` and the logical paths it yielded up to ``stop_at``."""
    it = walking.iter_walk(str(root))
    seen = []
    for f in it:
        seen.append(f.logical_path)
        if f.logical_path == stop_at:
            break
    return it, seen


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_not_descended(tmp_path):
    """The walk never descends a symlink to a directory, even one that replaced a listed
    directory after its parent was listed: it would store files from outside the tree."""
    write_tree(tmp_path / "d", {"a": b"1", "sub/x": b"2"})
    write_tree(tmp_path / "outside", {"secret": b"3"})
    it, seen = _walk_until(tmp_path / "d", "a")
    os.rename(tmp_path / "d" / "sub", tmp_path / "gone")
    os.symlink(tmp_path / "outside", tmp_path / "d" / "sub")
    with pytest.raises(Conflict, match="replaced while"):
        seen += [f.logical_path for f in it]
    assert "sub/secret" not in seen


def test_a_directory_replaced_by_another_during_the_walk_is_refused(tmp_path):
    write_tree(tmp_path / "d", {"a": b"1", "sub/x": b"2"})
    it, _seen = _walk_until(tmp_path / "d", "a")
    os.rename(tmp_path / "d" / "sub", tmp_path / "gone")
    write_tree(tmp_path / "d", {"sub/y": b"4"})
    with pytest.raises(Conflict, match="replaced while"):
        list(it)


def test_a_directory_deleted_during_the_walk_is_left_out_like_a_deleted_file(tmp_path):
    """A directory gone by the time the walk reaches it is not part of the tree, as a file
    deleted between the listing and its stat is not (and not an 'invalid input')."""
    write_tree(tmp_path / "d", {"a": b"1", "sub/x": b"2", "z": b"3"})
    it, seen = _walk_until(tmp_path / "d", "a")
    os.rename(tmp_path / "d" / "sub", tmp_path / "gone")
    assert seen + [f.logical_path for f in it] == ["a", "z"]


def test_a_directory_turned_into_a_file_during_the_walk_is_a_conflict(tmp_path):
    write_tree(tmp_path / "d", {"a": b"1", "sub/x": b"2"})
    it, _seen = _walk_until(tmp_path / "d", "a")
    os.rename(tmp_path / "d" / "sub", tmp_path / "gone")
    (tmp_path / "d" / "sub").write_bytes(b"now a file")
    with pytest.raises(Conflict, match="replaced while"):
        list(it)


def test_a_folder_on_the_way_to_a_listed_file_turned_into_a_file_is_a_conflict(project, tmp_path):
    """Between the walk and the read, a folder above a listed file became a file: the tree
    changed under the add (exit 4, as for a file replaced), not an invalid input."""
    write_tree(tmp_path / "d", {"sub/x": b"2"})
    st = os.stat(tmp_path / "d" / "sub" / "x")
    os.rename(tmp_path / "d" / "sub", tmp_path / "gone")
    (tmp_path / "d" / "sub").write_bytes(b"now a file")
    with Store.open(project) as store, pytest.raises(Conflict, match="while it was being read"):
        store.log("ds", [LocalFile(str(tmp_path / "d" / "sub" / "x"), "sub/x", stat_result=st)])


def test_listing_a_flat_folder_peaks_near_the_listing_it_keeps(tmp_path):
    """A folder's DirEntry objects (each with the stat it was asked for) are let go as the
    listing is made: holding them all had a flat folder's peak at twice what it keeps."""
    import tracemalloc

    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(4000):
        (folder / f"file{i:05d}.bin").touch()
    w = walking._Walk(str(folder), None, None, None, [])
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        out = w.listing(str(folder), "")
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(out) == 4000
    assert peak - start < 1.4 * (held - start), (held - start, peak - start)


def test_symlink_loops_and_links_through_a_file_are_skipped_like_dangling_ones(tmp_path):
    """A symlink whose target cannot be resolved (a loop, or a path through a file) is
    skipped and reported, as a dangling one is: it is not a reason to refuse the add."""
    root = write_tree(tmp_path / "d", {"f": b"1", "sub/g": b"2"})
    os.symlink("self", root / "self")
    os.symlink("loopb", root / "loopa")
    os.symlink("loopa", root / "loopb")
    os.symlink("f/x", root / "through")
    files, skipped = walking.walk(str(root))
    assert [f.logical_path for f in files] == ["f", "sub/g"]
    assert sorted(os.path.basename(p) for p, _why in skipped) == ["loopa", "loopb", "self", "through"]
    assert all("symlink" in why for _p, why in skipped)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 8),
    keys=st.lists(st.integers(0, 40), max_size=1200),
    limit=st.sampled_from([None, 8, 17, 999]),
    clause=st.sampled_from(["OR IGNORE", "OR REPLACE"]),
)
def test_insert_rows_stores_what_executemany_stores(width, keys, limit, clause):
    """Multi-row statements (catalog.insert_rows): the same rows as one statement per
    row, duplicates resolved by the conflict clause in the same order, at any bound on a
    statement's parameters (as low as one row per statement)."""
    from artstore.catalog import insert_rows

    conn = sqlite3.connect(":memory:")
    if limit is not None and hasattr(conn, "setlimit"):
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    columns = ", ".join(f"c{i}" for i in range(1, width))
    for table in ("a", "b"):
        conn.execute(f"CREATE TABLE {table} (k INTEGER PRIMARY KEY{', ' + columns if columns else ''})")
    rows = [(k, *[f"{k}-{n}-{i}" for i in range(1, width)]) for n, k in enumerate(keys)]
    marks = ",".join("?" * width)
    conn.executemany(f"INSERT {clause} INTO a VALUES ({marks})", rows)
    insert_rows(conn, f"INSERT {clause} INTO b VALUES", width, iter(rows))
    stored = [conn.execute(f"SELECT * FROM {table} ORDER BY k").fetchall() for table in ("a", "b")]
    assert stored[0] == stored[1]
    with pytest.raises(ValueError, match="values"):
        insert_rows(conn, "INSERT OR IGNORE INTO b VALUES", width, [(1,) * (width + 1)])
