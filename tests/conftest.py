import json
import os
import signal
import subprocess
import sys

import pytest

from artstore import Store

# A runner that starts the suite in the background (`nohup make test &`, some CI agents)
# leaves SIGINT ignored, and every child inherits an ignored signal across exec: the
# Ctrl-C tests' artstore processes would then never see their interrupt (exit 0, not 130).
# Python resets a handled signal to the default in its children, which is what a user's
# terminal gives them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Keep lock waits short in tests that provoke them; a test that wants a longer wait sets it.
os.environ.setdefault("ARTSTORE_LOCK_TIMEOUT", "10")
os.environ.pop("ARTSTORE_DIR", None)
os.environ.pop("ARTSTORE_FAULT", None)


@pytest.fixture(autouse=True)
def _user_store_in_tmp(tmp_path_factory, monkeypatch):
    """Never let a test reach the real per-user store under ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg-data"))


@pytest.fixture
def project(tmp_path):
    """A project directory with an initialised store."""
    root = tmp_path / "proj"
    root.mkdir()
    Store.init(root, workspace="ws").close()
    return root


@pytest.fixture
def store(project):
    s = Store.open(project)
    yield s
    s.close()


def write_tree(root, files):
    """Create files {relative path: bytes} under root."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root):
    """{relative posix path: bytes} of every regular file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, root).replace(os.sep, "/")] = f.read()
    return out


class CLIResult:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"<exit {self.code} out={self.out[:300]!r} err={self.err[:300]!r}>"


def run_cli(*args, cwd, env=None, input=None, timeout=120):
    """Run `python -m artstore ARGS` in a real subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "artstore", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, input=input, timeout=timeout,
    )
    return CLIResult(proc)


@pytest.fixture
def cli(project):
    def call(*args, **kw):
        kw.setdefault("cwd", project)
        return run_cli(*args, **kw)

    return call


def without_dac_override():
    """preexec_fn: run a child without the capabilities that let root ignore file
    permissions, so permission tests mean the same as root (CI) and as a user."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.fixture(scope="session")
def s3_url():
    """A moto S3 server on 127.0.0.1 for the session (test_remote, test_sync)."""
    from test_remote import start_moto

    server, url = start_moto()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def gcs_url():
    """A fake-gcs-server on 127.0.0.1 for the session (test_remote, test_sync)."""
    from test_remote import start_fake_gcs, stop_fake_gcs

    server, url = start_fake_gcs()
    yield url
    stop_fake_gcs(server)


def craft_version(catalog_path, artifact_name, logical_path, file_digest, size):
    """Insert version 9.0.0 of ``artifact_name`` holding one asset at ``logical_path``, as
    an older release or a hostile copy of a store could hold it (no checks on the way)."""
    import sqlite3
    import uuid

    import zstandard

    from artstore import tree

    text = tree.entry_text(logical_path, size, file_digest, "{}", None, None, None)
    root, nodes = tree.build([(logical_path, text)])
    conn = sqlite3.connect(catalog_path)
    conn.executemany("INSERT OR IGNORE INTO nodes (digest, level, data) VALUES (?, ?, ?)",
                     [(d, level, zstandard.compress(raw)) for d, (level, raw) in nodes.items()])
    art = conn.execute("SELECT id FROM artifacts WHERE name = ?", (artifact_name,)).fetchone()[0]
    conn.execute("INSERT INTO versions (id, artifact_id, version, created_at, metadata, manifest_digest, size, "
                 "asset_count, local_size) VALUES (?, ?, '9.0.0', '2026-01-01T00:00:00+00:00', '{}', ?, ?, 1, ?)",
                 (uuid.uuid4().hex, art, root.hex(), size, size))
    conn.commit()
    conn.close()
