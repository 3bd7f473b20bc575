"""The Comet-style API: the examples of Comet's Artifacts page, run unchanged but for the import."""

import io
import os
import types

import pytest
import semantic_version
from conftest import read_tree, write_tree

from artstore import Artifact, Conflict, Experiment, InvalidInput, LoggedArtifact, NotFound, Store


@pytest.fixture
def experiment(store):
    with Experiment(api_key="ignored", project_name="mnist", store=store) as exp:
        yield exp


@pytest.fixture
def files(tmp_path):
    return write_tree(tmp_path / "files", {
        "local-file": b"local bytes", "new-file": b"a new file", "dir/a.csv": b"1,2\n", "dir/sub/b.bin": b"\x00" * 10,
    })


def test_comet_log_example(store, files, monkeypatch):
    monkeypatch.chdir(files)
    experiment = Experiment(api_key="<Your API Key>", project_name="<Your Project Name>", store=store)
    artifact = Artifact(name="artifact-name", artifact_type="dataset")
    artifact.add("./local-file")
    logged = experiment.log_artifact(artifact)
    experiment.end()
    assert isinstance(logged, LoggedArtifact)
    assert logged.version == semantic_version.Version("1.0.0")
    assert [a.logical_path for a in logged.assets] == ["local-file"]
    assert len(experiment.get_key()) == 32 and experiment.id == experiment.get_key()
    run = store.run(experiment.id)
    assert run["project"] == "<Your Project Name>" and run["ended_at"] is not None


def test_get_by_version_alias_latest_and_ref_string(experiment, store, files):
    a = Artifact("ds", "dataset", aliases=["best"], metadata={"k": 1}, version_tags=["raw"])
    a.add(str(files / "local-file"))
    first = experiment.log_artifact(a)
    b = Artifact("ds", "dataset")
    b.add(str(files / "new-file"))
    second = experiment.log_artifact(b)
    assert str(second.version) == "2.0.0"
    assert experiment.get_artifact("ds").version == second.version
    assert experiment.get_artifact("ds", version_or_alias="1.0.0").artifact_version_id == first.artifact_version_id
    assert experiment.get_artifact("ds", "ws", version_or_alias="best").version == first.version
    assert experiment.get_artifact("ws/ds:best").version == first.version
    assert experiment.get_artifact("ds:latest").version == second.version
    # A LoggedArtifact is a snapshot, as in Comet: `first` was the latest when logged.
    assert first.aliases == {"best", "latest"}
    assert experiment.get_artifact("ds:1.0.0").aliases == {"best"}
    assert "latest" in experiment.get_artifact("ds").aliases
    assert first.version_tags == {"raw"} and dict(first.metadata) == {"k": 1}
    with pytest.raises(NotFound):
        experiment.get_artifact("ds", version_or_alias="9.0.0")
    with pytest.raises(NotFound):
        experiment.get_artifact("nope")


def test_inspect_assets_like_comet(experiment, files):
    artifact = Artifact("ds", "dataset")
    artifact.add(str(files / "dir"), metadata={"split": "train"})
    artifact.add(b"raw bytes", logical_path="mem/raw.bin")
    artifact.add(io.BytesIO(b"stream"), logical_path="mem/stream.bin", metadata={"from": "io"})
    logged = experiment.log_artifact(artifact)
    got = experiment.get_artifact("ds")
    import blake3

    by_path = {a.logical_path: a for a in got.assets}
    assert set(by_path) == {"a.csv", "sub/b.bin", "mem/raw.bin", "mem/stream.bin"}
    for asset in got.assets:
        assert asset.remote is False and asset.link is None
        assert asset.artifact_version_id == logged.artifact_version_id
        assert asset.artifact_id == logged.id
        assert len(asset.id) == 32
    assert by_path["mem/raw.bin"].content_hash == blake3.blake3(b"raw bytes").hexdigest()
    assert by_path["mem/raw.bin"].size == 9
    assert dict(by_path["a.csv"].metadata) == {"split": "train"}
    assert got.get_asset("mem/stream.bin").metadata["from"] == "io"
    assert got.size == sum(a.size for a in got.assets)
    with pytest.raises(NotFound):
        got.get_asset("missing")


def test_update_flow_stores_only_new_bytes(experiment, store, files, tmp_path):
    artifact = Artifact("artifact-name", "dataset")
    artifact.add(str(files / "dir"))
    artifact.add(os.urandom(300_000), logical_path="big.bin")
    experiment.log_artifact(artifact)
    logged_artifact = experiment.get_artifact("artifact-name")
    local_artifact = logged_artifact.download(str(tmp_path / "input"))
    assert read_tree(tmp_path / "input")["a.csv"] == b"1,2\n"
    local_artifact.add(str(files / "new-file"))
    local_artifact.version = logged_artifact.version.next_minor()
    new = store.log(local_artifact.name, local_artifact.sources(), version=local_artifact.version,
                    artifact_type="dataset", run_id=experiment.id)
    assert new["version"] == "1.1.0"
    assert new["files_read"] == 1, "only the new file is read; downloaded assets come from the stat cache"
    assert new["stored_bytes"] < 2000
    assert {a["logical_path"] for a in store.assets(new["artifact_version_id"])} == {
        "a.csv", "sub/b.bin", "big.bin", "new-file"}


def test_update_flow_via_experiment_and_edited_download(experiment, store, files, tmp_path):
    artifact = Artifact("ds", "dataset")
    artifact.add(str(files / "dir"))
    experiment.log_artifact(artifact)
    local = experiment.get_artifact("ds").download(str(tmp_path / "in"))
    (tmp_path / "in" / "a.csv").write_bytes(b"edited,after,download\n")
    local.version = "1.1.0"
    logged = experiment.log_artifact(local)
    assert logged.get_asset("a.csv").size == len(b"edited,after,download\n"), "an edit after download is kept"
    os.unlink(tmp_path / "in" / "sub" / "b.bin")
    local2 = experiment.get_artifact("ds:1.0.0").download(str(tmp_path / "in2"))
    os.unlink(tmp_path / "in2" / "sub" / "b.bin")
    local2.version = "1.2.0"
    kept = experiment.log_artifact(local2)
    assert kept.get_asset("sub/b.bin").size == 10, "a deleted download still refers to the stored asset"


def test_logged_version_is_immutable(experiment, files):
    artifact = Artifact("ds", "dataset", metadata={"a": 1})
    artifact.add(str(files / "local-file"))
    logged = experiment.log_artifact(artifact)
    with pytest.raises(TypeError):
        logged.metadata["a"] = 2
    with pytest.raises(Conflict):
        artifact.version = "1.0.0"
        experiment.log_artifact(artifact)
    assert experiment.get_artifact("ds").metadata["a"] == 1


def test_add_rules(files):
    artifact = Artifact("ds", "dataset")
    artifact.add(str(files / "local-file"))
    with pytest.raises(InvalidInput, match="overwrite=True"):
        artifact.add(str(files / "new-file"), logical_path="local-file")
    artifact.add(str(files / "new-file"), logical_path="local-file", overwrite=True)
    assert [a.logical_path for a in artifact.assets] == ["local-file"]
    with pytest.raises(InvalidInput, match="logical_path"):
        artifact.add(b"bytes without a name")
    with pytest.raises(InvalidInput):
        artifact.add(12345, logical_path="x")
    with pytest.raises(InvalidInput):
        artifact.add(b"x", logical_path="../escape")
    with pytest.raises(NotFound):
        artifact.add(str(files / "missing"))
    with pytest.raises(InvalidInput, match="binary"):
        artifact.add(io.StringIO("text"), logical_path="t.txt")


class _ReadOnly:
    """A file-like object with read() but no readinto(), yielding text by mistake."""

    def read(self, n):
        return "text"


def test_file_object_returning_text_is_refused_at_log(experiment):
    artifact = Artifact("ds", "dataset")
    artifact.add(_ReadOnly(), logical_path="t.txt")
    with pytest.raises(InvalidInput, match="binary"):
        experiment.log_artifact(artifact)


def test_names_versions_metadata_validation(experiment):
    for bad in ["", "a/b", "a:b", " lead", "x" * 200, "tab\there"]:
        with pytest.raises(InvalidInput):
            Artifact(bad, "dataset")
    with pytest.raises(InvalidInput):
        Artifact("ok", "dataset", version="not-semver")
    with pytest.raises(InvalidInput):
        Artifact("ok", "dataset", aliases=["latest"])
    with pytest.raises(InvalidInput):
        Artifact("ok", "dataset", aliases=["1.0.0"])
    with pytest.raises(InvalidInput, match="JSON object"):
        Artifact("ok", "dataset", metadata=["not", "a", "dict"])
    with pytest.raises(InvalidInput, match="'when'"):
        Artifact("ok", "dataset", metadata={"when": object()})
    a = Artifact("ok", "dataset", version="1.2.3-rc.1+build.5")
    assert a.version == semantic_version.Version("1.2.3-rc.1+build.5")


def test_aliases_move_and_tags_update(experiment, files):
    for _ in range(2):
        a = Artifact("ds", "dataset", aliases=["prod"])
        a.add(str(files / "local-file"))
        experiment.log_artifact(a)
    v1 = experiment.get_artifact("ds:1.0.0")
    v2 = experiment.get_artifact("ds:2.0.0")
    assert "prod" in v2.aliases and "prod" not in v1.aliases
    v1.update_aliases(["prod", "old"])
    assert v1.aliases == {"prod", "old"}
    assert experiment.get_artifact("ds:prod").version == v1.version
    assert "prod" not in experiment.get_artifact("ds:2.0.0").aliases
    with pytest.raises(InvalidInput):
        v1.update_aliases(["bad/alias"])
    v1.update_version_tags(["x", "y"])
    assert v1.version_tags == {"x", "y"}
    v1.update_artifact_tags(["vision"])
    assert experiment.get_artifact("ds:2.0.0").artifact_tags == {"vision"}


def test_lineage_and_source_experiment(store, files):
    with Experiment(project_name="prep", store=store) as producer:
        a = Artifact("ds", "dataset")
        a.add(str(files / "dir"))
        logged = producer.log_artifact(a)
    assert logged.source_experiment_key == producer.get_key()
    assert logged.get_source_experiment().project_name == "prep"
    with Experiment(project_name="train", store=store) as consumer:
        consumer.get_artifact("ds")
        model = Artifact("model", "model")
        model.add(b"weights", logical_path="model.pt")
        consumer.log_artifact(model)
    graph = store.lineage("ds")
    kinds = {(e["kind"]) for e in graph["edges"]}
    assert kinds == {"produced", "consumed"}
    labels = {n["label"] for n in graph["nodes"]}
    assert "ws/model:1.0.0" in labels, "walks down through the consuming run to what it produced"
    shallow = store.lineage("ds", depth=1)
    assert "ws/model:1.0.0" not in {n["label"] for n in shallow["nodes"]}


def test_download_returns_artifact_and_defaults_to_temp_dir(experiment, files):
    a = Artifact("ds", "dataset")
    a.add(str(files / "dir"))
    experiment.log_artifact(a)
    local = experiment.get_artifact("ds").download()
    assert isinstance(local, Artifact) and os.path.isdir(local.download_local_path)
    assert read_tree(local.download_local_path) == read_tree(files / "dir")
    assert local.version is None and local.name == "ds"
    with pytest.raises(Conflict):
        (files / "dir" / "a.csv").write_bytes(b"different")
        experiment.get_artifact("ds").download(str(files / "dir"))
    with pytest.warns(UserWarning, match="kept existing a.csv"):
        experiment.get_artifact("ds").download(str(files / "dir"), overwrite_strategy="PRESERVE")
    assert (files / "dir" / "a.csv").read_bytes() == b"different"
    experiment.get_artifact("ds").download(str(files / "dir"), overwrite_strategy=True)
    assert (files / "dir" / "a.csv").read_bytes() == b"1,2\n"


def test_experiment_opens_store_from_cwd(project, files, monkeypatch):
    monkeypatch.chdir(project)
    with Experiment(project_name="p") as exp:
        a = Artifact("ds", "dataset")
        a.add(str(files / "local-file"))
        assert exp.log_artifact(a).workspace == "ws"
    assert isinstance(Store.open().du(), dict)


def test_metadata_mapping_is_read_only_view():
    assert isinstance(types.MappingProxyType({}), types.MappingProxyType)


def test_same_size_edit_right_after_download_is_not_missed(experiment, files, tmp_path):
    a = Artifact("ds", "dataset")
    a.add(str(files / "dir"))
    experiment.log_artifact(a)
    local = experiment.get_artifact("ds").download(str(tmp_path / "in"))
    (tmp_path / "in" / "a.csv").write_bytes(b"9,9\n")  # same size, same second
    local.version = "1.0.1"
    logged = experiment.log_artifact(local)
    assert logged.get_asset("a.csv").content_hash != experiment.get_artifact("ds:1.0.0").get_asset(
        "a.csv").content_hash


def test_single_asset_download(experiment, files, tmp_path):
    a = Artifact("ds", "dataset")
    a.add(str(files / "dir"))
    experiment.log_artifact(a)
    asset = experiment.get_artifact("ds").get_asset("sub/b.bin")
    target = asset.download(str(tmp_path / "one" / "b.bin"))
    with open(target, "rb") as f:
        assert f.read() == b"\x00" * 10
    default = asset.download()
    assert default.endswith("sub/b.bin") and os.path.getsize(default) == 10
