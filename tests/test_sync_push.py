"""Push internals that its speed rests on: the batched check of a pack before it leaves,
the bundle's directly formatted JSON, the leaf digests read without Entry objects."""

import json
import os
import sys
import time

import pytest
import zstandard

from artstore import Conflict, IntegrityError, Store, chunkstore
from artstore.ingest import InMemory
from artstore.sync import layout, packcheck
from artstore.sync.packcheck import check_frames
from artstore.sync.state import RemoteState


def _store(path):
    Store.init(path, workspace="ws")
    return Store.open(path)


def _pack_with_entries(store):
    (pack,) = store.catalog.packs()
    path = os.path.join(store.pack_dir, pack["name"] + ".pack")
    return path, chunkstore.read_pack_index(path)[2]


def _checks_by_children(monkeypatch):
    """Packs of 100 chunks or more checked by a child process, as on two cores."""
    monkeypatch.setattr(packcheck, "CHILD_MIN_CHUNKS", 100)
    monkeypatch.setattr(packcheck, "_cores", lambda: 2)


def _the_pack(store):
    """(pack row, its path, its header and index bytes, its SealedPack) of a store's one pack."""
    (pack,) = store.catalog.packs()
    path = os.path.join(store.pack_dir, pack["name"] + ".pack")
    header, index, entries = chunkstore.read_pack_index(path)
    return pack, path, header + index, chunkstore.SealedPack(pack["name"], pack["size"], entries)


def _small_files(n):
    return [InMemory((f"{i},row\n" * (20 + i % 50)).encode(), f"d/f{i:04d}.csv") for i in range(n)] + \
        [InMemory(os.urandom(3000), "random.bin")]


@pytest.mark.parametrize("multi", [True, False])
def test_check_frames_passes_good_frames_and_names_a_damaged_one(tmp_path, monkeypatch, multi):
    if not multi:  # the per-chunk path (zstandard's cffi backend has no multi_decompress_to_buffer)
        monkeypatch.setattr(zstandard.ZstdDecompressor, "multi_decompress_to_buffer",
                            lambda *a, **k: (_ for _ in ()).throw(NotImplementedError()), raising=False)
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        path, entries = _pack_with_entries(a)
    assert {e[4] for e in entries} == {chunkstore.RAW, chunkstore.ZSTD}
    with open(path, "rb") as f:
        data = bytearray(f.read())
    check_frames(bytes(data), entries, "pack x")
    victim = next(e for e in entries[150:] if e[4] == chunkstore.ZSTD)
    data[victim[1] + victim[2] // 2] ^= 0xFF
    with pytest.raises(IntegrityError, match=victim[0].hex()):
        check_frames(bytes(data), entries, "pack x")


@pytest.mark.parametrize("child", [False, True])
def test_a_push_never_sends_the_index_of_a_damaged_local_pack(tmp_path, monkeypatch, child):
    if child:  # checked by a child process, as a pack of many chunks is
        _checks_by_children(monkeypatch)
    url = f"file://{tmp_path / 'remote'}"
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(200))
        path, entries = _pack_with_entries(a)
        victim = entries[len(entries) // 2]
        with open(path, "r+b") as f:
            f.seek(victim[1] + victim[2] // 2)
            byte = f.read(1)
            f.seek(victim[1] + victim[2] // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(IntegrityError, match=victim[0].hex()):
            a.push(url)
    remote = tmp_path / "remote"
    assert not list((remote / "packs").glob("*.idx")) and not (remote / "versions").exists()


def _damage(path, entry):
    with open(path, "r+b") as f:
        f.seek(entry[1] + entry[2] // 2)
        byte = f.read(1)
        f.seek(entry[1] + entry[2] // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("damaged", [False, True])
def test_a_pack_of_many_chunks_is_checked_by_a_child_process(tmp_path, monkeypatch, damaged):
    """The child's verdict is the check's: a good pack passes, a damaged one is refused
    naming the chunk, and the pushing process never reads the pack itself."""
    _checks_by_children(monkeypatch)
    monkeypatch.chdir(tmp_path)  # a folder named artstore here must not be what the child imports
    (tmp_path / "artstore").mkdir()
    (tmp_path / "artstore" / "__init__.py").write_text("raise SystemExit(9)\n")
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        pack, path, index, sealed = _the_pack(a)
        victim = next(e for e in sealed.entries[150:] if e[4] == chunkstore.ZSTD)
        if damaged:
            _damage(path, victim)
        here = []
        monkeypatch.setattr(packcheck, "check_file", lambda *args: here.append(args))
        if damaged:
            with pytest.raises(IntegrityError, match=f"chunk {victim[0].hex()} in pack {pack['name']}"):
                packcheck.check_pack(a.pack_dir, sealed, index)
        else:
            packcheck.check_pack(a.pack_dir, sealed, index)
        assert here == []


def test_a_child_that_cannot_tell_leaves_the_check_to_the_pusher(tmp_path, monkeypatch):
    """No python to start, a child that fails for another reason than damage, or one that
    exits 0 without running the check (sys.executable is not always a python: an
    embedding program's binary, a wrapper): the pack is checked in the pushing process,
    and damage is still found."""
    _checks_by_children(monkeypatch)
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        _pack, path, index, sealed = _the_pack(a)
        victim = next(e for e in sealed.entries[150:] if e[4] == chunkstore.ZSTD)
        _damage(path, victim)
        for executable in ["", str(tmp_path / "no-such-python"), "/bin/false", "/bin/true"]:
            monkeypatch.setattr(packcheck.sys, "executable", executable)
            with pytest.raises(IntegrityError, match=victim[0].hex()):
                packcheck.check_pack(a.pack_dir, sealed, index)


def test_the_child_keeps_the_first_path_entry_under_safe_path(tmp_path, monkeypatch):
    """With PYTHONSAFEPATH (python -P) the child's path has no '' first: the entry it would
    drop is the pusher's own PYTHONPATH folder, and the check went elsewhere or back here."""
    if sys.version_info < (3, 11):
        pytest.skip("PYTHONSAFEPATH is Python 3.11+")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(packcheck.__file__))))
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    _checks_by_children(monkeypatch)
    # a folder after the pusher's that also holds an artstore, which the child must not import
    decoy = tmp_path / "decoy"
    (decoy / "artstore").mkdir(parents=True)
    (decoy / "artstore" / "__init__.py").write_text("raise SystemExit(9)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, str(decoy)]))
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        _pack, _path, index, sealed = _the_pack(a)
        here = []
        monkeypatch.setattr(packcheck, "check_file", lambda *args: here.append(args))
        packcheck.check_pack(a.pack_dir, sealed, index)
        assert here == []


def test_the_bundle_text_is_what_layout_encode_makes(tmp_path):
    files = {os.urandom(32): (i * 1000, os.urandom(32 * (1 + i % 3))) for i in range(40)}
    nodes = {os.urandom(32): (i % 3, os.urandom(50 + i)) for i in range(15)}
    name, data = RemoteState(type("S", (), {"dir": str(tmp_path)})(), "r", None).meta_bundle(files, nodes)
    raw = zstandard.ZstdDecompressor().decompress(data)
    record = json.loads(raw)
    assert layout.encode(record) == raw
    assert set(record) == {"files", "nodes", "nonce"}
    state = RemoteState(type("S", (), {"dir": str(tmp_path)})(), "r", None)
    state._add_meta(name, data)
    assert state.files == files and state.nodes == nodes


def test_a_first_push_of_many_files_sends_whole_packs_and_clones_back(tmp_path):
    url = f"file://{tmp_path / 'remote'}"
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(1500))
        local = {p["name"] for p in a.catalog.packs()}
        sent = a.push(url)
        assert sent["files"] == 1501 and sent["chunks"] == 1501
        a.log("ds", _small_files(1600))  # 100 more files and a new random one: the lookup path
        again = a.push(url)
        assert again["files"] == 101 and again["packs"] == 1
    remote = {p.stem for p in (tmp_path / "remote" / "packs").glob("*.idx")}
    assert local <= remote
    with Store.clone(url, tmp_path / "b") as b:
        assert b.verify(read_data=True)["ok"]
        assert len(b.version_rows(b.artifact("ds")["id"])) == 2


def test_a_push_plans_beside_its_remote_reads_and_keeps_the_plan_only_if_the_remote_is_empty(tmp_path,
                                                                                            monkeypatch):
    """A store that has never reached the remote plans while the remote is read, assuming
    it holds nothing: kept for an empty remote (one plan), made again when the remote
    turns out to hold data (it must not send what the remote has)."""
    from artstore.sync import push as push_mod

    plans = []
    real = push_mod._plan
    monkeypatch.setattr(push_mod, "_plan", lambda *a, **k: plans.append(len(a[2])) or real(*a, **k))
    # Asked late, "first contact" would see what the remote read has cached by then (a race
    # a loaded CI machine lost): it must be asked before that read starts.
    first_contact = push_mod._first_contact
    monkeypatch.setattr(push_mod, "_first_contact", lambda *a: time.sleep(0.5) or first_contact(*a))
    url = f"file://{tmp_path / 'remote'}"
    shared = _small_files(50)
    with _store(tmp_path / "a") as a:
        a.log("ds", shared)
        first = a.push(url)
    assert plans == [1] and first["files"] == 51
    plans.clear()
    with _store(tmp_path / "b") as b:
        b.log("other", shared + [InMemory(b"only in b\n" * 40, "b.txt")])
        second = b.push(url)
        assert plans == [1, 1]  # the guess, then the plan against what the remote holds
        assert second["files"] == 1 and second["chunks"] == 1
        plans.clear()
        b.log("other", [InMemory(b"again\n" * 40, "c.txt")])
        assert b.push(url)["files"] == 1 and plans == [1]  # not a first contact: no guess
    with Store.clone(url, tmp_path / "c") as c:
        assert c.verify(read_data=True)["ok"]
        assert sorted(a["name"] for a in c.list_artifacts()) == ["ds", "other"]


def _spy_early_checks(monkeypatch):
    """[(names started, packs whose sending used an early check's verdict)] of each push."""
    seen = []
    real = packcheck.EarlyChecks

    class Spy(real):
        def __init__(self, pack_dir, names):
            super().__init__(pack_dir, names)
            self.used = []
            seen.append((list(names), self.used))

        def check(self, pack, index):
            job = self._jobs.get(pack.name)
            if job is not None and job.result()[0] == index:
                self.used.append(pack.name)
            return super().check(pack, index)

    monkeypatch.setattr(packcheck, "EarlyChecks", Spy)
    return seen


def test_a_first_push_of_every_version_checks_its_large_packs_while_it_plans(tmp_path, monkeypatch):
    """Only a first push of every version starts the checks before it plans (it will send
    nearly every pack whole); a push of some versions, or to a remote already reached,
    checks the packs it sends as it sends them. Either way the pushing process never reads
    a large pack itself."""
    _checks_by_children(monkeypatch)
    seen = _spy_early_checks(monkeypatch)
    here = []
    real_check_file = packcheck.check_file
    monkeypatch.setattr(packcheck, "check_file", lambda *args: here.append(args) or real_check_file(*args))
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        a.log("other", [InMemory(b"small\n", "s.txt")])  # a pack of one chunk: checked here
        big = {p["name"] for p in a.catalog.packs() if p["name"] in {
            name for name, n in a.catalog.pack_chunk_counts().items() if n >= 100}}
        assert len(big) == 1
        a.push(f"file://{tmp_path / 'r1'}")
        assert [(sorted(names), used) for names, used in seen] == [(sorted(big), sorted(big))]
        assert [args[2] for args in here] != [] and not big & {args[2] for args in here}
        seen.clear()
        a.push(f"file://{tmp_path / 'r2'}", ["ds"])  # some versions
        a.log("ds", _small_files(310))
        a.push(f"file://{tmp_path / 'r1'}")  # a remote reached before
        assert [names for names, _used in seen] == [[], []]
    for remote in ("r1", "r2"):
        with Store.clone(f"file://{tmp_path / remote}", tmp_path / f"clone-{remote}") as c:
            assert c.verify(read_data=True)["ok"]


def test_an_early_check_counts_only_against_the_index_it_checked(tmp_path, monkeypatch):
    """A verdict is the verdict on a pack as its own index lists it: asked about other
    index bytes, the check is made again (by check_pack)."""
    _checks_by_children(monkeypatch)
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        pack, _path, index, sealed = _the_pack(a)
        again = []
        monkeypatch.setattr(packcheck, "check_pack", lambda *args: again.append(args))
        with packcheck.EarlyChecks(a.pack_dir, [pack["name"]]) as early:
            early.check(sealed, index)
            assert again == []
            early.check(sealed, index[:-1])
            assert len(again) == 1


def test_closing_early_checks_kills_the_children_still_checking(tmp_path, monkeypatch):
    """A push that fails or is interrupted before it sends (a conflict, Ctrl-C) must not
    wait for, or leave behind, the checks it started."""
    _checks_by_children(monkeypatch)
    marker = tmp_path / "children"
    child = f"import os, time; open({str(marker)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(60)"
    monkeypatch.setattr(packcheck, "_CHILD", child)
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        pack = _the_pack(a)[0]
        early = packcheck.EarlyChecks(a.pack_dir, [pack["name"]])
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text().endswith("\n")) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(marker.read_text().split()[0])
        began = time.monotonic()
        early.close()
        job = early._jobs[pack["name"]]
        assert job.result(timeout=10) == (None, None)  # killed: no verdict, the push checks itself
        assert time.monotonic() - began < 5
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # reaped by the job's thread once killed
            os.kill(pid, 0)
            time.sleep(0.05)


def test_on_one_core_no_check_starts_early(tmp_path, monkeypatch):
    """One core: a child would only take it from the planning; the packs are checked as
    they are sent (here, in this process)."""
    _checks_by_children(monkeypatch)
    monkeypatch.setattr(packcheck, "_cores", lambda: 1)
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(300))
        pack, _path, index, sealed = _the_pack(a)
        here = []
        monkeypatch.setattr(packcheck, "check_file", lambda *args: here.append(args))
        with packcheck.EarlyChecks(a.pack_dir, [pack["name"]]) as early:
            assert early._jobs == {}
            early.check(sealed, index)
        assert [args[2] for args in here] == [pack["name"]]


def _count_calls(monkeypatch, cls, names):
    calls = []
    for name in names:
        real = getattr(cls, name)
        monkeypatch.setattr(cls, name, lambda self, *a, _real=real, _name=name, **k: calls.append(_name)
                            or _real(self, *a, **k))
    return calls


def test_a_first_push_to_a_new_remote_lists_and_reads_nothing(tmp_path, monkeypatch):
    """The push that writes a remote's format record knows the remote held nothing: it
    neither lists its folders nor reads its gc markers or refs (three requests before
    the first upload: read the format, create it, be refused creating it again). A
    remote that exists is read as before."""
    from artstore.sync import transport

    calls = _count_calls(monkeypatch, transport.FileTransport, ["list", "read", "read_ref", "put_new"])
    url = f"file://{tmp_path / 'remote'}"
    with _store(tmp_path / "a") as a:
        a.log("ds", _small_files(20))
        a.push(url)
        before_upload = calls[:calls.index("put_new") + 2]
        assert before_upload == ["read", "put_new", "put_new"] and "list" not in calls
        assert calls.count("read_ref") == 1  # the compare-and-swap's own check (file://), not a read ahead
        calls.clear()
        a.log("ds", _small_files(25))
        a.push(url)
        assert "list" in calls and calls[0] == "read"
    with Store.clone(url, tmp_path / "b") as b:
        assert b.verify(read_data=True)["ok"] and len(b.version_rows(b.artifact("ds")["id"])) == 2


@pytest.mark.parametrize("same_artifact", [False, True])
def test_a_first_push_raced_by_another_first_push(tmp_path, monkeypatch, same_artifact):
    """Two stores' first pushes to one new remote: the one that made the format record
    assumed the remote empty while the other pushed. Its refs meet the other's by
    compare-and-swap: another artifact joins, the same version number with other content
    is exit 4; either way the remote verifies and names only what it holds."""
    from artstore.sync import push as push_mod

    url = f"file://{tmp_path / 'remote'}"
    shared = _small_files(30)
    with _store(tmp_path / "b") as b:
        b.log("ds" if same_artifact else "other", shared + [InMemory(b"b only\n", "b.txt")])
    real = push_mod.ensure_format
    raced = []

    def then_b_pushes(transport):
        made = real(transport)
        if not raced:  # a's push: b's whole push runs here (and meets the record a made)
            raced.append(made[0])
            with Store.open(tmp_path / "b") as other:
                other.push(url)
        return made

    monkeypatch.setattr(push_mod, "ensure_format", then_b_pushes)
    with _store(tmp_path / "a") as a:
        a.log("ds", shared + [InMemory(b"a only\n", "a.txt")])
        if same_artifact:
            with pytest.raises(Conflict, match="already has"):
                a.push(url)
        else:
            a.push(url)
    assert raced == [True]
    monkeypatch.setattr(push_mod, "ensure_format", real)
    with Store.clone(url, tmp_path / "c") as c:
        assert c.verify(read_data=True)["ok"]
        assert sorted(x["name"] for x in c.list_artifacts()) == (["ds"] if same_artifact else ["ds", "other"])
        assert c.verify_remote(read_data=True)["ok"]
