"""Store remotes on S3 when the request itself is refused or the bucket is not there: the
one-line message must name what the user has to fix."""

from conftest import run_cli, write_tree
from test_remote import S3

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
