"""Everyday use: the Comet port with no store set up, project repos, safety, lineage."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli, write_tree

from artstore import Artifact, Conflict, Experiment, Store, userstore

README = Path(__file__).resolve().parent.parent / "README.rst"


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """A working directory with no store above it and a fresh per-user data dir."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("ARTSTORE_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(userstore, "_announced", False)
    return work


def test_experiment_without_a_store_uses_the_per_user_store(nowhere, tmp_path, capsys):
    (nowhere / "f.txt").write_bytes(b"x")
    with Experiment(project_name="p") as exp:
        artifact = Artifact("ds", "dataset")
        artifact.add("f.txt")
        exp.log_artifact(artifact)
    user_dir = tmp_path / "xdg" / "artstore"
    err = capsys.readouterr().err
    assert f"created the per-user store {user_dir / '.artstore'}" in err
    assert err.count("\n") == 1
    with Experiment() as exp:  # named once per process only
        assert exp.get_artifact("ds").version.major == 1
    assert capsys.readouterr().err == ""
    assert Store.open().dir == str(user_dir / ".artstore")

    # The CLI never falls back by itself; --user-store or --store reach the store.
    assert run_cli("versions", "ds", cwd=nowhere).code == 3
    r = run_cli("--user-store", "versions", "ds", "--json", cwd=nowhere)
    assert r.code == 0 and r.json()[0]["version"] == "1.0.0", r
    assert run_cli("--store", user_dir, "versions", "ds", "--json", cwd=nowhere).json()[0]["version"] == "1.0.0"
    assert run_cli("--store", user_dir, "--user-store", "du", cwd=nowhere).code == 2


def test_per_user_store_defaults_to_home_and_explicit_choices_win(nowhere, tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert userstore.user_store_path() == str(tmp_path / "home" / ".local" / "share" / "artstore")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert userstore.user_store_path() == str(tmp_path / "home" / ".local" / "share" / "artstore")
    # A project store, ARTSTORE_DIR or an explicit path is never replaced by the user store.
    Store.init(nowhere / "proj", workspace="ws").close()
    monkeypatch.chdir(nowhere / "proj")
    assert Store.open().dir == str(nowhere / "proj" / ".artstore")
    monkeypatch.chdir(nowhere)
    monkeypatch.setenv("ARTSTORE_DIR", str(nowhere / "missing"))
    with pytest.raises(Exception, match="no artstore store at"):
        Store.open()
    assert not (tmp_path / "home" / ".local").exists()


def test_store_init_twice_with_exist_ok(tmp_path):
    first = Store.init(tmp_path / "p", workspace="ws")
    first.close()
    with pytest.raises(Conflict, match="exist_ok=True"):
        Store.init(tmp_path / "p")
    again = Store.init(tmp_path / "p", exist_ok=True)
    assert again.dir == first.dir and again.workspace == "ws"
    again.close()


def _readme_python():
    text = README.read_text()
    block = text.split("Python\n------", 1)[1].split(".. code-block:: python", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def test_readme_python_example_runs_twice_from_a_fresh_directory(tmp_path):
    code = _readme_python()
    assert "from artstore import" in code and "Store.init" not in code
    work = tmp_path / "fresh"
    write_tree(work, {"data/a.csv": b"1,2\n", "data/b.csv": b"3,4\n", "extra.csv": b"5,6\n"})
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"))
    for attempt in range(2):
        proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, (attempt, proc.stderr)
        assert ("created" if attempt == 0 else "using") + " the per-user store" in proc.stderr
    assert not (work / ".artstore").exists()
    r = run_cli("--user-store", "versions", "mnist", "--json", cwd=work, env=env)
    assert [v["version"] for v in r.json()] == ["1.0.0", "1.1.0", "2.0.0", "2.1.0"]


def test_readme_tells_how_to_put_artstore_on_path():
    text = README.read_text()
    assert re.search(r"pipx? install \.", text) and ".venv/bin" in text


# -- project repos ---------------------------------------------------------------------------


@pytest.fixture
def repo(project):
    """A project repo: data, models, logs, a .git folder and a nested .hg."""
    return write_tree(project, {
        ".git/HEAD": b"ref: refs/heads/main\n", ".git/objects/ab/cdef": b"x" * 100,
        "data/a.csv": b"1\n", "data/b.csv": b"2\n", "data/.hg/store": b"h",
        "logs/run.log": b"log\n", "logs/keep.log": b"keep\n", "build/out.o": b"o",
        "model.pt": b"m" * 1000, "notes.tmp": b"t",
    })


def test_add_leaves_out_vcs_folders_and_excluded_patterns(cli, repo):
    (repo / ".artstoreignore").write_text("# scratch files\n*.tmp\nlogs/*\n!logs/keep.log\n")
    r = cli("add", "proj", ".", "--exclude", "build/", "--json")
    assert r.code == 0, r
    logged = r.json()
    paths = {a["logical_path"] for a in cli("show", "proj", "--json").json()["assets"]}
    assert paths == {".artstoreignore", "data/a.csv", "data/b.csv", "logs/keep.log", "model.pt"}
    assert logged["excluded"] == 6
    assert {os.path.normpath(p) for p in logged["excluded_paths"]} == {
        ".git", ".artstore", "build", "data/.hg", "logs/run.log", "notes.tmp"}
    r = cli("add", "proj", ".", "--exclude", "build/", "--exclude", "data/")
    assert r.code == 0 and "; 6 path(s) excluded (.artstore/, .git/, build/, ...)" in r.out, r


def test_exclude_in_python_and_only_with_patterns_is_pathspec_imported(repo):
    artifact = Artifact("proj", "dataset")
    artifact.add(str(repo / "data"), exclude="b.csv")
    assert [a.logical_path for a in artifact.assets] == ["a.csv"]
    assert [os.path.relpath(p, repo) for p in artifact.excluded_paths] == ["data/.hg", "data/b.csv"]
    code = ("import sys; from artstore import Artifact; a = Artifact('x'); a.add(sys.argv[1]); "
            "assert 'pathspec' not in sys.modules, 'imported'; print(len(a.assets))")
    proc = subprocess.run([sys.executable, "-c", code, str(repo / "data")], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr


def test_type_defaults_to_the_artifacts_own(cli, repo):
    assert cli("add", "churn", "model.pt", "--type", "model").code == 0
    r = cli("add", "churn", "model.pt", "--json")
    assert r.code == 0 and r.json()["type"] == "model", r
    r = cli("add", "churn", "model.pt", "--type", "dataset")
    assert r.code == 4 and "has type 'model', not 'dataset'" in r.err and "--type model" in r.err, r
    assert cli("add", "fresh", "model.pt", "--json").json()["type"] == "dataset"


def test_skip_if_unchanged(cli, repo, store):
    r = cli("add", "m", "model.pt")
    assert r.code == 0 and "identical to" not in r.out
    r = cli("add", "m", "model.pt")
    assert r.code == 0 and "logged ws/m:2.0.0" in r.out and "identical to 1.0.0" in r.out, r
    r = cli("add", "m", "model.pt", "--skip-if-unchanged")
    assert r.code == 0 and r.out.startswith("unchanged: ws/m:2.0.0") and "nothing logged" in r.out, r
    r = cli("add", "m", "model.pt", "--skip-if-unchanged", "--json")
    assert r.json()["skipped"] is True and r.json()["version"] == "2.0.0" and r.json()["identical_to"] == "2.0.0"
    assert [v["version"] for v in cli("versions", "m", "--json").json()] == ["1.0.0", "2.0.0"]
    (repo / "model.pt").write_bytes(b"new")
    r = cli("add", "m", "model.pt", "--skip-if-unchanged", "--json")
    assert r.json()["skipped"] is False and r.json()["version"] == "3.0.0"
    with Experiment(store=store) as exp:
        a = Artifact("m", "dataset")
        a.add(str(repo / "model.pt"))
        logged = exp.log_artifact(a, skip_if_unchanged=True)
        assert logged.skipped and str(logged.version) == "3.0.0"
    assert not os.listdir(repo / ".artstore" / "tmp")


# -- safety ----------------------------------------------------------------------------------


def test_rm_of_an_aliased_version_needs_force_and_takes_several_refs(cli, repo):
    for content in (b"1", b"2", b"3", b"4"):
        (repo / "model.pt").write_bytes(content)
        assert cli("add", "m", "model.pt").code == 0
    assert cli("alias", "m:2.0.0", "production", "best").code == 0
    r = cli("rm", "m:1.0.0", "m:production")
    assert r.code == 4 and "m:2.0.0 holds the alias(es) best, production" in r.err and "--force" in r.err, r
    assert len(cli("versions", "m", "--json").json()) == 4  # all or nothing
    r = cli("rm", "m:1.0.0", "m:3.0.0")
    assert r.code == 0 and r.out.splitlines() == ["removed ws/m:1.0.0", "removed ws/m:3.0.0"], r
    assert cli("rm", "m:latest").code == 0  # latest alone is not protected
    r = cli("rm", "m:production", "--force")
    assert r.code == 0 and "removed ws/m:2.0.0" in r.out
    assert cli("list", "--json").json() == []
    assert cli("rm", "m").code in (3, 5)


def test_download_exact_removes_extra_files_only_inside_dest(cli, repo, tmp_path):
    write_tree(repo / "d", {"a.txt": b"a", "old/b.txt": b"b", "c.txt": b"c"})
    assert cli("add", "ds", "d").code == 0
    (repo / "d" / "old" / "b.txt").unlink()
    (repo / "d" / "old").rmdir()
    (repo / "d" / "c.txt").write_bytes(b"c2")
    assert cli("add", "ds", "d").code == 0
    dest = tmp_path / "dest"
    assert cli("download", "ds:1.0.0", dest).code == 0
    outside = tmp_path / "outside"
    write_tree(outside, {"keep.txt": b"k"})
    os.symlink(outside, dest / "link-to-outside")
    write_tree(dest, {".git/HEAD": b"h", "notes/x.txt": b"x"})
    r = cli("download", "ds:2.0.0", dest, "--overwrite-strategy", "overwrite")
    assert r.code == 0 and "3 extra file(s) in" in r.out and "--exact removes them" in r.out, r
    r = cli("download", "ds:2.0.0", dest, "--exact", "--json")
    assert r.code == 0, r
    assert r.json()["removed"] == ["link-to-outside", "notes/", "notes/x.txt", "old/", "old/b.txt"]
    assert sorted(os.listdir(dest)) == [".git", "a.txt", "c.txt"]
    assert (outside / "keep.txt").read_bytes() == b"k"
    r = cli("download", "ds:2.0.0", dest, "--exact")
    assert r.code == 0 and "extra" not in r.out, r


def test_gc_reports_dead_bytes_kept_below_the_repack_threshold(cli, repo):
    write_tree(repo / "d", {"big.bin": os.urandom(600_000), "small.bin": os.urandom(30_000)})
    assert cli("add", "ds", "d").code == 0
    (repo / "d" / "small.bin").unlink()
    assert cli("add", "ds", "d").code == 0
    assert cli("rm", "ds:1.0.0").code == 0
    r = cli("gc")
    assert r.code == 0 and "of unreferenced data stay in 1 pack(s)" in r.out, r
    assert "'artstore gc --repack-threshold 0' frees them" in r.out
    before = cli("du", "--json").json()["stored_bytes"]
    s = cli("gc", "--repack-threshold", "0", "--json").json()
    assert s["packs_rewritten"] == 1 and s["dead_bytes_kept"] == 0
    assert cli("du", "--json").json()["stored_bytes"] <= before - 30_000
    assert cli("gc", "--repack-threshold", "2").code == 2


def test_add_new_data_and_diff_bytes_new_agree(cli, repo):
    write_tree(repo / "d", {"a.bin": os.urandom(500_000), "b.csv": b"x" * 1000})
    assert cli("add", "ds", "d").code == 0
    with open(repo / "d" / "a.bin", "r+b") as f:
        f.seek(250_000)
        f.write(os.urandom(1000))
    (repo / "d" / "c.csv").write_bytes(os.urandom(70_000))
    logged = cli("add", "ds", "d", "--json").json()
    diff = cli("diff", "ds:1.0.0", "ds:2.0.0", "--json").json()
    assert logged["new_bytes"] == diff["bytes_new"] > 70_000
    text = cli("add", "ds", "d", "--version", "9.0.0").out
    assert "0 B new data stored" in text


# -- lineage ---------------------------------------------------------------------------------


def test_use_records_consumption_and_runs_can_be_fresh_or_named_by_id(cli, repo, store):
    assert cli("add", "ds", "model.pt", "--run", "prepare").code == 0
    r = cli("use", "ds:1.0.0", "--run", "train")
    assert r.code == 0 and r.out.strip() == "train used ws/ds:1.0.0", r
    run_id = re.search(r"run train: ([0-9a-f]{32})", r.err).group(1)
    assert not (repo / "ds").exists()
    graph = cli("lineage", "ds:1.0.0", "--format", "json").json()
    assert [(e["kind"]) for e in graph["edges"]] == ["produced", "consumed"]
    # --run NAME reuses the last run with that name; --new-run starts another; the id names one.
    r = cli("use", "ds", "--run", "train")
    assert f"run train: {run_id};" in r.err
    r = cli("use", "ds", "--run", "train", "--new-run")
    fresh = re.search(r"run train: ([0-9a-f]{32}) \(new\)", r.err).group(1)
    assert fresh != run_id
    assert f"run train: {run_id};" in cli("use", "ds", "--run", run_id).err
    assert f"run train: {fresh};" in cli("use", "ds", "--run", "train").err
    assert len([n for n in cli("lineage", "ds", "--format", "json").json()["nodes"] if n["kind"] == "run"]) == 3
    assert cli("use", "ds", "--run", "x", "--new-run").code == 0
    assert cli("download", "ds", repo / "out", "--new-run").code == 5
    assert store.use("ds", fresh) == "ws/ds:1.0.0"


def test_lineage_text_is_in_time_order_without_doubled_words(cli, repo, store):
    assert cli("add", "raw", "model.pt", "--run", "prepare-2").code == 0
    assert cli("use", "raw", "--run", "train-3").code == 0
    (repo / "model.pt").write_bytes(b"trained")
    assert cli("add", "model", "model.pt", "--run", "train-3", "--type", "model").code == 0
    with Experiment(store=store) as exp:  # an unnamed run
        exp.get_artifact("model")
    lines = cli("lineage", "model", "--format", "text").out.splitlines()
    assert lines[0] == "ws/model:1.0.0"
    assert lines[1:4] == [
        "  run prepare-2 produced version ws/raw:1.0.0",
        "  version ws/raw:1.0.0 was consumed by run train-3",
        "  run train-3 produced version ws/model:1.0.0",
    ]
    assert re.fullmatch(r"  version ws/model:1.0.0 was consumed by run [0-9a-f]{8}", lines[4]), lines
    assert "run run" not in "\n".join(lines)


def test_diff_shows_metadata_changes(cli, repo):
    assert cli("add", "ds", "model.pt", "--meta", "rows=60000", "--meta", "src=kaggle", "--meta", "old=1").code == 0
    assert cli("add", "ds", "model.pt", "--meta", "rows=63000", "--meta", "src=kaggle", "--meta", "new=x").code == 0
    d = cli("diff", "ds:1.0.0", "ds:2.0.0", "--json").json()
    assert d["metadata_changed"] == {"new": [None, "x"], "old": [1, None], "rows": [60000, 63000]}
    out = cli("diff", "ds:1.0.0", "ds:2.0.0").out
    assert "~ metadata rows: 60000 -> 63000" in out and "~ metadata old: 1 -> (none)" in out


# -- CLI and docs polish ---------------------------------------------------------------------


def test_api_reference_lists_only_documented_public_members():
    import inspect

    import artstore

    text = (Path(__file__).resolve().parent.parent / "docs" / "api.rst").read_text()
    missing = []
    for cls_name, members in re.findall(r"autoclass:: artstore\.(\w+)\n(?:   :members: (.*))?", text):
        cls = getattr(artstore, cls_name)
        if not inspect.getdoc(cls):
            missing.append(cls_name)
        for member in filter(None, (m.strip() for m in members.split(","))):
            assert not member.startswith("_"), member
            value = inspect.getattr_static(cls, member, None)
            doc = inspect.getdoc(value.fget if isinstance(value, property) else value) if value is not None else None
            if not doc or doc == inspect.getdoc(object):
                missing.append(f"{cls_name}.{member}")
    assert missing == []


def test_docs_and_docstrings_never_send_users_to_spec_md():
    root = Path(__file__).resolve().parent.parent
    for path in [*root.joinpath("artstore").rglob("*.py"), *root.joinpath("docs").glob("*.rst"), root / "README.rst"]:
        assert "SPEC.md" not in path.read_text(), path


def test_show_json_has_the_run_name_and_shared_keys(cli, repo):
    r = cli("add", "ds", "model.pt", "--run", "prepare", "--json")
    added = r.json()
    show = cli("show", "ds", "--json").json()
    row = cli("versions", "ds", "--json").json()[0]
    assert show["source_run_name"] == row["source_run_name"] == added["source_run_name"] == "prepare"
    for key in ("assets_count", "artifact_version_id", "source_experiment_key", "manifest_digest", "version"):
        assert show[key] == row[key] == added[key], key
    assert isinstance(show["assets"], list) and row["assets"] == 1


def test_shell_completion_of_names_and_refs(cli, repo):
    assert cli("add", "churn", "model.pt", "--alias", "production").code == 0
    assert cli("add", "churn", "model.pt").code == 0
    assert cli("add", "cifar", "model.pt").code == 0

    def complete(*words):
        env = {"_ARTSTORE_COMPLETE": "zsh_complete", "COMP_WORDS": " ".join(("artstore",) + words),
               "COMP_CWORD": str(len(words))}
        out = subprocess.run([sys.executable, "-c", "from artstore.cli import run; run()"], cwd=repo,
                             env=dict(os.environ, **env), capture_output=True, text=True).stdout
        return [line for line in out.splitlines()[1::3]]

    assert complete("show", "ch") == ["churn", "churn:"]
    assert complete("show", "churn:") == ["churn:1.0.0", "churn:2.0.0", "churn:latest", "churn:production"]
    assert complete("diff", "churn:1.0.0", "c") == ["churn", "churn:", "cifar", "cifar:"]
    assert complete("versions", "ci") == ["cifar"]
    help_text = cli("--help").out
    assert "ARTSTORE_DIR" in help_text and "_ARTSTORE_COMPLETE" in help_text
