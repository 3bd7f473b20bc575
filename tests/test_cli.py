"""The CLI through real subprocesses: every command, every JSON shape, every exit code."""

import os
import sqlite3
import subprocess
import sys

import pytest
from conftest import read_tree, run_cli, without_dac_override, write_tree


@pytest.fixture
def data(project):
    return write_tree(project / "data", {
        "a.bin": os.urandom(200_000), "b.txt": b"hello\n", "empty": b"", "sub/c.bin": os.urandom(5000),
    })


def one_line_error(result, code):
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artstore: error: "), result
    assert "Traceback" not in result.err


def test_init_and_refuse_second_init(tmp_path):
    r = run_cli("init", "proj", "--workspace", "team", cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "proj" / ".artstore" / "catalog.db").is_file()
    one_line_error(run_cli("init", "proj", cwd=tmp_path), 4)


def test_no_store_is_not_found(tmp_path):
    one_line_error(run_cli("versions", "x", cwd=tmp_path), 3)
    one_line_error(run_cli("--store", tmp_path / "nowhere", "du", cwd=tmp_path), 3)


def test_store_found_from_subdirectory_and_by_env(project, data, tmp_path):
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    assert run_cli("versions", "ds", "--json", cwd=project / "data" / "sub").json()[0]["version"] == "1.0.0"
    r = run_cli("list", "--json", cwd=tmp_path, env={"ARTSTORE_DIR": str(project)})
    assert r.json()[0]["name"] == "ds"
    r = run_cli("--store", project / ".artstore", "list", "--json", cwd=tmp_path)
    assert r.json()[0]["latest"] == "1.0.0"


def test_add_download_round_trip_and_json_shapes(cli, project, data, tmp_path):
    r = cli("add", "ds", "data", "--alias", "base", "--tag", "raw", "--meta", "n=3", "--meta", "src=x",
            "--json")
    assert r.code == 0, r
    logged = r.json()
    assert logged["version"] == "1.0.0" and logged["metadata"] == {"n": 3, "src": "x"}
    r = cli("download", "ds:base", tmp_path / "out")
    assert r.code == 0, r
    assert read_tree(tmp_path / "out") == read_tree(project / "data")

    (project / "data" / "b.txt").write_bytes(b"changed\n")
    assert cli("add", "ds", "data").code == 0
    assert [set(x) >= {"workspace", "name", "type", "latest", "versions"} for x in cli("list", "--json").json()]
    rows = cli("versions", "ds", "--json").json()
    assert [r["version"] for r in rows] == ["1.0.0", "2.0.0"]
    assert set(rows[0]) >= {"version", "aliases", "tags", "created_at", "size", "assets", "manifest_digest"}
    assert rows[0]["aliases"] == ["base"] and rows[1]["aliases"] == ["latest"] and rows[0]["tags"] == ["raw"]

    show = cli("show", "ds:1.0.0", "--json").json()
    assert set(show) >= {"workspace", "name", "type", "version", "aliases", "tags", "metadata", "size",
                         "manifest_digest", "artifact_version_id", "source_experiment_key", "assets"}
    assert {a["logical_path"] for a in show["assets"]} == {"a.bin", "b.txt", "empty", "sub/c.bin"}
    assert set(show["assets"][0]) >= {"logical_path", "size", "remote", "link", "content_hash", "metadata",
                                      "asset_type", "id"}

    d = cli("diff", "ds:1.0.0", "ds:2.0.0", "--json").json()
    assert d["modified"] == ["b.txt"] and d["added"] == [] and d["removed"] == []
    assert sorted(d["unchanged"]) == ["a.bin", "empty", "sub/c.bin"]
    assert d["bytes_new"] == len(b"changed\n") and d["bytes_shared"] == 205_000

    du = cli("du", "--json").json()
    assert set(du) >= {"logical_bytes", "stored_bytes", "dedup_ratio", "chunks", "files", "versions"}
    assert du["versions"] == 2 and du["dedup_ratio"] > 1.5

    v = cli("verify", "--read-data", "--json")
    assert v.code == 0 and v.json()["ok"] is True and v.json()["problems"] == []
    assert cli("verify", "ds:1.0.0").code == 0


def test_human_output_of_reporting_commands(cli, data):
    cli("add", "ds", "data", "--run", "prep")
    assert "ds" in cli("list").out and "1.0.0" in cli("versions", "ds").out
    assert "a.bin" in cli("show", "ds").out
    assert "dedup ratio" in cli("du").out
    assert cli("verify").out.strip() == "ok"
    assert "prep" in cli("lineage", "ds").out


def test_cat_writes_asset_bytes(cli, project, data):
    cli("add", "ds", "data")
    assert cli("cat", "ds", "b.txt").out == "hello\n"
    import subprocess
    import sys

    raw = subprocess.run([sys.executable, "-m", "artstore", "cat", "ds:latest", "sub/c.bin"], cwd=project,
                         capture_output=True).stdout
    assert raw == (project / "data" / "sub" / "c.bin").read_bytes()
    one_line_error(cli("cat", "ds", "nope.txt"), 3)
    one_line_error(cli("cat", "ds", "../etc/passwd"), 5)


def test_alias_and_tag_commands(cli, data):
    cli("add", "ds", "data")
    cli("add", "ds", "data")
    assert cli("alias", "ds:1.0.0", "prod").code == 0
    assert cli("show", "ds:prod", "--json").json()["version"] == "1.0.0"
    assert cli("alias", "ds:2.0.0", "prod").code == 0  # moves
    assert cli("show", "ds:prod", "--json").json()["version"] == "2.0.0"
    assert cli("show", "ds:1.0.0", "--json").json()["aliases"] == []
    one_line_error(cli("alias", "ds:1.0.0", "latest"), 5)
    one_line_error(cli("alias", "ds:1.0.0", "1.2.3"), 5)
    assert cli("alias", "ds:2.0.0", "prod", "--rm").code == 0
    one_line_error(cli("show", "ds:prod"), 3)
    one_line_error(cli("alias", "ds:2.0.0", "prod", "--rm"), 3)
    assert cli("tag", "ds:1.0.0", "a", "b").code == 0
    assert cli("show", "ds:1.0.0", "--json").json()["tags"] == ["a", "b"]
    assert cli("tag", "ds:1.0.0", "a", "--rm").code == 0
    assert cli("show", "ds:1.0.0", "--json").json()["tags"] == ["b"]
    one_line_error(cli("tag", "ds:1.0.0", "zzz", "--rm"), 3)


def test_rm_and_gc(cli, project, data):
    cli("add", "ds", "data")
    (project / "data" / "a.bin").write_bytes(os.urandom(300_000))
    cli("add", "ds", "data")
    before = cli("du", "--json").json()["stored_bytes"]
    one_line_error(cli("rm", "ds"), 5)
    assert cli("rm", "ds:1.0.0").code == 0
    one_line_error(cli("show", "ds:1.0.0"), 3)
    assert cli("versions", "ds", "--json").json()[0]["aliases"] == ["latest"]
    dry = cli("gc", "--dry-run", "--json").json()
    assert dry["dry_run"] and dry["bytes_freed"] > 0
    assert cli("du", "--json").json()["stored_bytes"] == before
    assert cli("gc").code == 0
    assert cli("du", "--json").json()["stored_bytes"] < before - 150_000
    assert cli("verify", "--read-data").code == 0


def test_lineage_formats(cli, data):
    cli("add", "ds", "data", "--run", "prep")
    cli("download", "ds", "out", "--run", "train")
    g = cli("lineage", "ds", "--format", "json").json()
    kinds = sorted(e["kind"] for e in g["edges"])
    assert kinds == ["consumed", "produced"]
    labels = {n["id"]: n["label"] for n in g["nodes"]}
    produced = [e for e in g["edges"] if e["kind"] == "produced"][0]
    assert labels[produced["from"]] == "prep" and labels[produced["to"]].endswith("ds:1.0.0")
    dot = cli("lineage", "ds", "--format", "dot").out
    assert dot.startswith("digraph") and "->" in dot
    mermaid = cli("lineage", "ds", "--format", "mermaid").out
    assert mermaid.startswith("graph LR") and "-->|produced|" in mermaid


def test_download_overwrite_strategies(cli, project, data, tmp_path):
    cli("add", "ds", "data")
    out = tmp_path / "out"
    write_tree(out, {"b.txt": b"local edit\n", "a.bin": (project / "data" / "a.bin").read_bytes()})
    r = cli("download", "ds", out)
    one_line_error(r, 4)
    assert not (out / "empty").exists(), "nothing may be written when FAIL refuses"
    r = cli("download", "ds", out, "--overwrite-strategy", "preserve")
    assert r.code == 0 and "b.txt" in r.err
    assert (out / "b.txt").read_bytes() == b"local edit\n" and (out / "empty").exists()
    r = cli("download", "ds", out, "--overwrite-strategy", "overwrite", "--json")
    assert r.code == 0 and r.json()["written"] == ["b.txt"]
    assert read_tree(out) == read_tree(project / "data")
    assert cli("download", "ds", out).code == 0  # identical content is fine under fail


def test_download_never_follows_symlink_in_destination(cli, data, tmp_path):
    cli("add", "ds", "data")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "sub")
    one_line_error(cli("download", "ds", out, "--overwrite-strategy", "overwrite"), 4)
    assert os.listdir(outside) == []


def test_error_exit_codes(cli, project, data, tmp_path):
    one_line_error(cli("add", "ds", "missing-dir"), 3)
    one_line_error(cli("add", "bad/name", "data"), 5)
    one_line_error(cli("add", "ds", "data", "--version", "one"), 5)
    one_line_error(cli("add", "ds", "data", "--meta", "novalue"), 5)
    one_line_error(cli("add", "ds", "data", "--as", "../x"), 5)
    (tmp_path / "m.json").write_text("[1, 2]")
    one_line_error(cli("add", "ds", "data", "--metadata", tmp_path / "m.json"), 5)
    (tmp_path / "m.json").write_text("{not json")
    one_line_error(cli("add", "ds", "data", "--metadata", tmp_path / "m.json"), 5)
    assert cli("add", "ds", "data", "--version", "1.0.0").code == 0
    one_line_error(cli("add", "ds", "data", "--version", "1.0.0"), 4)
    one_line_error(cli("add", "ds", "data", "--type", "model"), 4)
    one_line_error(cli("show", "nope"), 3)
    one_line_error(cli("show", "ds:9.9.9"), 3)
    one_line_error(cli("show", "ds:"), 5)
    r = cli("download", "ds", tmp_path / "o", "--overwrite-strategy", "bogus")
    assert r.code == 2 and "Invalid value" in r.err and "Traceback" not in r.err
    assert cli("bogus-command").code == 2


def test_add_file_with_logical_path_and_mixed_sources(cli, project, data):
    r = cli("add", "one", "data/b.txt", "--as", "labels/b.txt", "--json")
    assert r.code == 0
    assert [a["logical_path"] for a in cli("show", "one", "--json").json()["assets"]] == ["labels/b.txt"]
    r = cli("add", "two", "data/sub", "data/b.txt", "--json")
    assert r.code == 0
    assert sorted(a["logical_path"] for a in cli("show", "two", "--json").json()["assets"]) == ["b.txt", "c.bin"]
    one_line_error(cli("add", "three", "data/sub", "data/sub"), 5)


def test_skipped_special_files_are_reported(cli, project, data):
    os.symlink(project / "data" / "sub", project / "data" / "loop")
    os.mkfifo(project / "data" / "pipe")
    r = cli("add", "ds", "data")
    assert r.code == 0
    assert "skipped" in r.err and "loop" in r.err and "pipe" in r.err


def test_damaged_catalog_and_config_are_clear_errors(cli, project, data):
    cli("add", "ds", "data")
    db = project / ".artstore" / "catalog.db"
    cfg = project / ".artstore" / "config"
    cfg_text = cfg.read_text()
    cfg.write_text("[store]\nformat = 1\n")
    one_line_error(cli("list"), 6)
    cfg.write_text("this is not an ini file")
    one_line_error(cli("list"), 6)
    cfg.write_text(cfg_text.replace("format = 1", "format = 99"))
    r = cli("list")
    one_line_error(r, 5)
    assert "upgrade" in r.err
    cfg.write_text(cfg_text)

    saved = db.read_bytes()
    for name in ("catalog.db-wal", "catalog.db-shm"):
        (project / ".artstore" / name).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database at all" * 100)
    r = cli("list")
    one_line_error(r, 6)
    assert "catalog" in r.err
    db.write_bytes(b"")
    one_line_error(cli("list"), 6)
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE unrelated (x)")
    conn.commit()
    conn.close()
    one_line_error(cli("list"), 6)
    db.write_bytes(saved)
    assert cli("list", "--json").json()[0]["name"] == "ds"


def test_newer_catalog_schema_is_refused(cli, project, data):
    conn = sqlite3.connect(project / ".artstore" / "catalog.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    r = cli("list")
    one_line_error(r, 5)
    assert "upgrade artstore" in r.err


def test_version_and_help():
    r = run_cli("--version", cwd=".")
    assert r.code == 0 and "artstore" in r.out
    r = run_cli("--help", cwd=".")
    assert r.code == 0
    for command in ("init", "add", "list", "versions", "show", "download", "cat", "alias", "tag", "diff",
                    "lineage", "du", "verify", "gc", "rm"):
        assert command in r.out
        help_text = run_cli(command, "--help", cwd=".").out
        assert "Example:" in help_text, command


def test_unreadable_source_file(project):
    import subprocess
    import sys

    secret = project / "secret.bin"
    secret.write_bytes(b"top secret")
    secret.chmod(0)
    proc = subprocess.run([sys.executable, "-m", "artstore", "add", "ds", str(secret)], cwd=project,
                          capture_output=True, text=True, preexec_fn=without_dac_override)
    assert proc.returncode == 5, proc
    assert "permission denied" in proc.stderr and "Traceback" not in proc.stderr
    assert run_cli("list", "--json", cwd=project).json() == []


def test_listing_versions_imports_only_what_it_needs(project):
    """Start-up is a target (150 ms): listing versions must not import the chunker, the
    version library, thread pools, OpenSSL or any remote backend."""
    (project / "f").write_bytes(b"x")
    assert run_cli("add", "ds", "f", cwd=project).code == 0
    code = ("import sys\nfrom artstore.cli import main\n"
            "try:\n    main(['versions', 'ds'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "heavy = ('pyfastcdc', 'semantic_version', 'concurrent.futures', 'hashlib', 'sqlite_utils',\n"
            "         'fsspec', 's3fs', 'gcsfs', 'zstandard', 'tqdm')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc
