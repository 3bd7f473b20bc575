"""The Comet-style surface: Artifact, Experiment, LoggedArtifact and their assets.

Code written for ``comet_ml``'s Artifacts API runs against a local store by changing the
import. Differences from Comet are deliberate and listed in docs/comet.rst.
"""

import io
import os
import tempfile
import types
import unicodedata
import uuid
import warnings

from . import ignore, ingest, names, paths, remote
from .errors import InvalidInput, NotFound, RemoteUnavailable
from .metadata import MAX_ASSET_CHARS, check_metadata
from .nogc import nogc
from .store import Store


def _opaque_name(uri):
    """A logical path for an opaque reference: the last path segment, else the host."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.netloc or "remote"
    try:
        return paths.to_logical(name)
    except InvalidInput:
        return "remote"


class ArtifactAsset:
    """An asset added to an Artifact that is not logged yet. Its metadata and type are its
    source's (what is logged), read through properties: a directory of 100,000 files makes
    100,000 of these, so each holds only what is its own."""

    __slots__ = ("_source", "remote", "link")

    def __init__(self, source, remote=False, link=None):
        self._source = source
        self.remote = remote
        self.link = link

    @property
    def logical_path(self):
        return self._source.logical_path

    @property
    def metadata(self):
        return self._source.metadata

    @property
    def asset_type(self):
        return self._source.asset_type

    @property
    def local_path_or_data(self):
        source = self._source
        return getattr(source, "os_path", None) or getattr(source, "data", None)

    @property
    def size(self):
        src = self._source
        if isinstance(src, ingest.LocalFile):
            return os.path.getsize(src.os_path)
        if isinstance(src, (ingest.StoredFile, ingest.RemoteRef)):
            return src.size
        data = src.data
        return len(data) if isinstance(data, (bytes, bytearray, memoryview)) else None

    def __repr__(self):
        return f"ArtifactAsset({self.logical_path!r})"


class Artifact:
    """A version being assembled: name, type, version, aliases, metadata, tags, assets."""

    def __init__(self, name, artifact_type=None, version=None, aliases=None, metadata=None,
                 version_tags=None):
        self.name = names.check_name(name, "artifact name")
        self.artifact_type = names.check_name(artifact_type or "dataset", "artifact type")
        self.version = version
        self.aliases = set(names.check_alias(a) for a in (aliases or ()))
        check_metadata(metadata)
        self.metadata = dict(metadata or {})
        self.version_tags = set(names.check_tags(version_tags or ()))
        self._assets = {}
        self.download_local_path = None
        self.excluded_paths = []

    @property
    def version(self):
        """The version to log (``semantic_version.Version``), or None for the next major.
        Accepts a string or a Version."""
        return self._version

    @version.setter
    def version(self, value):
        # parse_version takes a string or a semantic_version.Version (imported on first use).
        self._version = None if value is None else names.parse_version(value)

    @property
    def assets(self):
        """The ArtifactAssets added so far, one per logical path."""
        return list(self._assets.values())

    def _put(self, asset, overwrite):
        path = asset.logical_path
        if path in self._assets and not overwrite:
            raise InvalidInput(
                f"the artifact already has an asset at {path!r}; pass overwrite=True to replace it"
            )
        self._assets[path] = asset

    @nogc
    def add(self, local_path_or_data, logical_path=None, overwrite=False, metadata=None, asset_type=None,
            exclude=None):
        """Add a file, a directory (recursively), bytes or a binary file-like object.

        A directory's ``.git``, ``.hg``, ``.svn`` and ``.artstore`` folders are left out,
        and so are paths matching ``exclude`` (a list of .gitignore-style patterns,
        artstore's addition) or the directory's ``.artstoreignore`` file; what was left
        out is listed in ``excluded_paths``."""
        check_metadata(metadata, "asset metadata", MAX_ASSET_CHARS)
        if asset_type is not None:
            names.check_text(asset_type, "asset type")
        if logical_path is not None:
            paths.check_logical_path(logical_path)
        if isinstance(exclude, str):
            exclude = [exclude]
        if isinstance(local_path_or_data, (str, os.PathLike)):
            local = os.fspath(local_path_or_data)
            rules = ignore.Rules(local if os.path.isdir(local) else None, exclude or ())
            sources, skipped = ingest.sources_for_path(local, logical_path, rules=rules)
            here = os.path.normpath(local) == "."
            self.excluded_paths += [rel if here else os.path.join(local, rel) for rel in sorted(rules.excluded)]
            for path, reason in skipped:
                warnings.warn(f"artstore: skipped {path}: {reason}", stacklevel=2)
            new = {}
            for src in sources:
                src.metadata = dict(metadata or {})
                src.asset_type = asset_type
                if src.logical_path in new:
                    raise InvalidInput(f"two files map to the logical path {src.logical_path!r}")
                new[src.logical_path] = src
            if not overwrite:
                clash = sorted(set(new) & set(self._assets))
                if clash:
                    raise InvalidInput(
                        f"the artifact already has an asset at {clash[0]!r}; pass overwrite=True to replace it"
                    )
            self._assets.update((path, ArtifactAsset(src)) for path, src in new.items())
            return
        if logical_path is None:
            raise InvalidInput("adding bytes or a file object needs logical_path=...")
        if isinstance(local_path_or_data, io.TextIOBase):
            raise InvalidInput("the file object is a text stream; open it in binary mode ('rb')")
        if not isinstance(local_path_or_data, (bytes, bytearray, memoryview)) and not hasattr(
            local_path_or_data, "read"
        ):
            raise InvalidInput(
                f"cannot add a {type(local_path_or_data).__name__}; give a path, bytes or a binary file object"
            )
        self._put(ArtifactAsset(ingest.InMemory(local_path_or_data, logical_path, metadata, asset_type)), overwrite)

    def add_remote(self, uri, logical_path=None, overwrite=False, asset_type=None, metadata=None,
                   sync_mode=True, max_synced_objects=10000, storage_options=None, on_sync_error="warn"):
        """Add a reference to data that stays elsewhere.

        With ``sync_mode`` and an ``s3://``, ``gs://`` or ``file://`` URI, the prefix (or
        object) is listed now and every object becomes a remote asset pinned to its
        identity (ETag / VersionId, md5 / generation, size / mtime). More objects than
        ``max_synced_objects``, sync off, or any other string: one opaque asset holding
        the URI (Comet does the same, with a warning when the limit is passed).

        If the listing cannot be done (no credentials, endpoint down, no such bucket),
        Comet's SDK warns and falls back to one opaque asset whose metadata records
        ``synced: False`` and the error; so does artstore with ``on_sync_error="warn"``
        (the default). ``on_sync_error="raise"`` raises RemoteUnavailable instead (the
        command line's behaviour). A prefix that exists but is empty is always an error.
        ``storage_options`` go to the fsspec backend; ``storage_options`` and
        ``on_sync_error`` are artstore's additions."""
        if on_sync_error not in ("warn", "raise"):
            raise InvalidInput(f"on_sync_error must be 'warn' or 'raise', not {on_sync_error!r}")
        check_metadata(metadata, "asset metadata", MAX_ASSET_CHARS)
        if not isinstance(uri, str) or not uri:
            raise InvalidInput("add_remote needs a URI string such as 's3://bucket/prefix'")
        names.check_text(uri, "URI")
        if asset_type is not None:
            names.check_text(asset_type, "asset type")
        if logical_path is not None:
            paths.check_logical_path(logical_path)
        if not isinstance(max_synced_objects, int) or max_synced_objects < 1:
            raise InvalidInput("max_synced_objects must be a positive whole number")
        objects = None
        if sync_mode and remote.scheme_of(uri) in remote.SYNCABLE:
            try:
                objects = remote.list_objects(uri, max_synced_objects, storage_options)
            except RemoteUnavailable as exc:
                if on_sync_error == "raise":
                    raise
                warnings.warn(
                    f"artstore: could not list {uri} ({exc}); logged as one opaque reference, "
                    "not pinned and not downloadable (Comet's fallback to not-synced mode)",
                    stacklevel=2,
                )
                metadata = dict(metadata or {}) | {"synced": False, "error_message": str(exc)}
                objects = False
            if objects is None:
                warnings.warn(
                    f"artstore: {uri} holds more than max_synced_objects={max_synced_objects} objects; "
                    "logged as one opaque reference (raise max_synced_objects to pin every object)",
                    stacklevel=2,
                )
        if objects is None or objects is False:
            name = logical_path or _opaque_name(uri)
            refs = [ingest.RemoteRef(uri, name, 0, None, metadata, asset_type)]
        elif len(objects) == 1 and objects[0].uri == uri:
            o = objects[0]
            refs = [ingest.RemoteRef(o.uri, logical_path or paths.to_logical(o.relative), o.size, o.identity,
                                     metadata, asset_type)]
        else:
            refs = [ingest.RemoteRef(o.uri, paths.join_logical(logical_path, o.relative), o.size, o.identity,
                                     metadata, asset_type) for o in objects]
        if not overwrite:
            clash = sorted({r.logical_path for r in refs} & set(self._assets))
            if clash:
                raise InvalidInput(
                    f"the artifact already has an asset at {clash[0]!r}; pass overwrite=True to replace it"
                )
        for ref in refs:
            self._put(ArtifactAsset(ref, remote=True, link=ref.uri), True)

    def _add_stored(self, source):
        self._put(ArtifactAsset(source), True)

    def sources(self):
        return [a._source for a in self._assets.values()]

    def __repr__(self):
        return f"Artifact(name={self.name!r}, artifact_type={self.artifact_type!r}, version={self.version})"


class LoggedArtifactAsset:
    """One asset of a logged version (read-only)."""

    def __init__(self, data, logged):
        self._logged = logged
        self.id = data["id"]
        self.logical_path = data["logical_path"]
        self.size = data["size"]
        self.remote = data["remote"]
        self.link = data["link"]
        self.content_hash = data["content_hash"]
        self.metadata = types.MappingProxyType(dict(data["metadata"]))
        self.asset_type = data["asset_type"]
        self.artifact_version_id = data["artifact_version_id"]
        self.artifact_id = logged.id

    def download(self, local_path=None, overwrite_strategy=False):
        """Write this asset's bytes to ``local_path`` (a file path) and return it."""
        target = local_path or os.path.join(tempfile.mkdtemp(prefix="artstore-"), self.logical_path)
        self._logged._store.download_asset(
            self._logged._ref, self.logical_path, target, overwrite_strategy
        )
        return target

    def __repr__(self):
        return f"LoggedArtifactAsset({self.logical_path!r}, size={self.size})"


class LoggedArtifact:
    """A logged, immutable version. Labels (aliases, tags) can be changed."""

    def __init__(self, store, described, experiment=None):
        self._store = store
        self._experiment = experiment
        self._load(described)

    def _load(self, d):
        self._described = d
        self.name = d["name"]
        self.workspace = d["workspace"]
        self.artifact_type = d["type"]
        self.version = names.parse_version(d["version"])
        self.aliases = frozenset(d["aliases"])
        self.version_tags = frozenset(d["tags"])
        self.artifact_tags = frozenset(d["artifact_tags"])
        self.metadata = types.MappingProxyType(dict(d["metadata"]))
        self.id = d["artifact_id"]
        self.artifact_version_id = d["artifact_version_id"]
        self.size = d["size"]
        self.manifest_digest = d["manifest_digest"]
        self.source_experiment_key = d["source_experiment_key"]
        self._ref = f"{self.workspace}/{self.name}:{self.version}"
        self._assets = None

    def _reload(self):
        self._load(self._store.describe_ref(self._ref))

    @property
    def assets(self):
        """The version's LoggedArtifactAssets in logical-path order."""
        if self._assets is None:
            self._assets = [LoggedArtifactAsset(a, self) for a in self._store.assets(self.artifact_version_id)]
        return list(self._assets)

    @property
    def remote_assets(self):
        """Only the remote assets (synced and opaque)."""
        return [a for a in self.assets if a.remote]

    def get_asset(self, logical_path):
        """One asset by logical path (reads one tree node per level, not every asset)."""
        if self._assets is not None:
            for asset in self._assets:
                if asset.logical_path == logical_path:
                    return asset
        else:
            manifest = self._store.manifest(self.artifact_version_id)
            entry = manifest.find(logical_path) if isinstance(logical_path, str) else None
            if entry is not None:
                return LoggedArtifactAsset(manifest.asset(entry), self)
        # Logical paths are stored in NFC; a name from a macOS directory listing is NFD and
        # looks the same in the message, so say why it was not found.
        if isinstance(logical_path, str) and unicodedata.normalize("NFC", logical_path) != logical_path:
            raise NotFound(f"{self._ref} has no asset {logical_path!r} (logical paths are in Unicode NFC form); "
                           f"use {unicodedata.normalize('NFC', logical_path)!r}")
        raise NotFound(f"{self._ref} has no asset {logical_path!r}")

    def get_source_experiment(self):
        """The run that logged this version, as an Experiment handle (None if unknown)."""
        if self.source_experiment_key is None:
            return None
        return Experiment._existing(self._store, self.source_experiment_key)

    def download(self, path=None, overwrite_strategy=False, exact=False):
        """Write the assets under ``path`` (a new temp dir if None) and return an Artifact
        holding them, ready to be changed and logged as a new version. With ``exact``
        (artstore's addition), files in ``path`` that the version lacks are removed."""
        path = path if path is not None else tempfile.mkdtemp(prefix="artstore-")
        run_id = self._experiment.id if self._experiment is not None else None
        result = self._store.download(self._ref, path, overwrite_strategy=overwrite_strategy, run_id=run_id,
                                      exact=exact)
        for kept in result["preserved"]:
            warnings.warn(f"artstore: kept existing {kept}, which differs from {self._ref}", stacklevel=2)
        for skipped in result["not_downloaded"]:
            warnings.warn(f"artstore: not downloaded: {skipped} is an opaque remote reference "
                          f"({self._ref}); its link is in the returned Artifact's assets", stacklevel=2)
        local = Artifact(self.name, self.artifact_type, metadata=dict(self.metadata))
        local.download_local_path = path
        for asset in self.assets:
            if asset.remote:
                local._put(ArtifactAsset(self._store.remote_ref(self.artifact_version_id, asset.logical_path),
                                         remote=True, link=asset.link), True)
                continue
            local._add_stored(
                ingest.DownloadedFile(
                    paths.safe_join(path, asset.logical_path),
                    bytes.fromhex(asset.content_hash),
                    asset.size,
                    asset.logical_path,
                    dict(asset.metadata),
                    asset.asset_type,
                )
            )
        return local

    def fetch_remote(self):
        """Pull the bytes of this version's synced remote assets into the store (artstore's
        addition): later downloads then work offline and survive the bucket changing."""
        result = self._store.fetch(self._ref)
        self._assets = None
        return result

    def update_aliases(self, aliases):
        """Make ``aliases`` this version's aliases (moving them from other versions)."""
        self._store.set_aliases(self._ref, aliases)
        self._reload()

    def update_version_tags(self, version_tags):
        """Replace this version's tags with ``version_tags``."""
        self._store.set_version_tags(self._ref, version_tags)
        self._reload()

    def update_artifact_tags(self, artifact_tags):
        """Replace the artifact's tags (shared by all its versions) with ``artifact_tags``."""
        self._store.set_artifact_tags(self._ref, artifact_tags)
        self._reload()

    def __repr__(self):
        return f"LoggedArtifact({self._ref!r})"


class Experiment:
    """A local run: logs artifact versions (produced) and gets them (consumed)."""

    def __init__(self, api_key=None, project_name=None, workspace=None, store=None, **_comet_options):
        # api_key and Comet's other options are accepted so that Comet code runs; unused here.
        self._store = store if store is not None else Store.open()
        self.workspace = names.check_workspace(workspace) if workspace else self._store.workspace
        self.project_name = names.check_text(project_name, "project name") if project_name is not None else None
        self.id = uuid.uuid4().hex
        self.name = None
        self.ended = False
        self._store.start_run(self.id, project=project_name)

    @classmethod
    def _existing(cls, store, run_id):
        run = store.run(run_id)
        exp = cls.__new__(cls)
        exp._store = store
        exp.workspace = store.workspace
        exp.project_name = run["project"] if run else None
        exp.id = run_id
        exp.name = run["name"] if run else None
        exp.ended = bool(run and run["ended_at"])
        return exp

    def get_key(self):
        """The run's id: 32 hexadecimal characters, Comet's experiment key."""
        return self.id

    def get_name(self):
        """The run's name, or None for an unnamed run."""
        return self.name

    def log_artifact(self, artifact, skip_if_unchanged=False):
        """Log ``artifact`` as a new version produced by this run; returns its LoggedArtifact.

        With ``skip_if_unchanged`` (artstore's addition), assets identical to the latest
        version's log nothing and that latest version is returned (its ``skipped`` is
        True; metadata, aliases and tags of ``artifact`` are then not applied)."""
        if not isinstance(artifact, Artifact):
            raise InvalidInput(f"log_artifact needs an Artifact, not {type(artifact).__name__}")
        described = self._store.log(
            artifact.name,
            artifact.sources(),
            artifact_type=artifact.artifact_type,
            version=artifact.version,
            workspace=self.workspace,
            aliases=artifact.aliases,
            version_tags=artifact.version_tags,
            metadata=artifact.metadata,
            run_id=self.id,
            skip_if_unchanged=skip_if_unchanged,
        )
        logged = LoggedArtifact(self._store, described, self)
        logged.skipped = described["skipped"]
        return logged

    def get_artifact(self, artifact_name, workspace=None, version_or_alias=None):
        """The LoggedArtifact for a version (no version or alias: the latest), recorded as
        consumed by this run. ``artifact_name`` may be ``"workspace/name:version_or_alias"``."""
        ref_ws, name, ref_version = names.parse_ref(artifact_name)
        art, vrow = self._store.resolve(
            name, workspace or ref_ws or self.workspace, version_or_alias or ref_version
        )
        self._store.record_lineage(self.id, vrow["id"], "consumed")
        return LoggedArtifact(self._store, self._store.describe(art, vrow), self)

    def end(self):
        """Mark the run as ended (also done on leaving a ``with`` block)."""
        if not self.ended:
            self._store.end_run(self.id)
            self.ended = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.end()

    def __repr__(self):
        return f"Experiment({self.id})"
