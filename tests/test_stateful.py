"""A stateful hypothesis test: log / alias / tag / rm / gc / download against a dict model."""

import os
import shutil
import tempfile

import hypothesis.strategies as st
import semantic_version
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from artstore import Conflict, NotFound, Store
from artstore.ingest import InMemory

NAMES = st.sampled_from(["ds", "model"])
ALIASES = st.sampled_from(["prod", "best", "old"])
TAGS = st.sampled_from(["raw", "clean", "x"])
BLOBS = [b"", b"alpha", b"beta" * 1000, bytes(range(256)) * 300]
FILES = st.dictionaries(st.sampled_from(["a", "b/c", "d.bin"]), st.sampled_from(range(len(BLOBS))), max_size=3)


class CatalogMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="artstore-state-")
        self.store = Store.init(self.dir, workspace="ws")
        # model: name -> {version string: {"files": dict, "aliases": set, "tags": set}}
        self.model = {}

    def teardown(self):
        result = self.store.verify(read_data=True)
        self.store.close()
        assert result["ok"], result
        shutil.rmtree(self.dir, ignore_errors=True)

    def _versions(self, name):
        return sorted(self.model.get(name, {}), key=semantic_version.Version)

    @rule(name=NAMES, files=FILES, explicit=st.none() | st.sampled_from(["0.5.0", "1.0.0", "3.1.4"]))
    def log(self, name, files, explicit):
        files = {path: BLOBS[i] for path, i in files.items()}
        sources = [InMemory(data, path) for path, data in files.items()]
        existing = self._versions(name)
        if explicit is not None and explicit in existing:
            try:
                self.store.log(name, sources, version=explicit)
            except Conflict:
                return
            raise AssertionError("logging an existing version must conflict")
        v = self.store.log(name, sources, version=explicit)
        expected = explicit or (str(semantic_version.Version(existing[-1]).next_major()) if existing else "1.0.0")
        assert v["version"] == expected
        self.model.setdefault(name, {})[expected] = {"files": dict(files), "aliases": set(), "tags": set()}

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data(), alias=ALIASES)
    def set_alias(self, data, alias):
        name = data.draw(st.sampled_from(sorted(n for n in self.model if self.model[n])))
        version = data.draw(st.sampled_from(self._versions(name)))
        self.store.add_aliases(f"{name}:{version}", [alias])
        for v in self.model[name].values():
            v["aliases"].discard(alias)
        self.model[name][version]["aliases"].add(alias)

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data(), tag=TAGS, remove=st.booleans())
    def tag(self, data, tag, remove):
        name = data.draw(st.sampled_from(sorted(n for n in self.model if self.model[n])))
        version = data.draw(st.sampled_from(self._versions(name)))
        entry = self.model[name][version]
        if remove:
            try:
                self.store.remove_version_tags(f"{name}:{version}", [tag])
            except NotFound:
                assert tag not in entry["tags"]
                return
            entry["tags"].discard(tag)
        else:
            self.store.add_version_tags(f"{name}:{version}", [tag])
            entry["tags"].add(tag)

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data())
    def rm(self, data):
        name = data.draw(st.sampled_from(sorted(n for n in self.model if self.model[n])))
        version = data.draw(st.sampled_from(self._versions(name)))
        self.store.delete_version(f"{name}:{version}", force=True)
        del self.model[name][version]
        if not self.model[name]:
            del self.model[name]

    @rule()
    def gc(self):
        self.store.gc()

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data(), by_alias=st.booleans())
    def download(self, data, by_alias):
        name = data.draw(st.sampled_from(sorted(n for n in self.model if self.model[n])))
        version = data.draw(st.sampled_from(self._versions(name)))
        ref = f"{name}:{version}"
        aliases = sorted(self.model[name][version]["aliases"])
        if by_alias and aliases:
            ref = f"{name}:{aliases[0]}"
        dest = tempfile.mkdtemp(dir=self.dir)
        self.store.download(ref, dest)
        got = {}
        for dirpath, _d, names in os.walk(dest):
            for n in names:
                full = os.path.join(dirpath, n)
                with open(full, "rb") as f:
                    got[os.path.relpath(full, dest)] = f.read()
        assert got == self.model[name][version]["files"]
        shutil.rmtree(dest)

    @invariant()
    def catalog_matches_model(self):
        listed = {a["name"]: a for a in self.store.list_artifacts()}
        assert set(listed) == set(self.model)
        for name, versions in self.model.items():
            rows = self.store.versions(name)
            order = self._versions(name)
            assert [r["version"] for r in rows] == order
            for r in rows:
                expected = set(versions[r["version"]]["aliases"])
                if r["version"] == order[-1]:
                    expected.add("latest")
                assert set(r["aliases"]) == expected
                assert set(r["tags"]) == versions[r["version"]]["tags"]
                assert r["assets"] == len(versions[r["version"]]["files"])


CatalogMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestCatalog = CatalogMachine.TestCase

