"""Adversarial cases for labels removed across a remote (sync/labels.py): what a push or
pull may remove, and what it must keep, with two or three stores sharing one remote."""

import json
import tempfile
from pathlib import Path

from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artstore import Conflict, Store
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


def _label(store, alias, tag, artifact_tag, ref="ds:1.0.0"):
    """One label of each kind: an alias and a tag on ``ref``, the artifact's only tag."""
    store.add_aliases(ref, [alias])
    store.add_version_tags(ref, [tag])
    store.set_artifact_tags(ref.split(":")[0], [artifact_tag])


def _unlabel(store, alias, tag, ref="ds:1.0.0"):
    """Remove what _label set (the artifact's tags: all of them)."""
    store.remove_aliases(ref, [alias])
    store.remove_version_tags(ref, [tag])
    store.set_artifact_tags(ref.split(":")[0], [])


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
        _label(a, "prod", "raw", "old")
        a.push()
        _unlabel(a, "prod", "raw")
        a.pull()
        assert _labels(a) == ([], [], [])
        a.push()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == ([], [], [])


def _removed_by_a(tmp_path):
    """a labels ds:1.0.0 and pushes, b pulls the labels, then a removes them and pushes:
    the remote URL, b still holding the labels the remote no longer has."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        _label(a, "prod", "raw", "old")
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull()
        assert _labels(b) == (["prod"], ["raw"], ["old"])
    with Store.open(tmp_path / "a") as a:
        _unlabel(a, "prod", "raw")
        a.push()
    return remote


def test_a_push_does_not_put_back_a_label_a_teammate_removed(tmp_path):
    """A push re-sent every label of its versions, so one removed on the remote since the
    last sync (and unchanged here) came back, and the teammate's next pull restored it."""
    remote = _removed_by_a(tmp_path)
    with Store.open(tmp_path / "b") as b:
        b.log("ds", [InMemory(b"2", "f")])
        b.push()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == ([], [], [])



def test_a_pull_before_the_push_keeps_an_alias_moved_here(tmp_path):
    """Remote aliases won on pull even where the remote had not moved the alias since the
    last sync: an alias moved here was moved back by 'pull, then push' (what a refused
    push tells the user to do), and the move never reached the remote."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"2", "f")])
        a.add_aliases("ds:1.0.0", ["prod"])
        a.push()
        a.add_aliases("ds:2.0.0", ["prod"])
        a.pull()
        assert a.describe_ref("ds:prod")["version"] == "2.0.0"
        a.push()
    with Store.open(tmp_path / "b") as b:  # a move there since the last sync still wins
        b.pull()
        assert b.describe_ref("ds:prod")["version"] == "2.0.0"
        b.add_aliases("ds:1.0.0", ["prod"])
        b.push()
    with Store.open(tmp_path / "a") as a:
        a.pull()
        assert a.describe_ref("ds:prod")["version"] == "1.0.0"
    with Store.clone(remote, tmp_path / "c") as c:
        assert c.describe_ref("ds:prod")["version"] == "1.0.0"

ALIASES, TAGS, VERSIONS = ("prod", "stage"), ("t1", "t2"), ("1.0.0", "2.0.0", "3.0.0")
_op = st.one_of(
    st.tuples(st.just("log")),
    st.tuples(st.just("alias"), st.sampled_from(ALIASES), st.sampled_from(VERSIONS + (None,))),
    st.tuples(st.just("tag"), st.sampled_from(VERSIONS), st.sampled_from(TAGS), st.booleans()),
    st.tuples(st.just("atag"), st.sampled_from(TAGS), st.booleans()),
    st.tuples(st.sampled_from(["push", "pull"]), st.sampled_from(((), ("ds:1.0.0",), ("ds:2.0.0",)))),
)


def _state(store):
    from artstore.sync import labels

    got = labels.local_labels(store.catalog, store.catalog.get_artifact("ws", "ds")["id"])
    return _flat(got)


def _flat(doc):
    out = {("alias", a): v for a, v in doc["aliases"].items() if a != "latest"}
    out.update({("tag", v, t): True for v, ts in doc["tags"].items() for t in ts})
    out.update({("atag", t): True for t in doc["artifact_tags"]})
    return out


def _apply(store, op):
    """A user's change to one label; returns the label's key (None when the store lacks
    the version)."""
    state = _state(store)
    art = store.catalog.get_artifact("ws", "ds")["id"]
    version = op[2] if op[0] == "alias" else op[1] if op[0] == "tag" else None
    if version is not None and store.catalog.version_by_number(art, version) is None:
        return None
    if op[0] == "alias":
        _, alias, version = op
        if version is not None:
            store.add_aliases(f"ds:{version}", [alias])
        elif ("alias", alias) in state:
            store.remove_aliases(f"ds:{state[('alias', alias)]}", [alias])
        return ("alias", alias)
    if op[0] == "tag":
        _, version, tag, on = op
        if on:
            store.add_version_tags(f"ds:{version}", [tag])
        elif ("tag", version, tag) in state:
            store.remove_version_tags(f"ds:{version}", [tag])
        return ("tag", version, tag)
    _, tag, on = op
    current = {k[1] for k in state if k[0] == "atag"}
    store.set_artifact_tags("ds", sorted(current | {tag} if on else current - {tag}))
    return ("atag", tag)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.tuples(st.integers(0, 2), _op), max_size=16))
def test_stores_converge_and_keep_every_label_only_one_of_them_changed(ops):
    """Model: three stores share a remote and change labels (aliases set, moved, removed;
    version and artifact tags added, removed) between pushes and pulls (of all versions or
    one) in any order. After a full sync the stores and the remote hold the same labels, and a label changed by
    one store only ends as that store left it (no removal or addition is lost, none comes
    back); a label several changed ends as one of them left it."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        remote = str(tmp / "remote")
        with _new_store(tmp / "a") as a:
            a.log("ds", [InMemory(b"1", "f")], aliases=["prod"], version_tags=["t1"])
            a.log("ds", [InMemory(b"2", "f")])
            a.set_artifact_tags("ds", ["t1"])
            a.add_remote("origin", remote)
            a.push()
        Store.clone(remote, tmp / "b").close()
        Store.clone(remote, tmp / "c").close()
        stores = [Store.open(tmp / n) for n in "abc"]
        try:
            start = _state(stores[0])
            touched = {}
            for who, op in ops:
                s = stores[who]
                if op[0] == "push":
                    try:
                        s.push(refs=op[1])
                    except Conflict:
                        pass  # an alias moved on both sides: refused, as documented
                elif op[0] == "pull":
                    s.pull(refs=op[1])
                elif op[0] == "log":  # only the first store logs (numbers are per store)
                    if stores[0].catalog.version_by_number(
                            stores[0].catalog.get_artifact("ws", "ds")["id"], "3.0.0") is None:
                        stores[0].log("ds", [InMemory(b"3", "f")])
                else:
                    key = _apply(s, op)
                    if key is not None:
                        touched.setdefault(key, set()).add(who)
            final = [_state(s) for s in stores]
            for s in stores + stores[:2]:
                s.pull()
                s.push()
            a, b, c = (_state(s) for s in stores)
            with open(tmp / "remote" / "refs" / "ws" / "ds.json") as f:
                there = _flat(json.load(f))
            assert a == b == c == there
            for key in set(a) | set(start) | set(touched) | {k for f in final for k in f}:
                who = touched.get(key, set())
                if len(who) == 1:
                    (w,) = who
                    assert a.get(key) == final[w].get(key), (key, w)
                elif not who:
                    assert a.get(key) == start.get(key), key
                else:
                    assert a.get(key) in {final[w].get(key) for w in who}, key
        finally:
            for s in stores:
                s.close()


def test_a_version_removed_here_and_pulled_again_keeps_its_labels_everywhere(tmp_path):
    """'artstore rm' of a version the remote still has dropped its aliases and tags here;
    the pull that brought the version back took that for removals of its labels (not put
    back), and the next push deleted them from the remote for everyone."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"2", "f")], aliases=["stage"], version_tags=["raw"])
        a.push()
        a.delete_versions(["ds:2.0.0"], force=True)
        a.pull()
        assert _labels(a, "ds:2.0.0")[:2] == (["stage"], ["raw"])
        a.log("ds", [InMemory(b"3", "f")])
        a.push()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c, "ds:2.0.0")[:2] == (["stage"], ["raw"])


def test_a_push_that_loses_the_compare_and_swap_merges_labels_again(tmp_path, monkeypatch):
    """Two pushers at once: the one whose compare-and-swap loses re-reads the ref and
    decides removals again against it, so the other's removal is not undone and its own
    removal still lands."""
    from artstore.sync import transport

    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.add_aliases("ds:1.0.0", ["prod", "best"])
        a.add_version_tags("ds:1.0.0", ["raw"])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull()
        b.remove_aliases("ds:1.0.0", ["prod"])
    real, raced = transport.FileTransport.write_ref, []

    def write_ref(self, key, data, token):
        if not raced:  # b's push lands between a's read of the ref and a's swap
            raced.append(1)
            with Store.open(tmp_path / "b") as b:
                b.push()
        return real(self, key, data, token)

    with Store.open(tmp_path / "a") as a:
        a.remove_version_tags("ds:1.0.0", ["raw"])
        monkeypatch.setattr(transport.FileTransport, "write_ref", write_ref)
        a.push()
        monkeypatch.undo()
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == (["best"], [], [])


def test_a_remote_name_pointed_at_another_remote_removes_nothing_on_its_first_sync(tmp_path):
    """The base was kept per remote name: 'remote remove origin' then 'remote add origin'
    with another URL (a move to a new bucket) compared the new remote with the old one's
    base, and a label the new remote never had was taken for one removed there and
    deleted here by the pull."""
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    with _new_store(tmp_path / "a") as a:
        a.log("ds", [InMemory(b"1", "f")])
        a.push(new)  # the new remote gets the version before its labels
        a.add_aliases("ds:1.0.0", ["prod"])
        a.add_version_tags("ds:1.0.0", ["raw"])
        a.set_artifact_tags("ds", ["team"])
        a.add_remote("origin", old)
        a.push()
        a.remove_remote("origin")
        a.add_remote("origin", new)
        a.pull()
        assert _labels(a) == (["prod"], ["raw"], ["team"])


def test_a_damaged_label_base_is_no_base(tmp_path):
    """The kept base is a local file; one damaged (a bad write, a hand edit) made push
    and pull fail with a traceback. It counts as no base: nothing is removed, and the
    next sync writes it again."""
    import glob
    import json as json_

    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.add_aliases("ds:1.0.0", ["prod"])
        a.push()
        (path,) = glob.glob(str(tmp_path / "a" / ".artstore" / "label-base" / "**" / "*.json"),
                            recursive=True)
        for bad in ({"aliases": [], "tags": {}, "artifact_tags": []}, {"aliases": {}, "tags": {"1.0.0": "x"}},
                    {"aliases": {"prod": 1}, "artifact_tags": 3}):
            with open(path, "w") as f:
                json_.dump({**bad, "url": "file://" + remote}, f)
            a.push()
            with open(path, "w") as f:
                json_.dump({**bad, "url": "file://" + remote}, f)
            a.pull()
        assert _labels(a) == (["prod"], [], [])


def test_a_push_does_not_move_back_an_alias_this_store_never_took(tmp_path):
    """A teammate moved an alias to a version this store has not pulled (a pull of one
    version): the alias could not move here, yet the ref kept as 'last seen' had the
    move, so the next push took the alias here for the newer one and moved it back,
    with no --force and no conflict."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.add_aliases("ds:1.0.0", ["prod"])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull()
        b.log("ds", [InMemory(b"2", "f")], aliases=["prod"])
        b.push()
    with Store.open(tmp_path / "a") as a:
        a.pull(refs=["ds:1.0.0"])
        a.add_version_tags("ds:1.0.0", ["checked"])
        try:
            a.push()
        except Conflict:
            pass  # refused, as a move there since the last pull is
    with Store.clone(remote, tmp_path / "c") as c:
        assert c.describe_ref("ds:prod")["version"] == "2.0.0"


def test_a_remote_given_by_its_url_shares_the_base_of_its_name(tmp_path):
    """A push or pull naming the remote by URL kept its own base (none at first), so a
    teammate's removal was not taken by 'pull URL' and the 'push URL' after it sent the
    label back to the remote."""
    remote = _pair(tmp_path)
    with Store.open(tmp_path / "a") as a:
        a.add_version_tags("ds:1.0.0", ["raw"])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull()
        b.remove_version_tags("ds:1.0.0", ["raw"])
        b.push()
    with Store.open(tmp_path / "a") as a:
        a.pull(remote)
        assert _labels(a) == ([], [], [])
        a.push(remote)
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == ([], [], [])


def test_push_says_when_it_only_moved_labels_or_found_the_remote_up_to_date(tmp_path):
    """A push that sent no version said only "pushed 0 version(s)", whether it removed a
    label for the whole team or did nothing at all."""
    remote = _pair(tmp_path)
    r = run_cli("push", cwd=tmp_path / "a")
    assert r.code == 0 and r.out.strip().endswith("; the remote was up to date"), r
    assert run_cli("alias", "ds:1.0.0", "prod", cwd=tmp_path / "a").code == 0
    r = run_cli("push", cwd=tmp_path / "a")
    assert r.code == 0 and r.out.strip().endswith("; labels updated on 1 artifact(s)"), r
    assert run_cli("alias", "ds:1.0.0", "prod", "--rm", cwd=tmp_path / "a").code == 0
    r = run_cli("push", "--json", cwd=tmp_path / "a")
    assert r.code == 0 and r.json()["versions"] == 0 and r.json()["refs"] == 1, r
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == ([], [], [])


def test_remote_remove_drops_what_was_cached_of_the_remote(tmp_path):
    """'remote remove' left .artstore/remotes/NAME/ (indexes, bundles, the refs last seen)
    behind for good."""
    _pair(tmp_path)
    cache = tmp_path / "a" / ".artstore" / "remotes" / "origin"
    assert cache.is_dir()
    assert run_cli("remote", "rm", "origin", cwd=tmp_path / "a").code == 0
    assert not cache.exists()


def test_a_remote_made_again_at_the_same_url_removes_no_label_it_never_had(tmp_path):
    """The label base was kept by URL alone: after the remote's prefix was wiped and a
    teammate who never had this store's labels pushed there afresh, the next pull took
    every label the new remote lacked for one removed there, and deleted it here (and
    the push after that did not send it back). A remote made again has a new id in its
    format record, and a base of another remote is none."""
    import shutil

    remote = _pair(tmp_path)  # b cloned before a labels ds:1.0.0
    with Store.open(tmp_path / "a") as a:
        _label(a, "prod", "gold", "vision")
        a.push()
    shutil.rmtree(remote)
    with Store.open(tmp_path / "b") as b:
        b.push(remote)  # the remote made again, by the store that never had the labels
    with Store.open(tmp_path / "a") as a:
        a.pull()
        assert _labels(a) == (["prod"], ["gold"], ["vision"])
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull(remote)
        assert _labels(b) == (["prod"], ["gold"], ["vision"])
    # On the same remote the base still works: a removal travels.
    with Store.open(tmp_path / "a") as a:
        _unlabel(a, "prod", "gold")
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull(remote)
        assert _labels(b) == ([], [], [])


def test_a_remote_made_before_remote_ids_still_keeps_its_label_base(tmp_path):
    """A remote whose format record has no id (made by an earlier release) keeps working:
    its base is saved and matched with no id, and a removal still travels."""
    remote = tmp_path / "remote"
    _pair(tmp_path)
    (remote / "artstore-remote.json").write_text('{"artstore_remote_format":1}')
    with Store.open(tmp_path / "a") as a:
        _label(a, "prod", "gold", "vision")
        a.push()
    with Store.open(tmp_path / "b") as b:
        b.pull()
        assert _labels(b) == (["prod"], ["gold"], ["vision"])
        _unlabel(b, "prod", "gold")
        b.push()
    with Store.open(tmp_path / "a") as a:
        a.pull()
        assert _labels(a) == ([], [], [])


def test_a_format_record_whose_id_is_not_text_is_damage(tmp_path):
    remote = tmp_path / "remote"
    _pair(tmp_path)
    (remote / "artstore-remote.json").write_text('{"artstore_remote_format":1,"id":{"x":1}}')
    r = run_cli("pull", cwd=tmp_path / "b")
    assert r.code == 6 and "damaged artstore-remote.json" in r.err and len(r.err.strip().splitlines()) == 1, r


def test_push_force_puts_back_labels_a_teammate_removed(tmp_path):
    """--force makes this store's labels win (it already moved an alias back over a
    teammate's move): labels removed there since the last sync, still held here, go back
    up. Without it the removal is kept (test above)."""
    remote = _removed_by_a(tmp_path)
    with Store.open(tmp_path / "b") as b:
        b.push(force=True)
        assert _labels(b) == (["prod"], ["raw"], ["old"])
    with Store.clone(remote, tmp_path / "c") as c:
        assert _labels(c) == (["prod"], ["raw"], ["old"])
    with Store.open(tmp_path / "a") as a:  # and the teammate's next pull takes them back
        a.pull()
        assert _labels(a) == (["prod"], ["raw"], ["old"])
