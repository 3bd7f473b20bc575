"""A new user's and a hostile user's pass over remotes (push / pull / clone): each bad
input gets one line and its exit code, and no data goes anywhere it was not sent."""

import os
from pathlib import Path

import pytest
from conftest import run_cli, write_tree

from artstore import Store


def _project(tmp_path, files=None, name="ds"):
    project = tmp_path / "proj"
    write_tree(project / "data", files or {"a.txt": b"a\n", "b.txt": b"b\n"})
    Store.init(project, workspace="ws").close()
    assert run_cli("add", name, "data", cwd=project).code == 0
    return project


def _one_line_error(r, code):
    assert r.code == code, r
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r


def test_a_relative_remote_path_means_the_same_from_any_folder(tmp_path):
    """`remote add origin ../remote` was recorded as typed and resolved against the cwd
    of each later command: a push from the project's data/ folder made and filled a new
    remote at proj/remote instead of the one named. Clone recorded its relative URL the
    same way, so a pull from inside the clone looked beside it."""
    project = _project(tmp_path)
    assert run_cli("remote", "add", "origin", "../remote", cwd=project).code == 0
    assert run_cli("push", cwd=project / "data").code == 0
    assert (tmp_path / "remote" / "artstore-remote.json").exists()
    assert not (project / "remote").exists() and not (project / "data" / "remote").exists()
    listed = run_cli("remote", "list", "--json", cwd=project / "data").json()
    assert listed == [{"name": "origin", "url": str(tmp_path / "remote")}]

    r = run_cli("clone", "remote", "clone", cwd=tmp_path)
    assert r.code == 0, r
    assert run_cli("remote", "list", "--json", cwd=tmp_path / "clone").json()[0]["url"] == str(tmp_path / "remote")
    assert run_cli("pull", cwd=tmp_path / "clone").code == 0
    assert not (tmp_path / "clone" / "remote").exists()

    # A config written before (a relative url) is relative to the project, not the cwd.
    config = project / ".artstore" / "config"
    config.write_text(config.read_text().replace(str(tmp_path / "remote"), "../remote"))
    write_tree(project / "data", {"c.txt": b"c\n"})
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    r = run_cli("push", cwd=project / "data")
    assert r.code == 0 and "pushed 1 version" in r.out, r
    assert not (project / "data" / "remote").exists()


def test_a_plain_path_names_a_remote_on_push_and_pull(tmp_path):
    """SPEC: a remote URL is file:///path or a plain path. `push /abs/remote` and
    `pull ../remote` took the path for an artifact name (exit 5 or 3 about a missing
    artifact, or pushed to origin instead)."""
    project = _project(tmp_path)
    for where in (str(tmp_path / "abs-remote"), "../rel-remote", "./here-remote"):
        r = run_cli("push", where, "ds", cwd=project)
        assert r.code == 0 and "pushed 1 version" in r.out, (where, r)
    assert (tmp_path / "abs-remote" / "artstore-remote.json").exists()
    assert (tmp_path / "rel-remote" / "artstore-remote.json").exists()
    assert (project / "here-remote" / "artstore-remote.json").exists()

    other = tmp_path / "other"
    Store.init(other, workspace="ws").close()
    r = run_cli("pull", "../rel-remote", "ds:1.0.0", cwd=other)
    assert r.code == 0 and "pulled 1 version" in r.out, r
    with Store.open(other) as s:
        assert s.verify(read_data=True)["ok"]
    _one_line_error(run_cli("pull", "../no-such-remote", cwd=other), 3)
    assert not os.path.exists(tmp_path / "no-such-remote")


def test_a_bucket_url_with_credentials_or_a_tail_is_refused_by_every_command(tmp_path):
    """Only `remote add` refused "s3://KEY:SECRET@bucket/p": push, pull, clone, verify
    --remote-store and gc --remote given that URL sent "KEY:SECRET@bucket" as the bucket
    name (exit 7, "check the endpoint and the network", the secret on stderr), and a
    "?..." or "#..." tail was cut off silently, so the objects went to the prefix before it."""
    project = _project(tmp_path)
    urls = ["s3://AKIAEXAMPLE:s3cr3t@bucket/p", "gs://user:s3cr3t@bucket/p", "s3://bucket/p?versionId=1",
            "gs://bucket/p#123", "s3://bucket/p?"]
    for url in urls:
        for args in (("push", url), ("pull", url), ("verify", "--remote-store", url),
                     ("gc", "--remote", url, "--dry-run"), ("remote", "add", "x", url)):
            r = run_cli(*args, cwd=project)
            _one_line_error(r, 5)
            assert "s3cr3t" not in r.err and "network" not in r.err, (args, r)
        r = run_cli("clone", url, tmp_path / "clone", cwd=tmp_path)
        _one_line_error(r, 5)
        assert "s3cr3t" not in r.err, r
        assert not (tmp_path / "clone").exists()
    assert "s3cr3t" not in (project / ".artstore" / "config").read_text()


def test_a_lazy_version_read_whole_needs_its_remote_no_more(tmp_path):
    """A lazy clone's `download` brings every chunk, yet the version stayed lazy: a push
    to another remote was refused ("run 'artstore fetch' first"), and once origin was
    removed (or gone) `fetch` failed too (exit 3) though all of the data was here."""
    project = _project(tmp_path, {"a.bin": os.urandom(100_000), "b.txt": b"b\n"})
    assert run_cli("push", "../remote", cwd=project).code == 0
    assert run_cli("clone", "--lazy", "remote", "lazy", cwd=tmp_path).code == 0
    lazy = tmp_path / "lazy"
    assert run_cli("download", "ds", tmp_path / "out", cwd=lazy).code == 0
    r = run_cli("push", "../other", cwd=lazy)
    assert r.code == 0 and "pushed 1 version" in r.out, r
    assert run_cli("clone", "other", "c2", cwd=tmp_path).code == 0
    assert run_cli("verify", "--read-data", cwd=tmp_path / "c2").code == 0

    assert run_cli("clone", "--lazy", "remote", "lazy2", cwd=tmp_path).code == 0
    lazy2 = tmp_path / "lazy2"
    assert run_cli("download", "ds", tmp_path / "out2", cwd=lazy2).code == 0
    assert run_cli("remote", "rm", "origin", cwd=lazy2).code == 0
    r = run_cli("fetch", "ds", cwd=lazy2)
    assert r.code == 0, r
    r = run_cli("verify", "--read-data", cwd=lazy2)
    assert r.code == 0 and "lazy" not in r.err, r

    # Only part of it read: still lazy, and the refusal names what to do.
    assert run_cli("clone", "--lazy", "remote", "lazy3", cwd=tmp_path).code == 0
    lazy3 = tmp_path / "lazy3"
    assert run_cli("cat", "ds", "b.txt", cwd=lazy3).out == "b\n"
    _one_line_error(run_cli("push", "../other3", cwd=lazy3), 3)
    assert not (tmp_path / "other3" / "refs").exists()


def _tampered_cases():
    """(label, which object, change) for a version record and a ref that are valid JSON
    of the right shape but name another version, or hold fields the catalog cannot take."""
    return [
        ("record-version", "record", {"version": "9.0.0"}),
        ("record-name", "record", {"name": "other"}),
        ("record-workspace", "record", {"workspace": "evil"}),
        ("record-metadata", "record", {"metadata": "[1, 2]"}),
        ("record-size", "record", {"size": -5}),
        ("record-created", "record", {"created_at": "not a date"}),
        ("record-lineage", "record", {"lineage": [["x"]]}),
        ("record-lineage-run", "record", {"lineage": [["nosuchrun", "produced", "2026-01-01T00:00:00+00:00"]]}),
        ("record-runs", "record", {"runs": [[1, 2]]}),
        ("record-asset-ids", "record", {"asset_ids": 7}),
        ("record-run-id", "record", {"run_id": 5}),
        ("ref-version-id", "ref", {"versions": {"1.0.0": "../../../etc/x"}}),
        ("ref-alias-version-like", "ref", {"aliases": {"1.2.3": "1.0.0"}}),
        ("ref-alias-slash", "ref", {"aliases": {"a/b": "1.0.0"}}),
        ("ref-tag-slash", "ref", {"tags": {"1.0.0": ["a/b"]}}),
        ("ref-tag-int", "ref", {"artifact_tags": [5]}),
        ("ref-tag-unknown-version", "ref", {"tags": {"7.0.0": ["x"]}}),
        ("ref-other-name", "ref", {"name": "zzz"}),
    ]


def test_a_forged_version_record_or_ref_is_damage_and_enters_no_store(tmp_path):
    """Version records (named by version id, not by content) and refs were checked only
    for a few fields: a record naming another version number, artifact or workspace than
    its ref was logged as such (ds:9.0.0 appeared though the ref said 1.0.0); malformed
    lineage, runs or asset ids stopped the pull with an internal error (exit 1); labels,
    metadata, sizes and times the catalog cannot hold entered the store, whose next
    verify called it damaged; and verify --remote-store said all was well."""
    import json
    import shutil

    project = _project(tmp_path)
    assert run_cli("push", "../remote", cwd=project).code == 0
    good = tmp_path / "remote"
    record_path = next((good / "versions").iterdir()).relative_to(good)
    checker = tmp_path / "checker"
    Store.init(checker, workspace="ws").close()
    for label, which, change in _tampered_cases():
        remote = tmp_path / f"remote-{label}"
        shutil.copytree(good, remote)
        path = remote / (record_path if which == "record" else "refs/ws/ds.json")
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
        for lazy in ((), ("--lazy",)):
            r = run_cli("clone", *lazy, remote, tmp_path / "clone", cwd=tmp_path)
            _one_line_error(r, 6)
            assert "malformed" in r.err and ("refs/ws/ds.json" in r.err or str(record_path) in r.err), (label, r)
            assert not (tmp_path / "clone").exists(), label
        r = run_cli("verify", "--remote-store", remote, "--json", cwd=checker)
        assert r.code == 6 and not r.json()["ok"], (label, r)
        shutil.rmtree(remote)
    with Store.open(checker) as s:
        assert s.list_artifacts() == []


def test_a_remote_record_nested_too_deeply_is_damage_naming_it(tmp_path):
    """JSON nested past the parser's depth in a version record or a ref was the CLI's
    "input nests too deeply; simplify it" (exit 5), naming no object, as if the user had
    typed it."""
    import shutil

    project = _project(tmp_path)
    assert run_cli("push", "../remote", cwd=project).code == 0
    good = tmp_path / "remote"
    record = next((good / "versions").iterdir()).relative_to(good)
    deep = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    for key in (record, Path("refs/ws/ds.json")):
        remote = tmp_path / "remote-deep"
        shutil.copytree(good, remote)
        (remote / key).write_text(deep)
        r = run_cli("clone", remote, tmp_path / "clone", cwd=tmp_path)
        _one_line_error(r, 6)
        assert str(key) in r.err and "nested too deeply" in r.err, r
        assert not (tmp_path / "clone").exists()
        shutil.rmtree(remote)


def test_a_remote_gc_grace_of_zero_says_what_to_change_before_sending(tmp_path):
    """remote_gc_grace = 0 (the config accepts it) made every push upload all its packs
    and then stop with "this push ran longer than the remote gc grace period (0 s) ...;
    run the push again", which could never succeed."""
    project = _project(tmp_path)
    config = project / ".artstore" / "config"
    config.write_text(config.read_text().replace("[storage]\n", "[storage]\nremote_gc_grace = 0\n"))
    r = run_cli("push", "../remote", cwd=project)
    _one_line_error(r, 5)
    assert "remote_gc_grace" in r.err and "run the push again" not in r.err, r
    assert not (tmp_path / "remote" / "packs").exists()


def test_a_bucket_prefix_with_empty_or_dot_parts_is_refused(tmp_path):
    """gs://bucket/p//q: the push wrote its objects under p/q, the clone of the same URL
    listed p//q, found nothing and "cloned 0 version(s)" (exit 0). S3 keeps "//" and
    "a/../b" as keys of their own, a prefix no one means: both are refused, up front."""
    project = _project(tmp_path)
    for url in ("gs://bucket/p//q", "s3://bucket//x", "s3://bucket/a/../b", "gs://bucket/./x"):
        for args in (("push", url), ("pull", url), ("remote", "add", "x", url)):
            r = run_cli(*args, cwd=project)
            _one_line_error(r, 5)
            assert "prefix" in r.err, (args, r)
        _one_line_error(run_cli("clone", url, tmp_path / "c", cwd=tmp_path), 5)
        assert not (tmp_path / "c").exists()
    from artstore.sync.transport import open_remote

    for fine in ("s3://bucket", "s3://bucket/", "gs://bucket/a/b/", "s3://bucket/a.b/..c"):
        open_remote(fine)


def test_a_stray_file_among_the_workspaces_of_refs_is_no_workspace(tmp_path):
    """A file directly under refs/ (a hand copy, a sync tool's note) was listed as a
    workspace folder: clone, verify --remote-store and gc --remote then read
    refs/stray.json/stray.json and stopped with exit 4 ("Not a directory")."""
    project = _project(tmp_path)
    assert run_cli("push", "../remote", cwd=project).code == 0
    (tmp_path / "remote" / "refs" / "stray.json").write_text("{}")
    r = run_cli("clone", "remote", "c", cwd=tmp_path)
    assert r.code == 0 and "1 version" in r.out, r
    assert run_cli("verify", "--remote-store", "../remote", cwd=project).code == 0
    assert run_cli("gc", "--remote", "../remote", "--dry-run", cwd=project).code == 0
    assert run_cli("pull", "../remote", cwd=project).code == 0


def test_a_clone_is_never_made_inside_its_file_remote(tmp_path):
    """`artstore clone remote` beside a file remote took the remote's basename as DIR, the
    remote's own folder, and made the store inside it (as did DIR under the remote)."""
    project = _project(tmp_path)
    assert run_cli("push", "../remote", cwd=project).code == 0
    before = sorted(p.name for p in (tmp_path / "remote").iterdir())
    for args, cwd in ((("clone", "remote"), tmp_path), (("clone", "./remote/"), tmp_path),
                      (("clone", f"file://{tmp_path / 'remote'}", "remote/inner"), tmp_path),
                      (("clone", ".", "x"), tmp_path / "remote")):
        _one_line_error(run_cli(*args, cwd=cwd), 5)
        assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == before, args
    r = run_cli("clone", "remote", "copy", cwd=tmp_path)
    assert r.code == 0 and "1 version" in r.out, r


def test_a_clone_killed_midway_is_finished_by_running_it_again(tmp_path):
    """A clone killed after its store was made left a store, and running the clone again
    was refused (exit 4, "a store already exists ... remove it first"): the same clone now
    finishes it; a store that was no unfinished clone is still refused."""
    project = _project(tmp_path, {f"f{i}.bin": os.urandom(150_000) for i in range(4)})
    assert run_cli("push", "../remote", cwd=project).code == 0
    r = run_cli("clone", "remote", "c", cwd=tmp_path, env={"ARTSTORE_FAULT": "pull-before-commit:kill"})
    assert r.code == -9, r
    assert (tmp_path / "c" / ".artstore").exists()
    r = run_cli("clone", "remote", "c", cwd=tmp_path)
    assert r.code == 0 and "1 version" in r.out, r
    assert run_cli("verify", "--read-data", cwd=tmp_path / "c").code == 0
    _one_line_error(run_cli("clone", "remote", "c", cwd=tmp_path), 4)  # finished: an ordinary store now
    _one_line_error(run_cli("clone", "remote", "proj", cwd=tmp_path), 4)


def test_a_local_remote_that_is_a_file_is_no_network_problem(tmp_path):
    """A plain-path remote that is a file (or unreadable) was exit 7 "cannot reach ...;
    check the endpoint and the network": it is the local path that is wrong."""
    project = _project(tmp_path)
    (tmp_path / "afile").write_text("x")
    for args in (("push", "../afile"), ("pull", "../afile"), ("verify", "--remote-store", "../afile"),
                 ("clone", "../afile", "../c")):
        r = run_cli(*args, cwd=project)
        _one_line_error(r, 4)
        assert "network" not in r.err and "afile" in r.err, (args, r)
    assert (tmp_path / "afile").read_text() == "x" and not (tmp_path / "c").exists()


def test_a_workspace_named_dot_or_dotdot_is_refused_before_it_reaches_a_remote(tmp_path):
    """Workspace '..' (accepted by init) put a push's refs at refs/../ds.json, beside
    refs/: "pushed 1 version", and a clone of the remote got 0 versions; '.' put them
    directly under refs/, where no pull looks either."""
    import sqlite3

    for ws in (".", ".."):
        r = run_cli("init", tmp_path / "new", "--workspace", ws, cwd=tmp_path)
        _one_line_error(r, 5)
        assert not (tmp_path / "new" / ".artstore").exists()
    project = _project(tmp_path)
    # A store that got such a workspace before: its push is refused, nothing is sent.
    conn = sqlite3.connect(project / ".artstore" / "catalog.db")
    conn.execute("UPDATE artifacts SET workspace = '..'")
    conn.commit()
    conn.close()
    r = run_cli("push", "../remote", cwd=project)
    _one_line_error(r, 5)
    assert not (tmp_path / "remote" / "packs").exists()


def _forge_leaf(remote, change):
    """Replace the root leaf of the remote's only version by ``change(items)`` of it, in
    a new, correctly named bundle, and point the version record at it (a record is not
    content-addressed, so anyone who can write to the bucket can do this)."""
    import base64
    import json

    import blake3
    import zstandard

    bundle = next((remote / "meta").iterdir())
    rec = json.loads(zstandard.ZstdDecompressor().decompress(bundle.read_bytes()))
    record_path = next((remote / "versions").iterdir())
    version = json.loads(record_path.read_text())
    frame = next(b for d, _l, b in rec["nodes"] if d == version["manifest_digest"])
    fmt, level, items = json.loads(zstandard.ZstdDecompressor().decompress(base64.b64decode(frame)))
    assert level == 0
    data = json.dumps([fmt, level, change(items)], separators=(",", ":")).encode()
    digest = blake3.blake3(data).hexdigest()
    rec["nodes"].append([digest, 0, base64.b64encode(zstandard.ZstdCompressor().compress(data)).decode()])
    rec["nonce"] = "forged"
    z = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(
        json.dumps(rec, sort_keys=True, separators=(",", ":")).encode())
    (remote / "meta" / f"{blake3.blake3(z).hexdigest()}.zst").write_bytes(z)
    record_path.write_text(json.dumps({**version, "manifest_digest": digest}))
    return digest


def test_a_forged_manifest_with_a_bad_or_unordered_path_enters_no_store(tmp_path):
    """A leaf must only hash to its digest, and the version record names any digest: a
    leaf listing '../evil.bin' (or its paths out of order) came in by a clean clone (exit
    0), for 'verify' to call the store damaged afterwards; verify --remote-store said ok."""
    import shutil

    project = _project(tmp_path, {"a.txt": b"a\n", "b.txt": b"b\n", "c.txt": b"c\n"})
    assert run_cli("push", "../remote", cwd=project).code == 0
    changes = {
        "escape": lambda items: [["../evil.bin", *items[0][1:]], *items[1:]],
        "absolute": lambda items: [["/etc/x", *items[0][1:]], *items[1:]],
        "unordered": lambda items: list(reversed(items)),
        "duplicate": lambda items: [items[0], items[0], *items[1:]],
    }
    checker = tmp_path / "checker"
    Store.init(checker, workspace="ws").close()
    for label, change in changes.items():
        remote = tmp_path / f"remote-{label}"
        shutil.copytree(tmp_path / "remote", remote)
        digest = _forge_leaf(remote, change)
        for lazy in ((), ("--lazy",)):
            r = run_cli("clone", *lazy, remote, tmp_path / "c", cwd=tmp_path)
            _one_line_error(r, 6)
            assert digest in r.err, (label, r)
            assert not (tmp_path / "c").exists()
        r = run_cli("verify", "--remote-store", remote, "--json", cwd=checker)
        assert r.code == 6 and any(digest in p["detail"] for p in r.json()["problems"]), (label, r)


def test_verify_remote_store_checks_a_records_totals_against_its_manifest(tmp_path):
    """A record whose asset count or size is not its manifest's was "ok" for verify
    --remote-store and came in by a clean clone, and the store that pulled it then failed
    its own verify (bad-record)."""
    import json
    import shutil

    project = _project(tmp_path)
    assert run_cli("push", "../remote", cwd=project).code == 0
    assert run_cli("verify", "--remote-store", "../remote", cwd=project).code == 0
    for field in ("asset_count", "size"):
        remote = tmp_path / f"remote-{field}"
        shutil.copytree(tmp_path / "remote", remote)
        record_path = next((remote / "versions").iterdir())
        record = json.loads(record_path.read_text())
        record_path.write_text(json.dumps({**record, field: record[field] + 1000}))
        r = run_cli("verify", "--remote-store", remote, "--json", cwd=project)
        assert r.code == 6, (field, r)
        assert any("its manifest holds" in p["detail"] for p in r.json()["problems"]), (field, r)
        # A clone (the whole tree new) refuses it too, rather than make a store verify fails.
        r = run_cli("clone", remote, tmp_path / "c", cwd=tmp_path)
        _one_line_error(r, 6)
        assert "its manifest holds" in r.err and not (tmp_path / "c").exists(), (field, r)


def test_a_file_remote_inside_the_store_directory_is_refused(tmp_path):
    """A remote at ./.artstore/tmp (or anywhere under .artstore) put its objects among the
    store's own files, where local gc empties tmp/ and removes packs it does not know."""
    project = _project(tmp_path)
    for where in ("./.artstore/tmp", "./.artstore", str(project / ".artstore" / "objects" / "x")):
        _one_line_error(run_cli("push", where, cwd=project), 5)
        _one_line_error(run_cli("remote", "add", "x", where, cwd=project), 5)
    assert not (project / ".artstore" / "tmp" / "refs").exists()
    assert not (project / ".artstore" / "packs").exists()


def test_remote_gc_never_deletes_a_file_artstore_did_not_write(tmp_path):
    """A remote pushed into a prefix that already held a user's files had those under
    packs/, meta/ or probes/ marked as unreferenced objects and deleted by the next gc."""
    project = _project(tmp_path)
    remote = tmp_path / "remote"
    write_tree(remote, {"packs/model.tar": b"weights", "meta/notes.txt": b"notes", "probes/README": b"r",
                        "packs/" + "0" * 64 + ".pack.bak": b"x"})
    assert run_cli("push", "../remote", cwd=project).code == 0
    config = project / ".artstore" / "config"
    config.write_text(config.read_text().replace("[storage]\n", "[storage]\nremote_gc_grace = 0\n"))
    for _ in range(2):
        r = run_cli("gc", "--remote", "../remote", "--json", cwd=project)
        assert r.code == 0 and r.json()["marked"] == 0 and r.json()["deleted"] == 0, r
    assert (remote / "packs" / "model.tar").read_bytes() == b"weights"
    assert (remote / "meta" / "notes.txt").exists() and (remote / "probes" / "README").exists()
    assert (remote / "packs" / ("0" * 64 + ".pack.bak")).exists()
    assert run_cli("clone", "remote", "c", cwd=tmp_path).code == 0


def test_a_remote_folder_that_is_gone_is_said_so_not_taken_for_an_empty_remote(tmp_path):
    """A configured file remote whose folder no longer exists (a share not mounted, a
    path mistyped) said "nothing was pushed there yet" to pull, clone, remote gc and
    verify, and sent the user looking for a push; an existing folder without a store
    still says that."""
    project = _project(tmp_path)
    gone, empty = tmp_path / "share" / "remote", tmp_path / "empty"
    empty.mkdir()
    assert run_cli("remote", "add", "origin", gone, cwd=project).code == 0
    assert run_cli("remote", "add", "blank", empty, cwd=project).code == 0
    for args in (["pull"], ["gc", "--remote", "origin"], ["clone", gone, tmp_path / "c1"]):
        r = run_cli(*args, cwd=project)
        _one_line_error(r, 3)
        assert f"the folder {gone} does not exist" in r.err and "mounted" in r.err, r
    r = run_cli("verify", "--remote-store", "origin", "--json", cwd=project)
    assert r.code == 6 and "does not exist" in r.json()["problems"][0]["detail"], r
    for args in (["pull", "blank"], ["clone", empty, tmp_path / "c2"]):
        r = run_cli(*args, cwd=project)
        _one_line_error(r, 3)
        assert "nothing was pushed there yet" in r.err and "does not exist" not in r.err, r
    assert not gone.exists() and not (tmp_path / "c1").exists() and not (tmp_path / "c2").exists()


def test_pull_checks_the_totals_of_a_record_whose_tree_shares_nodes_with_the_store(tmp_path):
    """A record's totals were checked only when its whole tree was new: a version that
    edits one file of a version the store has (most pulls) came in with any asset count
    or size its record gave, and the store then failed its own verify."""
    import json
    import shutil

    files = {f"d{i // 20}/f{i:03d}.txt": f"{i}\n".encode() * (i + 1) for i in range(300)}
    project = _project(tmp_path, files)
    assert run_cli("push", "../remote", cwd=project).code == 0
    team = tmp_path / "team"
    assert run_cli("clone", tmp_path / "remote", team, cwd=tmp_path).code == 0
    (project / "data" / "d3" / "f070.txt").write_bytes(b"edited\n")
    r = run_cli("add", "ds", "data", "--json", cwd=project)
    assert r.code == 0, r
    new_id = r.json()["artifact_version_id"]
    assert run_cli("push", "../remote", cwd=project).code == 0
    for field in ("asset_count", "size"):
        remote = tmp_path / f"remote-{field}"
        shutil.copytree(tmp_path / "remote", remote)
        record_path = remote / "versions" / f"{new_id}.json"
        record = json.loads(record_path.read_text())
        record_path.write_text(json.dumps({**record, field: record[field] + 7}))
        here = tmp_path / f"team-{field}"
        shutil.copytree(team, here)
        r = run_cli("pull", remote, cwd=here)
        _one_line_error(r, 6)
        assert "its manifest holds" in r.err, (field, r)
        with Store.open(here) as store:
            assert len(store.catalog.version_roots()) == 1
            assert store.verify()["ok"]
    r = run_cli("pull", tmp_path / "remote", cwd=team)  # the honest record comes in
    assert r.code == 0, r
    assert run_cli("verify", cwd=team).code == 0


def test_a_local_remote_path_may_hold_any_character_but_a_file_url_no_query(tmp_path):
    """'remote add' refused a plain path holding '?' (a legal folder name) as "a remote URL
    holds no credentials or options", while push/pull given file:///x?y cut the tail off
    silently and wrote to file:///x (the class fixed for buckets, left open for file://)."""
    project = _project(tmp_path)
    odd = tmp_path / "what?#x"
    r = run_cli("remote", "add", "odd", str(odd), cwd=project)
    assert r.code == 0, r
    assert run_cli("push", "odd", cwd=project).code == 0
    assert (odd / "artstore-remote.json").is_file()
    r = run_cli("clone", str(odd), tmp_path / "c", cwd=tmp_path)
    assert r.code == 0, r
    for url in (f"file://{tmp_path}/r?x", f"file://{tmp_path}/r#x", f"file://{tmp_path}/r?"):
        for args in (("push", url), ("pull", url), ("remote", "add", "u", url), ("verify", "--remote-store", url),
                     ("gc", "--remote", url)):
            r = run_cli(*args, cwd=project)
            _one_line_error(r, 5)
            assert "plain path" in r.err, (args, r)
        r = run_cli("clone", url, tmp_path / "d", cwd=tmp_path)
        _one_line_error(r, 5)
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def test_remote_add_checks_the_url_without_making_a_filesystem(tmp_path, monkeypatch):
    """Making a GCS filesystem looks for Google credentials (the metadata server included):
    'remote add origin gs://...' took 16 s on a laptop with none, though it only checks the
    URL. The filesystem is made when a request needs it."""
    from artstore import remote

    def no_filesystem(*_args, **_kwargs):
        raise AssertionError("remote add made a filesystem")

    project = _project(tmp_path)
    monkeypatch.setattr(remote, "filesystem", no_filesystem)
    with Store.open(project) as store:
        for name, url in (("g", "gs://bucket/prefix"), ("s", "s3://bucket/prefix")):
            store.add_remote(name, url)
        assert store.remotes() == {"g": "gs://bucket/prefix", "s": "s3://bucket/prefix"}
        with pytest.raises(AssertionError, match="made a filesystem"):  # a push makes it
            store.push("g")
