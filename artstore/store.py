"""Store: finds or creates a store, holds its lock, and ties the layers together.

Write order for a new version (DESIGN.md invariant 1): chunk bytes are appended to packs
this writer owns alone in ``tmp/``; each pack is fsynced, renamed into ``objects/pack/``
and its directory fsynced; only then does one catalog transaction add the chunk index
rows, file rows, the version, its assets, aliases, tags and lineage. A crash before the
commit leaves only unreferenced packs and temp files, which ``gc`` removes.

Locking: every command that reads or writes packs holds the store lock shared; ``gc``
holds it exclusive, so it never deletes a pack a running writer is about to reference or
a reader is reading. A lock held by a killed process is released by the kernel.
"""

import getpass
import json
import operator
import os
import time
import uuid

import blake3

from . import catalog as catalog_mod
from . import chunkstore, config, history, ingest, labels, materialize, names, paths, records, remote
from . import fetch as fetch_mod
from . import gc as gc_mod
from . import verify as verify_mod
from .catalog import Catalog, dumps, split_chunks
from .errors import Conflict, DiskError, IntegrityError, InvalidInput, NotFound, ReadOnlyStore, from_os_error
from .faults import checkpoint
from .lock import StoreLock
from .metadata import check_metadata  # noqa: F401  (re-exported: api, tests)
from .nogc import nogc

STORE_DIRNAME = ".artstore"


def default_workspace():
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container: getpass raises several kinds
        user = "default"
    try:
        return names.check_name(user, "workspace")
    except InvalidInput:
        return "default"


def find_store_dir(path=None):
    """The ``.artstore`` directory: from ``path`` / ARTSTORE_DIR, else from cwd upward."""
    explicit = path if path is not None else os.environ.get("ARTSTORE_DIR") or None
    if explicit is not None:
        explicit = os.path.abspath(explicit)
        for candidate in (explicit, os.path.join(explicit, STORE_DIRNAME)):
            if os.path.isfile(os.path.join(candidate, "config")):
                return candidate
        raise NotFound(f"no artstore store at {explicit}; run 'artstore init' there first")
    here = os.getcwd()
    while True:
        candidate = os.path.join(here, STORE_DIRNAME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            raise NotFound(
                "no artstore store in this directory or any parent; run 'artstore init' "
                "or pass --store PATH"
            )
        here = parent


def _download_mtime_ns(vrow, where=""):
    """Downloaded files carry the version's creation time as their mtime, like files
    unpacked by tar, and never a time within the stat cache's racy window: any later edit
    then changes the mtime, so the stat cache can trust the downloaded files at once and
    logging them again (Comet's update flow) does not read them."""
    created = int(records.created_at(vrow["created_at"], where or vrow["id"]).timestamp() * 1e9)
    return min(created, time.time_ns() - ingest.COARSE_RACY_NS - 1_000_000_000)


def _check_type(art, artifact_type):
    if art["type"] != artifact_type:
        raise Conflict(
            f"artifact {art['workspace']}/{art['name']} has type {art['type']!r}, not {artifact_type!r}"
        )


def _check_new_version(existing, version, ref):
    """The version to log: ``version``, refused if it exists, else the next major."""
    if version is None:
        return names.parse_version(existing[-1]["version"]).next_major() if existing else names.parse_version("1.0.0")
    if any(r["version"] == str(version) for r in existing):
        raise Conflict(
            f"{ref} already has version {version}; logged versions are immutable, choose another version number"
        )
    return version


def _content_hash(asset_row):
    digest = asset_row["file_digest"] or asset_row.get("fetched_digest")
    return digest.hex() if digest is not None else None


def _semver_key(row):
    return names.version_key(row["version"])


_json_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


def _json_str_or_null(value):
    return "null" if value is None else _json_str(value)


def manifest_digest(asset_rows):
    """BLAKE3 of the canonical serialisation of a version's assets (sorted by path): the
    JSON list of one object per asset, keys sorted, separators ',' and ':', no ASCII
    escaping (docs/storage.rst). Each object is formatted directly, byte for byte what
    catalog.dumps gives (tested), since building and encoding 100,000 dicts cost 0.3 s."""
    hasher = blake3.blake3()
    hasher.update(b"[")
    items, sep = [], ""
    for a in sorted(asset_rows, key=_by_path):
        digest = "null" if a["file_digest"] is None else '"' + a["file_digest"].hex() + '"'
        items.append(
            f'{{"asset_type":{_json_str_or_null(a["asset_type"])},"digest":{digest},'
            f'"metadata":{_json_str(a["metadata"])},"path":{_json_str(a["logical_path"])},'
            f'"remote_identity":{_json_str_or_null(a["remote_identity"])},"size":{a["size"]:d},'
            f'"uri":{_json_str_or_null(a["uri"])}}}'
        )
        if len(items) == 10_000:  # hashed in slices, never built whole
            hasher.update((sep + ",".join(items)).encode())
            items, sep = [], ","
    if items:
        hasher.update((sep + ",".join(items)).encode())
    hasher.update(b"]")
    return hasher.hexdigest()


_by_path = operator.itemgetter("logical_path")


class Store:
    """An open store. Use ``Store.init(path)`` or ``Store.open(path=None)``."""

    def __init__(self, store_dir):
        self.dir = store_dir
        self.root = os.path.dirname(store_dir)
        self.config = config.load(os.path.join(store_dir, "config"))
        self.pack_dir = os.path.join(store_dir, "objects", "pack")
        self.tmp_dir = os.path.join(store_dir, "tmp")
        self.lock = StoreLock(os.path.join(store_dir, "lock"))
        self.catalog = Catalog(os.path.join(store_dir, "catalog.db"))
        self.workspace = self.config.workspace
        self.committed = []  # what this process committed, for the CLI's Ctrl-C message

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def init(cls, path=".", workspace=None, chunking=None, storage=None):
        """Create ``<path>/.artstore`` and return the open store (Conflict if one exists)."""
        workspace = names.check_name(workspace or default_workspace(), "workspace")
        path = os.path.abspath(path)
        store_dir = os.path.join(path, STORE_DIRNAME)
        if os.path.exists(store_dir):
            raise Conflict(f"a store already exists at {store_dir}; use it, or remove it first")
        materialize.StoreGuard().check_root(path)  # never a store inside a store directory
        building = store_dir + f".init-{uuid.uuid4().hex[:8]}"
        try:
            os.makedirs(path, exist_ok=True)
            os.mkdir(building)
            os.makedirs(os.path.join(building, "objects", "pack"))
            os.makedirs(os.path.join(building, "tmp"))
            config.write_new(os.path.join(building, "config"), workspace, chunking, storage)
            Catalog(os.path.join(building, "catalog.db"), create=True).close()
            # Renamed into place last, so a store directory is either complete or absent.
            os.rename(building, store_dir)
            chunkstore.fsync_dir(path)
        except BaseException as exc:
            import shutil

            shutil.rmtree(building, ignore_errors=True)  # never leave a half-built store behind
            if isinstance(exc, (FileExistsError, NotADirectoryError)):
                raise Conflict(
                    f"{path} (or a directory above it) exists and is not a directory; "
                    "choose a directory for the store"
                ) from None
            if isinstance(exc, OSError):
                raise from_os_error(exc, f"creating a store in {path}") from None
            raise
        return cls(store_dir)

    @classmethod
    def open(cls, path=None):
        """Open the store at ``path`` (project dir or .artstore), ARTSTORE_DIR, or from cwd up."""
        return cls(find_store_dir(path))

    def close(self):
        self.catalog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- lookups ----------------------------------------------------------------------------

    def artifact(self, name, workspace=None):
        names.check_name(name, "artifact name")
        workspace = workspace or self.workspace
        row = self.catalog.get_artifact(workspace, name)
        if row is None:
            raise NotFound(f"no artifact {workspace}/{name}; see 'artstore list'")
        return row

    def list_artifacts(self, artifact_type=None):
        if artifact_type is not None:
            names.check_text(artifact_type, "artifact type")
        out = []
        for art in self.catalog.list_artifacts(artifact_type):
            rows = sorted(self.catalog.version_rows(art["id"]), key=_semver_key)
            out.append({
                "workspace": art["workspace"],
                "name": art["name"],
                "type": art["type"],
                "latest": rows[-1]["version"] if rows else None,
                "versions": len(rows),
            })
        return out

    def version_rows(self, artifact_id):
        """Version rows of an artifact, lowest version first."""
        return sorted(self.catalog.version_rows(artifact_id), key=_semver_key)

    def versions(self, name, workspace=None):
        """SPEC.md's `versions` rows for an artifact, lowest version first."""
        if workspace is None and "/" in name:
            workspace, name, _ = names.parse_ref(name)
        art = self.artifact(name, workspace)
        rows = self.version_rows(art["id"])
        return [
            {k: d[k] for k in ("version", "aliases", "tags", "created_at", "size", "manifest_digest")}
            | {"assets": d["assets_count"]}
            for d in (self.describe(art, row, latest_id=rows[-1]["id"]) for row in rows)
        ]

    def resolve(self, name, workspace=None, version_or_alias=None):
        """(artifact row, version row) for a reference; no version means latest."""
        if version_or_alias is None and isinstance(name, str) and (":" in name or "/" in name):
            ref_ws, name, version_or_alias = names.parse_ref(name)
            workspace = workspace or ref_ws
        art = self.artifact(name, workspace)
        ref = f"{art['workspace']}/{art['name']}"
        rows = self.version_rows(art["id"])
        if not rows:
            raise NotFound(f"artifact {ref} has no versions")
        if version_or_alias is None or version_or_alias == "latest":
            return art, rows[-1]
        if names.is_version(str(version_or_alias)):
            row = self.catalog.version_by_number(art["id"], str(names.parse_version(str(version_or_alias))))
            if row is None:
                raise NotFound(
                    f"artifact {ref} has no version {version_or_alias}; see 'artstore versions {art['name']}'"
                )
            return art, row
        row = self.catalog.version_by_alias(art["id"], version_or_alias)
        if row is None:
            raise NotFound(
                f"artifact {ref} has no version or alias {version_or_alias!r}; "
                f"see 'artstore versions {art['name']}'"
            )
        return art, row

    def describe(self, art, vrow, latest_id=None):
        """Everything the API and CLI show about one version, as plain data. ``latest_id``
        saves listing the artifact's versions again when the caller already has them."""
        if latest_id is None:
            latest_id = self.version_rows(art["id"])[-1]["id"]
        aliases = self.catalog.aliases_of_version(vrow["id"])
        if latest_id == vrow["id"]:
            aliases = sorted(set(aliases) | {"latest"})
        run = self.catalog.run(vrow["run_id"]) if vrow["run_id"] else None
        metadata = records.check_version(vrow, records.where_of(art, vrow))
        return {
            "workspace": art["workspace"],
            "name": art["name"],
            "type": art["type"],
            "artifact_id": art["id"],
            "version": vrow["version"],
            "aliases": aliases,
            "tags": self.catalog.tags_of_version(vrow["id"]),
            "artifact_tags": self.catalog.tags_of_artifact(art["id"]),
            "metadata": metadata,
            "size": vrow["size"],
            "assets_count": vrow["asset_count"],
            "manifest_digest": vrow["manifest_digest"],
            "artifact_version_id": vrow["id"],
            "source_experiment_key": vrow["run_id"],
            "source_run_name": run["name"] if run else None,
            "created_at": vrow["created_at"],
        }

    def assets(self, version_id):
        out = []
        where = self.ref_of(version_id)
        for a in self.catalog.assets(version_id):
            out.append({
                "id": a["id"],
                "logical_path": a["logical_path"],
                "size": a["size"],
                "remote": bool(a["remote"]),
                "link": a["uri"] if a["remote"] else None,
                "content_hash": _content_hash(a),
                "metadata": records.asset_metadata(a["metadata"], where, a["logical_path"]),
                "asset_type": a["asset_type"],
                "artifact_version_id": a["version_id"],
                "remote_identity": records.remote_identity(a["remote_identity"], where, a["logical_path"]),
            })
        return out

    def ref_of(self, version_id):
        try:
            v = self.catalog.version_by_id(version_id)
        except IntegrityError:  # a row damaged past reading: its id still names it
            return version_id
        if v is None:
            return version_id
        art = self.catalog.query("SELECT * FROM artifacts WHERE id = ?", (v["artifact_id"],))[0]
        return f"{art['workspace']}/{art['name']}:{v['version']}"

    # -- logging a version ------------------------------------------------------------------

    def new_writer(self):
        return chunkstore.PackWriter(
            self.pack_dir,
            self.tmp_dir,
            compression=self.config.storage["compression"],
            target_size=self.config.storage["pack_target_size"],
        )

    @nogc
    def log(self, name, sources, *, artifact_type="dataset", version=None, workspace=None,
            aliases=(), version_tags=(), metadata=None, run_id=None, progress=None):
        """Store ``sources`` (ingest.LocalFile / InMemory / StoredFile / remote rows) as a
        new version and return its ``describe`` dict. Everything or nothing is logged."""
        names.check_name(name, "artifact name")
        names.check_name(artifact_type, "artifact type")
        workspace = names.check_name(workspace or self.workspace, "workspace")
        if version is not None:
            version = names.parse_version(version)
        aliases = sorted({names.check_alias(a) for a in aliases})
        version_tags = names.check_tags(version_tags)
        metadata_json = check_metadata(metadata)
        asset_metadata = []
        for src in sources:
            paths.check_logical_path(src.logical_path)
            asset_metadata.append(check_metadata(src.metadata, f"metadata of {src.logical_path}")
                                  if src.metadata else "{}")
        paths.check_unique([s.logical_path for s in sources])
        # Refuse early what the commit would refuse, before reading any data (the commit
        # checks again, since another writer may get there first).
        known = self.catalog.get_artifact(workspace, name)
        if known is not None:
            _check_type(known, artifact_type)
            _check_new_version(self.version_rows(known["id"]), version, f"{workspace}/{name}")

        with self.lock.shared():
            self.check_writable()
            writer = self.new_writer()
            try:
                ingestor = ingest.Ingestor(self.catalog, writer, self.config.chunking, progress)
                ingestor.prefetch([s.os_path for s in sources if isinstance(s, ingest.LocalFile)])
                # Random asset ids, drawn at once (one urandom call per asset cost 0.2 s per 100k).
                ids = os.urandom(16 * len(sources)).hex()
                asset_rows = [self._asset_row(ingestor, src, m, ids[32 * i:32 * i + 32])
                              for i, (src, m) in enumerate(zip(sources, asset_metadata, strict=True))]
                ingestor.flush()
                packs = writer.finish()
                checkpoint("before-commit")
                with self.catalog.transaction() as cat:
                    cat.add_packs(packs, relocate=ingestor.lost)
                    cat.add_files((d, s, blob) for d, (s, blob) in ingestor.new_files.items())
                    art = cat.ensure_artifact(workspace, name, artifact_type)
                    _check_type(art, artifact_type)
                    version_id = uuid.uuid4().hex
                    existing = self.version_rows(art["id"])
                    version = _check_new_version(existing, version, f"{workspace}/{name}")
                    for row in asset_rows:
                        row["version_id"] = version_id
                    digest = manifest_digest(asset_rows)
                    version_row = {
                        "id": version_id,
                        "artifact_id": art["id"],
                        "version": str(version),
                        "created_at": catalog_mod.now_iso(),
                        "metadata": metadata_json,
                        "manifest_digest": digest,
                        "size": sum(r["size"] for r in asset_rows),
                        "asset_count": len(asset_rows),
                        "run_id": run_id,
                    }
                    same = [v for v in existing
                            if v["manifest_digest"] == digest and v["asset_count"] == len(asset_rows)]
                    if same and asset_rows:
                        # Unchanged content: SQLite copies the asset rows of the version with the
                        # same manifest (equal digests mean equal rows but for the ids), which is
                        # faster than binding 100,000 rows from Python.
                        cat.insert_version_like(version_row, same[-1]["id"])
                    else:
                        cat.insert_version(version_row, asset_rows)
                    for alias in aliases:
                        cat.set_alias(art["id"], alias, version_id)
                    cat.add_version_tags(version_id, version_tags)
                    if run_id is not None:
                        cat.ensure_run(run_id)
                        cat.add_lineage(run_id, version_id, "produced")
                    cat.stat_cache_put(ingestor.stat_rows)
            except BaseException:
                writer.abort()
                raise
            self.committed.append(f"logged {workspace}/{name}:{version}")
            checkpoint("after-commit")
            described = self.describe(art, self.catalog.version_by_id(version_id))
            described["stored_bytes"] = sum(p.size for p in packs)
            described["files_read"] = ingestor.files_read
            described["bytes_read"] = ingestor.bytes_read
            return described

    def check_writable(self):
        if not os.access(self.dir, os.W_OK) or not os.access(self.tmp_dir, os.W_OK):
            raise ReadOnlyStore(
                f"the store {self.dir} is read-only; reading commands work, "
                "for changes copy it somewhere writable or fix its permissions"
            )

    def _asset_row(self, ingestor, src, metadata_json, asset_id):
        row = {
            "id": asset_id,
            "version_id": None,
            "logical_path": src.logical_path,
            "metadata": metadata_json,
            "asset_type": src.asset_type,
            "remote": 0,
            "uri": None,
            "remote_identity": None,
        }
        if isinstance(src, ingest.RemoteRef):
            row.update(remote=1, uri=src.uri, file_digest=None, size=src.size,
                       remote_identity=dumps(src.identity) if src.identity is not None else None)
            return row
        if isinstance(src, ingest.LocalFile):
            record = ingestor.store_file(src.os_path, src.stat_result)
        elif isinstance(src, ingest.InMemory):
            record = ingestor.store_data(src.data)
        elif isinstance(src, ingest.DownloadedFile) and os.path.isfile(src.os_path):
            record = ingestor.store_file(src.os_path)
        elif isinstance(src, (ingest.StoredFile, ingest.DownloadedFile)):
            if self.catalog.get_file(src.digest) is None:
                raise NotFound(f"{src.logical_path}: its stored file is no longer in the store")
            ingestor.check_stored(src.digest, src.logical_path)
            record = ingest.FileRecord(src.digest, src.size)
        else:
            raise InvalidInput(f"cannot store a {type(src).__name__}")
        row["file_digest"] = record.digest
        row["size"] = record.size
        return row

    # -- reading -----------------------------------------------------------------------------

    def file_entries(self, version_id, include_remote=False):
        """materialize.Entry for each asset of a version whose bytes are in the store (local
        and fetched remote assets); with ``include_remote``, also an Entry reading each
        synced remote asset not fetched yet straight from its backend."""
        entries = []
        for a in self.catalog.assets(version_id):
            digest = a["file_digest"] or a["fetched_digest"]
            if digest is None:
                if include_remote and a["remote_identity"]:
                    entries.append(self._remote_entry(a))
                continue
            f = self.catalog.get_file(digest)
            if f is None:
                raise IntegrityError(
                    f"{a['logical_path']}: its file is missing from the catalog; run 'artstore verify'"
                )
            records.digest(digest, a["logical_path"])
            records.chunk_list(f[1], f[0], a["logical_path"])
            entries.append(materialize.Entry(a["logical_path"], digest, f[0], split_chunks(f[1])))
        return entries

    def _remote_entry(self, a):
        identity = records.remote_identity(a["remote_identity"], a["version_id"], a["logical_path"])
        uri, size = a["uri"], a["size"]
        options = self.remote_options(remote.scheme_of(uri))
        return materialize.Entry(
            a["logical_path"], None, size, [],
            open_stream=lambda: remote.VerifiedReader(uri, identity, size, options),
        )

    def remote_ref(self, version_id, logical_path):
        """An ingest.RemoteRef that logs the same remote asset again (the update flow)."""
        for a in self.catalog.assets(version_id):
            if a["logical_path"] == logical_path and a["remote"]:
                identity = records.remote_identity(a["remote_identity"], version_id, logical_path)
                return ingest.RemoteRef(a["uri"], logical_path, a["size"], identity,
                                        records.asset_metadata(a["metadata"], version_id, logical_path),
                                        a["asset_type"])
        raise NotFound(f"no remote asset {logical_path!r} in version {version_id}")

    def remote_options(self, scheme):
        """Storage options for a scheme from the config's ``[remote "SCHEME"]`` section."""
        scheme = "gs" if scheme == "gcs" else scheme
        return self.config.section(f'remote "{scheme}"')

    def _chunk_source(self, entries):
        """A chunkstore.ChunkSource for every chunk the entries need (one catalog pass)."""
        ids = (cid for e in entries for cid in e.chunk_ids)
        return chunkstore.ChunkSource(self.pack_dir, self.catalog.chunk_locations(ids))

    def download(self, ref, dest, overwrite_strategy=False, run_id=None, progress=None):
        """Write a version's local assets under ``dest``. Returns a summary dict."""
        strategy = materialize.normalize_strategy(overwrite_strategy)
        with self.lock.shared():
            art, vrow = self.resolve(ref)
            entries = self.file_entries(vrow["id"], include_remote=True)
            for e in entries:
                paths.check_logical_path(e.logical_path)
            source = self._chunk_source(entries)
            try:
                written, unchanged, preserved = materialize.materialize(
                    dest, entries, source, strategy, progress,
                    _download_mtime_ns(vrow, records.where_of(art, vrow)), protect=[self.dir]
                )
            finally:
                source.close()
            stat_rows = ingest.stat_rows_for(dest, written + unchanged)
            try:
                with self.catalog.transaction() as cat:
                    cat.stat_cache_put(stat_rows)
                    if run_id is not None:
                        cat.ensure_run(run_id)
                        cat.add_lineage(run_id, vrow["id"], "consumed")
            except (ReadOnlyStore, DiskError):
                # The stat cache only saves a later read; a download from a read-only or
                # full store still succeeds. Lineage asked for by the caller must be kept.
                if run_id is not None:
                    raise
        downloaded = {e.logical_path for e in entries}
        return {
            "ref": f"{art['workspace']}/{art['name']}:{vrow['version']}",
            "version": vrow["version"],
            "not_downloaded": [a["logical_path"] for a in self.catalog.assets(vrow["id"])
                               if a["logical_path"] not in downloaded],
            "written": [e.logical_path for e in written],
            "unchanged": [e.logical_path for e in unchanged],
            "preserved": [e.logical_path for e in preserved],
            "bytes": sum(e.size for e in written),
        }

    def download_asset(self, ref, logical_path, target, overwrite_strategy=False):
        """Write one local asset to the file path ``target``."""
        strategy = materialize.normalize_strategy(overwrite_strategy)
        paths.check_logical_path(logical_path)
        with self.lock.shared():
            art, vrow = self.resolve(ref)
            entries = [e for e in self.file_entries(vrow["id"]) if e.logical_path == logical_path]
            if not entries:
                raise NotFound(f"{art['name']}:{vrow['version']} has no local asset {logical_path!r}")
            target = os.path.abspath(target)
            entry = entries[0]
            single = materialize.Entry(os.path.basename(target), entry.digest, entry.size, entry.chunk_ids)
            source = self._chunk_source(entries)
            try:
                materialize.materialize(os.path.dirname(target), [single], source, strategy, protect=[self.dir])
            finally:
                source.close()

    def read_asset(self, ref, logical_path):
        """Yield the verified bytes of one local asset, chunk by chunk."""
        paths.check_logical_path(logical_path)
        with self.lock.shared():
            art, vrow = self.resolve(ref)
            entries = [e for e in self.file_entries(vrow["id"]) if e.logical_path == logical_path]
            if not entries:
                raise NotFound(
                    f"{art['name']}:{vrow['version']} has no local asset {logical_path!r}; "
                    f"see 'artstore show {art['name']}:{vrow['version']}'"
                )
            entry = entries[0]
            source = self._chunk_source(entries)
            hasher = blake3.blake3()
            try:
                for cid in entry.chunk_ids:
                    data = source.read(cid)
                    hasher.update(data)
                    yield data
            finally:
                source.close()
            if hasher.digest() != entry.digest:
                raise IntegrityError(
                    f"{logical_path}: stored chunks do not match the file digest; run 'artstore verify --read-data'"
                )

    # -- labels, runs and lineage -------------------------------------------------------------

    def describe_ref(self, ref):
        return self.describe(*self.resolve(ref))

    def set_aliases(self, ref, aliases):
        labels.set_aliases(self, ref, aliases)

    def add_aliases(self, ref, aliases):
        labels.add_aliases(self, ref, aliases)

    def remove_aliases(self, ref, aliases):
        labels.remove_aliases(self, ref, aliases)

    def set_version_tags(self, ref, tags):
        labels.set_version_tags(self, ref, tags)

    def add_version_tags(self, ref, tags):
        labels.add_version_tags(self, ref, tags)

    def remove_version_tags(self, ref, tags):
        labels.remove_version_tags(self, ref, tags)

    def set_artifact_tags(self, ref, tags):
        labels.set_artifact_tags(self, ref, tags)

    def start_run(self, run_id, project=None, name=None):
        with self.catalog.transaction() as cat:
            cat.ensure_run(run_id, project, name)

    def run_named(self, name):
        """The id of the most recent run called ``name``, creating the run if there is none."""
        names.check_name(name, "run name")
        with self.catalog.transaction() as cat:
            row = cat.run_by_name(name)
            if row is not None:
                return row["id"]
            run_id = uuid.uuid4().hex
            cat.ensure_run(run_id, None, name)
            return run_id

    def end_run(self, run_id):
        with self.catalog.transaction() as cat:
            cat.end_run(run_id)

    def run(self, run_id):
        return self.catalog.run(run_id)

    def record_lineage(self, run_id, version_id, kind):
        with self.catalog.transaction() as cat:
            cat.ensure_run(run_id)
            cat.add_lineage(run_id, version_id, kind)

    def diff(self, ref_a, ref_b):
        """Paths added / removed / modified / unchanged from A to B and shared / new bytes."""
        return history.diff(self, ref_a, ref_b)

    def lineage(self, ref, depth=None):
        """The lineage graph around a version, ``depth`` hops up and down (None: all)."""
        return history.lineage(self, ref, depth)

    # -- remote references ---------------------------------------------------------------------

    def fetch(self, ref, progress=None):
        """Pull the bytes of a version's synced remote assets into the store (freeze it)."""
        return fetch_mod.fetch(self, ref, progress)

    def check_remote(self, progress=None):
        """Problems (verify's shape) for synced remote assets that changed or vanished."""
        return fetch_mod.check_remote(self, progress)

    # -- maintenance --------------------------------------------------------------------------

    def du(self):
        t = self.catalog.totals()
        t["dedup_ratio"] = round(t["logical_bytes"] / t["stored_bytes"], 3) if t["stored_bytes"] else 1.0
        return t

    def delete_version(self, ref):
        """Remove one version; its aliases go with it and its bytes return at the next gc."""
        with self.lock.shared():
            art, vrow = self.resolve(ref)
            checkpoint("before-rm-commit")
            with self.catalog.transaction() as cat:
                cat.delete_version(vrow["id"])
                cat.delete_artifact_if_empty(art["id"])
        return f"{art['workspace']}/{art['name']}:{vrow['version']}"

    def refs_using_file(self, digest):
        """Refs of the versions that have an asset with this file digest."""
        rows = self.catalog.query("SELECT DISTINCT version_id FROM assets WHERE file_digest = ?", (digest,))
        return [self.ref_of(r["version_id"]) for r in rows]

    def remote_asset_count(self):
        return len(self.catalog.remote_assets())

    def verify(self, read_data=False, progress=None, ref=None, remote=False, remote_progress=None):
        """Check the store (or what version ``ref`` needs); with ``remote``, also re-list
        every synced remote asset. Returns {"ok", "problems": [{"kind", "detail",
        "versions"}], "notes"}."""
        with self.lock.shared():
            version_id = self.resolve(ref)[1]["id"] if ref else None
            result = verify_mod.verify_store(self, read_data=read_data, progress=progress, version_id=version_id)
        if remote:
            problems = self.check_remote(remote_progress)
            if version_id is not None:
                ref_name = self.ref_of(version_id)
                problems = [p for p in problems if ref_name in p["versions"]]
            result["problems"] += problems
            result["ok"] = not result["problems"]
        return result

    def gc(self, dry_run=False, progress=None):
        """Remove what no version references; rewrite mostly-dead packs. Returns a summary."""
        with self.lock.exclusive():
            return gc_mod.collect(self, dry_run=dry_run, progress=progress)
