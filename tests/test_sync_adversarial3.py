"""Store remotes on S3 when the request itself is refused or the bucket is not there: the
one-line message must name what the user has to fix."""

import uuid

import pytest
from conftest import run_cli, write_tree
from test_remote import GCS, S3

from artstore import Store


def _pushed(tmp_path, s3_url, monkeypatch):
    """A project pushed to a fresh S3 store remote (moto, no auth yet): (project, url)."""
    backend = S3(s3_url)
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    url = backend.uri(backend.bucket(), "team/store")
    project = tmp_path / "proj"
    write_tree(project / "data", {"a.txt": b"a\n", "b.txt": b"b\n"})
    Store.init(project, workspace="ws").close()
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    r = run_cli("push", url, cwd=project)
    assert r.code == 0, r
    return project, url


def test_refused_credentials_are_named_on_push_pull_clone_verify(s3_url, tmp_path, monkeypatch):
    """A store remote read by GetObject and ListObjectsV2 gets S3's own error (Access
    Denied, InvalidAccessKeyId), not a HEAD's bare 403 "Forbidden": both are still a
    refusal of the credentials, never advice to check the endpoint and the network."""
    project, url = _pushed(tmp_path, s3_url, monkeypatch)
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server now checks keys
    for args in (("push", url), ("pull", url), ("verify", "--remote-store", url),
                 ("clone", url, tmp_path / "clone")):
        r = run_cli(*args, cwd=project)
        assert r.code == 7, (args, r)
        assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, (args, r)
        assert "credentials" in r.err and "network" not in r.err, (args, r)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_push_to_a_bucket_that_does_not_exist_says_so(scheme, request, tmp_path, monkeypatch):
    """A typo in the bucket of a push's URL is exit 7 naming the bucket, as for a pull;
    the first write's FileNotFoundError is not a local disk's ("check the disk")."""
    backend = S3(request.getfixturevalue("s3_url")) if scheme == "s3" else GCS(request.getfixturevalue("gcs_url"))
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "proj"
    write_tree(project / "data", {"a.txt": b"a\n"})
    Store.init(project, workspace="ws").close()
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    r = run_cli("push", backend.uri("no-such-bucket-" + uuid.uuid4().hex[:8], "team/store"), cwd=project)
    assert r.code == 7, r
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
    assert "bucket" in r.err and "disk" not in r.err, r


def test_a_local_pack_gone_before_its_upload_is_not_a_missing_bucket(s3_url, tmp_path, monkeypatch):
    """Only the remote's FileNotFoundError names the bucket: the local file sent being
    gone (a pack removed by hand between the plan and the upload) stays a local error."""
    from artstore.sync.transport import open_remote

    backend = S3(s3_url)
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    transport = open_remote(backend.uri(backend.bucket(), "team/store"))
    with pytest.raises(FileNotFoundError):
        transport.put_new_file("packs/x.pack", str(tmp_path / "gone.pack"))


def test_an_artifact_name_holding_versionid_reaches_s3_whole(s3_url, tmp_path, monkeypatch):
    """Names may hold '?' and '=': s3fs reads "?versionId=" in a path as an object
    version and cuts it off the key, so ref "refs/ws/m?versionId=1.json" was written as
    "refs/ws/m", which a pull (it takes refs ending in .json) never saw, and
    "m?versionId=2" overwrote the same object. Refs name their keys exactly."""
    from artstore.ingest import InMemory

    backend = S3(s3_url)
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    url = backend.uri(backend.bucket(), "team/store")
    names = ["m?versionId=1", "m?versionId=2"]
    Store.init(tmp_path / "a", workspace="ws").close()
    with Store.open(tmp_path / "a") as a:
        for name in names:
            a.log(name, [InMemory(name.encode(), "f.txt")])
        a.push(url)
    with Store.clone(url, tmp_path / "c") as c:
        assert sorted(art["name"] for art in c.list_artifacts()) == names
        assert c.verify(read_data=True)["ok"]
