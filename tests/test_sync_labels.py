"""Adversarial cases for labels removed across a remote (sync/labels.py): what a push or
pull may remove, and what it must keep, with two or three stores sharing one remote."""

from artstore import Store
from artstore.ingest import InMemory


def _new_store(path, workspace="ws"):
    Store.init(path, workspace=workspace)
    return Store.open(path)


def _labels(store, ref="ds:1.0.0"):
    d = store.describe_ref(ref)
    return sorted(set(d["aliases"]) - {"latest"}), d["tags"], d["artifact_tags"]


def _pair(tmp_path):
    remote = str(tmp_path / "remote")
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"1", "f")])
        a.add_remote("origin", remote)
        a.push()
    Store.clone(remote, tmp_path / "b").close()
    return remote


def test_a_push_does_not_remove_labels_a_teammate_pushed_that_this_store_never_pulled(tmp_path):
    """After a push the ref it wrote was kept as the base, though it holds the labels
    others pushed that this store never had: its next push took them for labels removed
    here and deleted them from the remote."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "b") as b:
        b.add_aliases("ds:1.0.0", ["stage"])
        b.add_version_tags("ds:1.0.0", ["checked"])
        b.set_artifact_tags("ds", ["vision"])
        b.push()
    with Store.open(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"2", "f")])
        a.push()  # unaware of b's labels: they stay, the ref it saw now has them
        a.log("ds", [InMemory(b"3", "f")])
        a.push()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == (["stage"], ["checked"], ["vision"])


def test_a_pull_before_the_push_keeps_a_label_removed_here(tmp_path):
    """The pull put back a label removed here since the last sync (the remote still had
    it as it was), so 'pull, then push' never sent the removal."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.add_aliases("ds:1.0.0", ["prod"])
        a.add_version_tags("ds:1.0.0", ["raw"])
        a.set_artifact_tags("ds", ["old"])
        a.push()
        a.remove_aliases("ds:1.0.0", ["prod"])
        a.remove_version_tags("ds:1.0.0", ["raw"])
        a.set_artifact_tags("ds", [])
        a.pull()
        assert _labels(a) == ([], [], [])
        a.push()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == ([], [], [])


def test_a_push_does_not_put_back_a_label_a_teammate_removed(tmp_path):
    """A push re-sent every label of its versions, so one removed on the remote since the
    last sync (and unchanged here) came back, and the teammate's next pull restored it."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.add_aliases("ds:1.0.0", ["prod"])
        a.add_version_tags("ds:1.0.0", ["raw"])
        a.set_artifact_tags("ds", ["old"])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull()
        assert _labels(b) == (["prod"], ["raw"], ["old"])
    with Store.open(tmp_path / "a") as a:
        a.remove_aliases("ds:1.0.0", ["prod"])
        a.remove_version_tags("ds:1.0.0", ["raw"])
        a.set_artifact_tags("ds", [])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.log("ds", [InMemory(b"2", "f")])
        b.push()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == ([], [], [])
