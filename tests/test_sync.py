"""Remotes: one contract suite for file://, S3 (moto server) and GCS (fake-gcs-server),
real protocol servers on 127.0.0.1: clone, push, pull, dedup on the wire, conflicts,
alias compare-and-swap between processes, kills at every push step, tampered objects."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_tree, run_cli, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_remote import GCS, S3, Local

from artstore import Conflict, Store
from artstore.ingest import InMemory, sources_for_path

# aiohttp (under gcsfs) warns that a multi-megabyte upload body is raw bytes; Python hides
# ResourceWarning by default, the suite's config turns it into an error.
pytestmark = pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")


@pytest.fixture(params=["file", "s3", "gcs"])
def remote_url(request, tmp_path, monkeypatch):
    """A fresh, empty remote on each backend, and the environment that reaches it."""
    if request.param == "s3":
        b = S3(request.getfixturevalue("s3_url"))
    elif request.param == "gcs":
        b = GCS(request.getfixturevalue("gcs_url"))
    else:
        b = Local(tmp_path / "remotes")
    for key, value in b.env.items():
        monkeypatch.setenv(key, value)
    bucket = b.bucket()
    return b.uri(bucket, "team/store")


def _new_store(path, workspace="ws"):
    Store.init(path, workspace=workspace)
    return Store.open(path)


def _log_dir(store, name, root, **kw):
    sources, _ = sources_for_path(str(root))
    return store.log(name, sources, **kw)


def test_push_clone_pull_round_trip_with_dedup_on_the_wire(remote_url, tmp_path):
    files = {"a.csv": b"x,y\n" * 5000, "deep/b.bin": os.urandom(2_000_000), "deep/empty": b"",
             "é t/é.txt": "café\n".encode()}
    write_tree(tmp_path / "data", files)
    with _new_store(tmp_path / "a") as a:
        v1 = _log_dir(a, "ds", tmp_path / "data", aliases=["prod"], version_tags=["raw"],
                      metadata={"rows": 5000}, run_id=a.run_named("prepare"))
        a.log("other", [InMemory(b"small", "s.txt")], artifact_type="model")
        a.set_artifact_tags("ds", ["vision"])
        a.add_remote("origin", remote_url)
        first = a.push()
        assert first["versions"] == 2 and first["packs"] >= 1
    with Store.clone(remote_url, tmp_path / "b") as b:
        d = b.describe_ref("ds:prod")
        assert (d["version"], d["tags"], d["artifact_tags"], d["metadata"]) == ("1.0.0", ["raw"], ["vision"],
                                                                                {"rows": 5000})
        assert d["artifact_version_id"] == v1["artifact_version_id"]
        with Store.open(tmp_path / "a") as a:
            assert b.assets(v1["artifact_version_id"]) == a.assets(v1["artifact_version_id"])
        assert [n["label"] for n in b.lineage("ds:1.0.0")["nodes"]] == ["prepare", "ws/ds:1.0.0"]
        b.download("ds", tmp_path / "out")
        assert read_tree(tmp_path / "out") == files
        assert b.verify(read_data=True)["ok"]
    # An edit sends only its new chunks, and a pull brings only them.
    with open(tmp_path / "data" / "deep" / "b.bin", "r+b") as f:
        f.seek(1_000_000)
        f.write(b"EDIT")
    with Store.open(tmp_path / "a") as a:
        _log_dir(a, "ds", tmp_path / "data")
        second = a.push()
        # One or two chunks of the 2 MB file changed (a chunk is at most 256 KiB).
        assert second["versions"] == 1 and second["bytes_sent"] < 600_000 and second["chunks"] <= 3
    with Store.open(tmp_path / "b") as b:
        got = b.pull()
        assert got["versions"] == 1 and got["bytes_received"] < 600_000
        b.download("ds:2.0.0", tmp_path / "out2")
        assert read_tree(tmp_path / "out2")["deep/b.bin"] == (tmp_path / "data" / "deep" / "b.bin").read_bytes()
        assert b.pull()["versions"] == 0
        assert b.verify(read_data=True)["ok"]


def test_pull_of_one_version_moves_only_its_chunks(remote_url, tmp_path):
    with _new_store(tmp_path / "a") as a:
        for _ in range(5):
            a.log("ds", [InMemory(os.urandom(100_000), "f")])
        a.push(remote_url)
    with _new_store(tmp_path / "b") as b:
        got = b.pull(remote_url, ["ds:3.0.0"])
        assert got["versions"] == 1 and 100_000 <= got["bytes_received"] < 150_000
        assert [v["version"] for v in b.versions("ds")] == ["3.0.0"]
        assert b.verify(read_data=True)["ok"]


def test_same_version_number_with_other_content_is_a_conflict(remote_url, tmp_path):
    with _new_store(tmp_path / "a") as a, _new_store(tmp_path / "b") as b:
        a.log("ds", [InMemory(b"from a", "f")])
        b.log("ds", [InMemory(b"from b", "f")])
        a.push(remote_url)
        with pytest.raises(Conflict, match="pull, then log"):
            b.push(remote_url)
        with pytest.raises(Conflict):
            b.pull(remote_url)
    with Store.clone(remote_url, tmp_path / "c") as c:
        assert b"".join(c.read_asset("ds", "f")) == b"from a"


def test_an_alias_moved_by_someone_else_needs_force(remote_url, tmp_path):
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"1", "f")], aliases=["prod"])
        a.log("ds", [InMemory(b"2", "f")])
        a.push(remote_url)
    with Store.clone(remote_url, tmp_path / "b") as b:
        b.set_aliases("ds:2.0.0", ["prod"])
        b.push()
    with Store.open(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"3", "f")], aliases=["prod"])
        with pytest.raises(Conflict, match="since your last pull"):
            a.push(remote_url)
        a.push(remote_url, force=True)
    with Store.clone(remote_url, tmp_path / "c") as c:
        assert c.describe_ref("ds:prod")["version"] == "3.0.0"


PUSHER = """
import sys
from artstore import Store
from artstore.errors import ArtstoreError
with Store.open(sys.argv[1]) as s:
    s.set_aliases("ds:" + sys.argv[3], ["prod"])
    try:
        s.push(sys.argv[2])
        print("won")
    except ArtstoreError as exc:
        print("lost", exc.exit_code)
"""


def test_two_processes_moving_one_alias_one_wins(remote_url, tmp_path):
    with _new_store(tmp_path / "a") as a:
        for i in range(3):
            a.log("ds", [InMemory(bytes([i]), "f")])
        a.push(remote_url)
    Store.clone(remote_url, tmp_path / "b").close()
    Store.clone(remote_url, tmp_path / "c").close()
    procs = [subprocess.Popen([sys.executable, "-c", PUSHER, str(tmp_path / name), remote_url, version],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for name, version in (("b", "1.0.0"), ("c", "2.0.0"))]
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outcomes == ["lost 4", "won"], outcomes
    with Store.clone(remote_url, tmp_path / "d") as d:
        assert d.describe_ref("ds:prod")["version"] in ("1.0.0", "2.0.0")


@pytest.mark.parametrize("step", ["push-pack", "push-index", "push-meta", "push-version", "push-ref"])
def test_a_push_killed_at_any_step_is_finished_by_the_next(tmp_path, step):
    remote_url = f"file://{tmp_path / 'remote'}"
    project = tmp_path / "a"
    write_tree(tmp_path / "data", {"x.bin": os.urandom(200_000), "y.txt": b"y"})
    with _new_store(project) as a:
        _log_dir(a, "ds", tmp_path / "data", aliases=["prod"])
        a.add_remote("origin", remote_url)
    r = run_cli("push", cwd=project, env={"ARTSTORE_FAULT": f"{step}:kill"})
    assert r.code == -9, r
    # The remote names nothing it lacks: a clone now sees either no version or a whole one.
    clone = run_cli("clone", remote_url, tmp_path / "early", cwd=tmp_path)
    assert clone.code in (0, 3), clone
    if clone.code == 0:
        assert run_cli("verify", "--read-data", cwd=tmp_path / "early").code == 0
    assert run_cli("push", cwd=project).code == 0
    assert run_cli("clone", remote_url, tmp_path / "late", cwd=tmp_path).code == 0
    assert run_cli("verify", "--read-data", cwd=tmp_path / "late").code == 0
    assert read_tree(tmp_path / "data") == _download(tmp_path / "late", "ds:prod", tmp_path / "out")


def _download(project, ref, dest):
    assert run_cli("download", ref, dest, cwd=project).code == 0
    return read_tree(dest)


@pytest.mark.parametrize("target", ["pack", "idx", "meta", "version", "ref"])
def test_a_tampered_remote_object_is_refused_and_nothing_enters(tmp_path, target):
    remote = tmp_path / "remote"
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(100_000), "f"), InMemory(b"small", "g")])
        a.push(f"file://{remote}")
    folder = {"pack": "packs", "idx": "packs", "meta": "meta", "version": "versions", "ref": "refs/ws"}[target]
    suffix = {"pack": ".pack", "idx": ".idx"}.get(target, "")
    victim = next(p for p in sorted((remote / folder).iterdir()) if p.name.endswith(suffix))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with _new_store(tmp_path / "b") as b:
        r = run_cli("pull", f"file://{remote}", cwd=tmp_path / "b")
        assert r.code == 6 and "remote" in r.err and len(r.err.strip().splitlines()) == 1, r
        assert b.catalog.version_roots() == []
        assert b.verify()["ok"]


def test_endpoint_down_is_exit_7_after_a_bounded_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        a.add_remote("origin", "s3://bucket/prefix")
    r = run_cli("push", cwd=tmp_path / "a", timeout=120)
    assert r.code == 7 and len(r.err.strip().splitlines()) == 1, r


class _SilentEndpoint:
    """A TCP endpoint that accepts connections and never answers (a hung proxy or server)."""

    def __enter__(self):
        import socket
        import threading

        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(50)
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _accept(self):
        while True:
            try:
                self.held.append(self.server.accept()[0])
            except OSError:
                return

    def __exit__(self, *exc):
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_endpoint_that_never_answers_is_exit_7_after_the_configured_wait(scheme, tmp_path, monkeypatch):
    """Each request waits ``timeout`` seconds for an answer, a few tries, then one line and
    exit 7 (it took s3fs's and botocore's retries 7.5 minutes before: 5 x 3 x 30 s)."""
    import time

    # (add_remote makes a filesystem here: without an emulator host, gcsfs would look for
    # Google credentials, the metadata server included, for some 15 s)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        a.add_remote("origin", f"{scheme}://bucket/prefix")
    with open(tmp_path / "a" / ".artstore" / "config", "a") as f:
        f.write(f'\n[remote "{scheme}"]\ntimeout = 0.5\n')
    with _SilentEndpoint() as url:
        env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
               "AWS_DEFAULT_REGION": "us-east-1", "STORAGE_EMULATOR_HOST": url}
        started = time.monotonic()
        r = run_cli("push", cwd=tmp_path / "a", env=env, timeout=120)
        took = time.monotonic() - started
    assert r.code == 7 and len(r.err.strip().splitlines()) == 1, r  # gcsfs's traceback is not printed
    # S3: 2 s3fs tries x 2 botocore attempts x 0.5 s; GCS: 6 x 0.5 s + gcsfs's back-off (~33 s).
    assert took < (20 if scheme == "s3" else 60), took


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "3601"])
def test_a_bad_remote_timeout_is_refused_with_one_line(value, tmp_path):
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        a.add_remote("origin", "s3://bucket/prefix")
    with open(tmp_path / "a" / ".artstore" / "config", "a") as f:
        f.write(f'\n[remote "s3"]\ntimeout = {value}\n')
    r = run_cli("push", cwd=tmp_path / "a")
    assert r.code == 5 and "timeout" in r.err and len(r.err.strip().splitlines()) == 1, r
    assert '[remote "s3"]' in r.err, r  # which section to fix (a store may have an s3 and a gs one)


@pytest.mark.parametrize("scheme, option", [("gs", "requests_timeout = 30"), ("gs", "version_aware = false"),
                                            ("gs", "use_listings_cache = true"), ("s3", "config_kwargs = x"),
                                            ("s3", "skip_instance_cache = false")])
def test_an_option_artstore_sets_itself_is_refused_with_one_line(scheme, option, tmp_path, monkeypatch):
    """Given in a [remote ...] section, these were a TypeError from s3fs / gcsfs (exit 1,
    "internal error") or, for requests_timeout, text aiohttp could not compare (exit 7,
    "check the endpoint and the network")."""
    r = _push_with_option(tmp_path, monkeypatch, scheme, option)
    assert r.code == 5 and len(r.err.strip().splitlines()) == 1, r
    assert option.split()[0] in r.err and "set by artstore" in r.err, r


def _push_with_option(tmp_path, monkeypatch, scheme, option):
    """``artstore push`` of a store whose config gives ``option`` in its [remote SCHEME]."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")  # no credential search by add_remote
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        a.add_remote("origin", f"{scheme}://bucket/prefix")
    with open(tmp_path / "a" / ".artstore" / "config", "a") as f:
        f.write(f'\n[remote "{scheme}"]\n{option}\n')
    return run_cli("push", cwd=tmp_path / "a", env={"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9"})


@pytest.mark.parametrize("scheme, option, says", [
    ("s3", "endpoint_ulr = http://127.0.0.1:9", "unknown option 'endpoint_ulr'"),  # a typo sent requests to AWS
    ("s3", "anon = maybe", "give true or false"),
    ("s3", "max_concurrency = many", "give a number"),
    ("s3", "session = mine", "cannot be given in a config file"),
    ("gs", "projcet = research", "unknown option 'projcet'"),
    ("gs", "requester_pays = sometimes", "give true or false"),
])
def test_a_bad_or_unknown_remote_option_is_refused_with_one_line(scheme, option, says, tmp_path, monkeypatch):
    r = _push_with_option(tmp_path, monkeypatch, scheme, option)
    assert r.code == 5 and len(r.err.strip().splitlines()) == 1, r
    assert says in r.err and f'[remote "{scheme}"]' in r.err, r


@pytest.mark.parametrize("text, value", [("false", False), ("no", False), ("0", False), ("off", False),
                                         ("true", True), ("Yes", True), ("1", True), (" on ", True)])
def test_remote_options_from_a_config_file_are_typed(text, value):
    """A config file gives text; s3fs took ``anon = false`` for true (a non-empty string)."""
    from artstore import remote

    fs = remote.filesystem("s3", {"anon": text, "use_ssl": text, "max_concurrency": "4", "profile": "research"})
    assert fs.anon is value and fs.use_ssl is value and fs.max_concurrency == 4
    gs = remote.filesystem("gs", {"token": "anon", "requester_pays": text, "project": "p"})
    assert gs.requester_pays is value and gs.project == "p"


@pytest.mark.parametrize("hidden", [None, "s3fs"])
def test_remote_add_says_at_once_which_extra_is_missing(hidden, tmp_path):
    """The remote is recorded either way (the config may be meant for teammates who have
    the extra); without it here, a note says what to install instead of the first push."""
    with _new_store(tmp_path / "a"):
        pass
    code = (f"import sys\nif {hidden!r}: sys.modules[{hidden!r}] = None\n"
            "sys.argv = ['artstore', 'remote', 'add', 'origin', 's3://bucket/prefix']\n"
            "from artstore.cli import run\nrun()\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "a", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "remote origin -> s3://bucket/prefix\n", r
    if hidden:
        assert r.stderr.count("\n") == 1 and "pip install 'artstore[s3]'" in r.stderr, r
    else:
        assert r.stderr == "", r
    with Store.open(str(tmp_path / "a")) as again:
        assert again.remotes() == {"origin": "s3://bucket/prefix"}


def test_a_slow_gcs_upload_is_not_cut_short_by_the_answer_timeout():
    """The timeout bounds the wait for an answer, not a request's whole time: gcsfs gets an
    aiohttp timeout with no total (a number there limited every upload part to 30 s)."""
    from artstore import remote

    fs = remote.filesystem("gs", {"token": "anon", "timeout": "7"})
    assert fs.requests_timeout.total is None
    assert fs.requests_timeout.sock_read == 7 and fs.requests_timeout.sock_connect == 7


class _StallingProxy(_SilentEndpoint):
    """A TCP proxy to ``target`` that, on each connection, stops reading what the client
    sends once it has passed on ``limit`` bytes: an upload whose peer stopped reading (a
    hung proxy; a link gone dead mid-push looks the same to the sender)."""

    def __init__(self, target, limit=4 << 20):
        import threading

        self.target = target.split("//", 1)[-1].rsplit(":", 1)
        self.limit = limit
        self.stop = threading.Event()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client = self.server.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection((self.target[0], int(self.target[1])))
            self.held += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, self.limit), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src, dst, limit):
        passed = 0
        try:
            while limit is None or passed <= limit:
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)
                passed += len(data)
            self.stop.wait()  # stop reading: the sender's window fills and its sends block
        except OSError:
            return

    def __exit__(self, *exc):
        self.stop.set()
        super().__exit__(*exc)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_upload_the_endpoint_stops_reading_is_exit_7_not_a_hang(scheme, tmp_path, request):
    """The answer timeout starts once a body is sent, and aiohttp bounds no write: a GCS
    push whose upload the endpoint stopped taking waited for ever (S3's sends are bounded
    by botocore's socket timeout). It is exit 7 after a few tries."""
    import time

    backend = S3(request.getfixturevalue("s3_url")) if scheme == "s3" else GCS(request.getfixturevalue("gcs_url"))
    bucket = backend.bucket()
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(20 << 20), "big.bin")])
        a.add_remote("origin", backend.uri(bucket, "p"))
    with open(tmp_path / "a" / ".artstore" / "config", "a") as f:
        f.write(f'\n[remote "{scheme}"]\ntimeout = 1\n')
    with _StallingProxy(backend.url) as url:
        env = {**backend.env, "AWS_ENDPOINT_URL": url, "STORAGE_EMULATOR_HOST": url}
        started = time.monotonic()
        r = run_cli("push", cwd=tmp_path / "a", env=env, timeout=150)
        took = time.monotonic() - started
    assert r.code == 7 and len(r.err.strip().splitlines()) == 1, r
    assert took < 120, took


def test_ctrl_c_while_the_endpoint_hangs_ends_the_push_at_once(tmp_path, monkeypatch):
    """An endpoint that accepts connections and never answers: the push is reading the
    remote (on a thread, beside its planning) when Ctrl-C comes; it exits 130 with one
    line at once, not when the read times out minutes later."""
    import signal
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])  # and never answer
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        a.add_remote("origin", "s3://bucket/prefix")
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.getsockname()[1]}", AWS_ACCESS_KEY_ID="x",
               AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    push = subprocess.Popen([sys.executable, "-m", "artstore", "push"], cwd=tmp_path / "a", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:  # the push is waiting on the endpoint
            time.sleep(0.05)
        assert held, "the push never reached the endpoint"
        time.sleep(0.5)
        push.send_signal(signal.SIGINT)
        _out, err = push.communicate(timeout=15)
    finally:
        push.kill()
        server.close()
    assert push.returncode == 130 and len(err.decode().strip().splitlines()) == 1, err
    assert "interrupted" in err.decode()


def test_remote_commands_and_bad_urls(tmp_path):
    with _new_store(tmp_path / "a"):
        pass
    p = tmp_path / "a"
    assert run_cli("remote", "add", "origin", str(tmp_path / "r"), cwd=p).code == 0
    assert run_cli("remote", "add", "origin", str(tmp_path / "r2"), cwd=p).code == 4
    assert run_cli("remote", "list", "--json", cwd=p).json() == [{"name": "origin", "url": str(tmp_path / "r")}]
    assert "[remote-store \"origin\"]" in (p / ".artstore" / "config").read_text()
    for bad in ("ftp://x/y", "s3://", "s3://key:secret@bucket/p"):
        r = run_cli("remote", "add", "x", bad, cwd=p)
        assert r.code == 5 and len(r.err.strip().splitlines()) == 1, r
    assert run_cli("push", "nosuch", cwd=p).code == 3  # no such artifact (nor remote)
    assert run_cli("pull", cwd=p).code == 3  # nothing pushed to origin yet
    assert run_cli("remote", "rm", "origin", cwd=p).code == 0
    assert run_cli("remote", "rm", "origin", cwd=p).code == 3
    assert run_cli("push", cwd=p).code == 3


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["log-a", "log-b", "push-a", "push-b", "pull-a", "pull-b"]),
                                st.binary(min_size=1, max_size=3000)), min_size=1, max_size=10))
def test_random_log_push_pull_sequences_agree(tmp_path_factory, steps):
    base = tmp_path_factory.mktemp("sync")
    url = f"file://{base / 'remote'}"
    stores = {"a": _new_store(base / "a"), "b": _new_store(base / "b")}
    try:
        for action, data in steps:
            verb, who = action.split("-")
            s = stores[who]
            try:
                if verb == "log":
                    s.log(f"ds-{who}", [InMemory(data, "f")])
                elif verb == "push":
                    s.push(url)
                else:
                    s.pull(url)
            except Conflict:
                raise AssertionError("each store logs its own artifact: no conflict is possible")
            except Exception as exc:
                if verb == "pull" and "no artstore remote" in str(exc):
                    continue
                raise
        for s in stores.values():
            s.push(url)
        for s in stores.values():
            s.pull(url)
        views = [{(v, d["version"], d["manifest_digest"]) for v in ("ds-a", "ds-b") if _has(s, v)
                  for d in s.versions(v)} for s in stores.values()]
        assert views[0] == views[1]
        for s in stores.values():
            assert s.verify(read_data=True)["ok"]
    finally:
        for s in stores.values():
            s.close()


def _has(store, name):
    return store.catalog.get_artifact("ws", name) is not None


def test_a_backend_that_ignores_create_only_writes_is_refused(tmp_path, monkeypatch):
    from artstore.sync import transport

    def careless(self, key, data):  # overwrites whatever is there, as a naive backend would
        full = self._full(key)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        return True

    monkeypatch.setattr(transport.FileTransport, "put_new", careless)
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"x", "f")])
        with pytest.raises(Exception, match="does not honour conditional writes") as caught:
            a.push(f"file://{tmp_path / 'remote'}")
        assert caught.value.exit_code == 5


def test_git_add_in_a_project_tracks_only_the_store_config(tmp_path):
    import shutil

    if shutil.which("git") is None:
        pytest.fail("git is needed for this test (apt-get install git)")
    project = tmp_path / "proj"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    with _new_store(project) as s:
        s.log("ds", [InMemory(b"x" * 1000, "f")])
        s.add_remote("origin", f"file://{tmp_path / 'remote'}")
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=project, capture_output=True,
                            text=True, check=True).stdout.split()
    assert sorted(staged) == [".artstore/.gitignore", ".artstore/config"]


@pytest.mark.parametrize("target", [None, "pack", "idx", "meta", "version", "node-bundle-missing"])
def test_verify_remote_store_finds_damage_and_names_versions(remote_url, tmp_path, target):
    if target not in (None, "pack") and not remote_url.startswith("file://"):
        return  # the damage is made by editing files: file:// only; pack damage runs everywhere
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(200_000), "f"), InMemory(b"small", "g")])
        a.add_remote("origin", remote_url)
        a.push()
        assert a.verify_remote(read_data=True)["ok"]
        if target is None:
            return
        if target == "pack" and not remote_url.startswith("file://"):
            from artstore.sync import transport

            t = transport.open_remote(remote_url, a.remote_options(remote_url.split(":")[0]))
            key = next(k for k in t.list("packs") if k.endswith(".pack"))
            data = bytearray(t.read(f"packs/{key}"))
            data[100] ^= 0xFF
            t.fs.pipe_file(t.path(f"packs/{key}"), bytes(data))
        else:
            remote = remote_url[len("file://"):]
            folder = {"pack": "packs", "idx": "packs", "meta": "meta", "version": "versions",
                      "node-bundle-missing": "meta"}[target]
            suffix = {"pack": ".pack", "idx": ".idx"}.get(target, "")
            victim = next(p for p in sorted(Path(remote, folder).iterdir()) if p.name.endswith(suffix))
            if target == "node-bundle-missing":
                victim.unlink()
            else:
                data = bytearray(victim.read_bytes())
                data[len(data) // 2] ^= 0xFF
                victim.write_bytes(bytes(data))
        # Index and bundle damage is found without reading packs (they are cached once read:
        # a fresh cache, as a teammate would have).
        import shutil

        shutil.rmtree(a.dir + "/remotes", ignore_errors=True)
    r = run_cli("verify", "--remote-store", "origin", "--read-data", "--json", cwd=tmp_path / "a")
    assert r.code == 6, r
    problems = r.json()["problems"]
    assert problems and all(p["kind"].startswith("remote") for p in problems)
    if target in ("pack", "version", "node-bundle-missing"):
        assert any("ws/ds:1.0.0" in p["versions"] for p in problems), problems


@pytest.mark.parametrize("action", ["sigint", "eio"])
def test_pull_interrupted_just_after_its_commit_keeps_the_packs_it_committed(tmp_path, action):
    """As for add and gc: an interruption once the pull's COMMIT went through must not
    delete the packs the pulled versions now reference."""
    remote = tmp_path / "remote"
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(os.urandom(100_000), "f"), InMemory(b"small", "g")])
        a.push(f"file://{remote}")
    with _new_store(tmp_path / "b"):
        pass
    r = run_cli("pull", f"file://{remote}", cwd=tmp_path / "b", env={"ARTSTORE_FAULT": f"catalog-committed:{action}"})
    assert r.code != 0 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
    v = run_cli("verify", "--read-data", cwd=tmp_path / "b")
    assert v.code == 0, v


def test_transport_reads_lists_and_swaps_refs_alike_on_every_backend(remote_url, monkeypatch):
    """The five calls every backend answers, at their edges: a missing object, folder or
    ref; objects beside a sub-folder; a listing longer than one page (S3: two keys a
    request here); a ref replaced only with the token it was read with."""
    from artstore.sync import transport

    monkeypatch.setattr(transport.S3Transport, "PAGE", 2)
    t = transport.open_remote(remote_url)  # the endpoint from the environment, as a user's
    assert t.list("packs") == [] and t.sizes("packs") == {}
    with pytest.raises(FileNotFoundError):
        t.read("packs/nothing")
    assert t.read_ref("refs/ws/ds.json") == (None, None)
    names = [f"p{i}" for i in range(5)]
    for i, name in enumerate(names):
        assert t.put_new(f"packs/{name}", b"x" * (i + 1))
    assert not t.put_new("packs/p0", b"x")  # create-only: left as it was
    assert t.put_new("packs/sub/deeper", b"yy")
    assert t.list("packs") == sorted([*names, "sub"])
    assert t.sizes("packs") == {name: i + 1 for i, name in enumerate(names)}
    assert t.read("packs/p3") == b"xxxx" and t.read_range("packs/p3", 1, 3) == b"xx"
    t.write_ref("refs/ws/ds.json", b"one", None)
    data, token = t.read_ref("refs/ws/ds.json")
    assert data == b"one" and token is not None
    with pytest.raises(Conflict):
        t.write_ref("refs/ws/ds.json", b"two", None)  # it exists now
    t.write_ref("refs/ws/ds.json", b"two", token)
    with pytest.raises(Conflict):
        t.write_ref("refs/ws/ds.json", b"three", token)  # stale: read before "two"
    assert t.read_ref("refs/ws/ds.json")[0] == b"two"
    assert t.list("refs") == ["ws"] and t.list("refs/ws") == ["ds.json"]
    teammate = transport.open_remote(remote_url)  # another process: what it writes is seen at once
    teammate.write_ref("refs/ws/new.json", b"theirs", None)
    teammate.put_new("packs/p9", b"9")
    assert t.list("refs/ws") == ["ds.json", "new.json"] and t.read_ref("refs/ws/new.json")[0] == b"theirs"
    assert "p9" in t.list("packs") and t.sizes("packs")["p9"] == 1
    odd = "w s+é%#?&~'"  # a workspace and artifact name may hold all of these (names.check_name)
    t.write_ref(f"refs/{odd}/{odd}.json", b"odd", None)
    assert t.list("refs") == sorted(["ws", odd]) and t.list(f"refs/{odd}") == [f"{odd}.json"]
    assert t.read_ref(f"refs/{odd}/{odd}.json")[0] == b"odd" and t.read(f"refs/{odd}/{odd}.json") == b"odd"


def _labels(store, ref="ds:1.0.0"):
    d = store.describe_ref(ref)
    return sorted(set(d["aliases"]) - {"latest"}), d["tags"], d["artifact_tags"]


def test_a_label_removed_on_one_side_is_removed_on_the_other(remote_url, tmp_path):
    """Labels merged only, so an alias or tag removed here was put back by the next pull
    (and stayed on the remote for everyone): a removal since the last sync now travels
    both ways (sync/labels.py), as on a server; a label the other side changed since
    stays, and so does one the other side never had."""
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"1", "f")], aliases=["prod", "best"], version_tags=["raw", "keep"])
        a.set_artifact_tags("ds", ["team", "old"])
        a.add_remote("origin", remote_url)
        a.push()
    with Store.clone(remote_url, tmp_path / "b") as b:
        assert _labels(b) == (["best", "prod"], ["keep", "raw"], ["old", "team"])
    with Store.open(tmp_path / "a") as a:  # removed here, pushed: gone from the remote
        a.remove_aliases("ds:1.0.0", ["prod"])
        a.remove_version_tags("ds:1.0.0", ["raw"])
        a.set_artifact_tags("ds", ["team"])
        a.push()
        a.pull()  # and not brought back
        assert _labels(a) == (["best"], ["keep"], ["team"])
    with Store.open(tmp_path / "b") as b:  # the teammate's pull removes them there
        b.pull()
        assert _labels(b) == (["best"], ["keep"], ["team"])
        # b removes "best" while a, unaware, moves it to a new version: a's move is newer.
        b.remove_aliases("ds:1.0.0", ["best"])
    with Store.open(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"2", "f")], aliases=["best"])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.push()
        b.pull()
        assert b.describe_ref("ds:best")["version"] == "2.0.0"
    with Store.clone(remote_url, tmp_path / "c") as c:
        assert c.describe_ref("ds:best")["version"] == "2.0.0"
        assert _labels(c) == ([], ["keep"], ["team"])


def test_a_first_pull_keeps_the_labels_only_this_store_has(tmp_path):
    """With no sync before with a remote (nothing known of its refs), a label it lacks was
    never removed there: it stays here, and the next push sends it."""
    first, second = str(tmp_path / "r1"), str(tmp_path / "r2")
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"1", "f")], version_tags=["raw"])
        a.push(first)
        a.push(second)
    with Store.clone(first, tmp_path / "b") as b:
        b.add_aliases("ds:1.0.0", ["prod"])
        b.remove_version_tags("ds:1.0.0", ["raw"])
        b.add_version_tags("ds:1.0.0", ["mine"])
        b.add_remote("second", second)
        b.pull("second")  # "raw" comes back: this store never saw "second" without it
        assert _labels(b) == (["prod"], ["mine", "raw"], [])
        b.push("second")
    with Store.clone(second, tmp_path / "c") as c:
        assert _labels(c) == (["prod"], ["mine", "raw"], [])
