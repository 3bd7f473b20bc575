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
