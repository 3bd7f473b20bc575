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
import os
import shutil
import uuid

from . import (
    chunkstore,
    commit,
    config,
    history,
    ingest,
    labels,
    listing,
    manifests,
    materialize,
    names,
    query,
    reading,
    retention,
)
from . import fetch as fetch_mod
from . import gc as gc_mod
from . import verify as verify_mod
from .catalog import Catalog
from .errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    ReadOnlyStore,
    from_os_error,
)
from .faults import checkpoint
from .lock import StoreLock
from .metadata import check_metadata  # noqa: F401  (re-exported: api, tests)
from .tree import NodeStore

STORE_DIRNAME = ".artstore"
# In a project's git work tree `git add .` must not commit the store: only its config,
# which names the remotes (never secrets), may be tracked; teammates then pull the data.
GITIGNORE = "# artstore: only the config belongs in git; the data is shared through remotes.\n*\n!.gitignore\n!config\n"


def default_workspace():
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container: getpass raises several kinds
        user = "default"
    try:
        return names.check_workspace(user)
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


def _semver_key(row):
    return names.version_key(row["version"])


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
        self.nodes = NodeStore(self.catalog)
        self.workspace = self.config.workspace
        self.committed = []  # what this process committed, for the CLI's Ctrl-C message
        self.notice = None  # where lazy fetches say what they fetch (None: stderr)
        # Whether a read of a lazy version fetches the chunks it lacks (and stores them). A
        # read-only reader (artstore ui) turns it off: such a read then fails, naming the remote.
        self.fetch_lazy = True

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def init(cls, path=".", workspace=None, chunking=None, storage=None, exist_ok=False):
        """Create ``<path>/.artstore`` and return the open store. If one exists already:
        with ``exist_ok`` open it as it is (a notebook cell run twice), else Conflict."""
        workspace = names.check_workspace(workspace or default_workspace())
        storage = config.new_storage(storage)  # refused before anything is created
        path = os.path.abspath(path)
        store_dir = os.path.join(path, STORE_DIRNAME)
        if os.path.exists(store_dir):
            if exist_ok:
                return cls.open(store_dir)
            raise Conflict(
                f"a store already exists at {store_dir}; use it, or remove it first "
                "(from Python, Store.init(path, exist_ok=True) opens it)"
            )
        materialize.StoreGuard().check_root(path)  # never a store inside a store directory
        building = store_dir + f".init-{uuid.uuid4().hex[:8]}"
        try:
            os.makedirs(path, exist_ok=True)
            os.mkdir(building)
            os.makedirs(os.path.join(building, "objects", "pack"))
            os.makedirs(os.path.join(building, "tmp"))
            config.write_new(os.path.join(building, "config"), workspace, chunking, storage)
            with open(os.path.join(building, ".gitignore"), "w") as f:
                f.write(GITIGNORE)
            Catalog(os.path.join(building, "catalog.db"), create=True).close()
            # Renamed into place last, so a store directory is either complete or absent.
            os.rename(building, store_dir)
            chunkstore.fsync_dir(path)
        except BaseException as exc:
            shutil.rmtree(building, ignore_errors=True)  # never leave a half-built store behind
            if exist_ok and isinstance(exc, OSError) and os.path.isfile(os.path.join(store_dir, "config")):
                return cls.open(store_dir)  # another process created it first (two scripts at once)
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
    def open(cls, path=None, fallback=True):
        """Open a store. Looked up in this order: ``path`` (a project directory or its
        .artstore), the ARTSTORE_DIR environment variable, a ``.artstore`` in the current
        directory or a parent, and, with ``fallback`` (the default), the per-user store
        (``$XDG_DATA_HOME/artstore``, else ``~/.local/share/artstore``), created on first
        use and named once on stderr."""
        try:
            return cls(find_store_dir(path))
        except NotFound:
            if not fallback or path is not None or os.environ.get("ARTSTORE_DIR"):
                raise
        from . import userstore

        return userstore.open_user_store(cls)

    def close(self):
        """Close the catalog connection (a store is also a context manager)."""
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
        """One dict per artifact (of ``artifact_type`` if given): workspace, name, type,
        latest (its highest version) and versions (how many)."""
        return listing.list_artifacts(self, artifact_type)

    def version_rows(self, artifact_id):
        """Version rows of an artifact, lowest version first."""
        return sorted(self.catalog.version_rows(artifact_id), key=_semver_key)

    def version_numbers(self, artifact_id):
        """(id, version) of an artifact's versions, lowest version first (no other column
        is read: ordering 10,000 versions costs a few ms)."""
        return sorted(self.catalog.version_numbers(artifact_id), key=lambda r: names.version_key(r[1]))

    def versions_page(self, name, workspace=None, offset=0, limit=50, newest_first=True):
        """(total, one page of ``versions``' dicts, each also with its ``metadata``): only
        the page's rows are read whole, so an artifact of 10,000 versions pages fast."""
        return listing.versions_page(self, name, workspace, offset, limit, newest_first)

    def versions(self, name, workspace=None):
        """One dict per version of an artifact, lowest version first: version, aliases,
        tags, created_at, size, assets (the count), manifest_digest, and under the names
        ``describe`` uses: assets_count, artifact_version_id, source_experiment_key,
        source_run_name."""
        return listing.versions(self, name, workspace)

    def resolve(self, name, workspace=None, version_or_alias=None):
        """(artifact row, version row) for a reference; no version means latest."""
        return listing.resolve(self, name, workspace, version_or_alias)

    def describe(self, art, vrow, latest_id=None):
        """Everything the API and CLI show about one version, as plain data. ``latest_id``
        saves listing the artifact's versions again when the caller already has them."""
        return listing.describe(self, art, vrow, latest_id)

    def manifest(self, version_id):
        """The manifests.Manifest of a version (its assets, read from its tree)."""
        vrow = self.catalog.version_by_id(version_id)
        if vrow is None:
            raise NotFound(f"no version with id {version_id}")
        return manifests.Manifest(self, vrow)

    def assets(self, version_id, offset=0, limit=None):
        """Descriptions of a version's assets in path order (all, or one page)."""
        return self.manifest(version_id).assets(offset, limit)

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
            compression_level=self.config.storage["compression_level"],
            target_size=self.config.storage["pack_target_size"],
        )

    def log(self, name, sources, *, artifact_type="dataset", version=None, workspace=None,
            aliases=(), version_tags=(), metadata=None, run_id=None, progress=None, skip_if_unchanged=False):
        """Store ``sources`` (ingest.LocalFile / InMemory / StoredFile / RemoteRef ...) as a
        new version and return its ``describe`` dict. Everything or nothing is logged.
        ``sources`` is a list, or any iterable in logical-path order (``walking.iter_walk``
        of a directory streams it without a list of its files).
        ``artifact_type`` None keeps the artifact's type; ``skip_if_unchanged`` logs nothing
        when the assets equal the latest version's (the result then has ``skipped`` True)."""
        return commit.log(self, name, sources, artifact_type=artifact_type, version=version,
                          workspace=workspace, aliases=aliases, version_tags=version_tags,
                          metadata=metadata, run_id=run_id, progress=progress,
                          skip_if_unchanged=skip_if_unchanged)

    def check_writable(self):
        if not os.access(self.dir, os.W_OK) or not os.access(self.tmp_dir, os.W_OK):
            raise ReadOnlyStore(
                f"the store {self.dir} is read-only; reading commands work, "
                "for changes copy it somewhere writable or fix its permissions"
            )

    # -- reading -----------------------------------------------------------------------------

    def file_entries(self, version_id, include_remote=False):
        """materialize.Entry for each asset of a version whose bytes are in the store (local
        and fetched remote assets); with ``include_remote``, also an Entry reading each
        synced remote asset not fetched yet straight from its backend."""
        return self.manifest(version_id).file_entries(include_remote, lambda e: reading.remote_entry(self, e))

    def remote_ref(self, version_id, logical_path):
        """An ingest.RemoteRef that logs the same remote asset again (the update flow)."""
        e = self.manifest(version_id).find(logical_path)
        if e is None or not e.remote:
            raise NotFound(f"no remote asset {logical_path!r} in version {version_id}")
        return ingest.RemoteRef(e.uri, logical_path, e.size, e.identity, dict(e.metadata), e.asset_type)

    def remote_options(self, scheme):
        """Storage options for a scheme from the config's ``[remote "SCHEME"]`` section."""
        scheme = "gs" if scheme == "gcs" else scheme
        return self.config.section(f'remote "{scheme}"')

    def download(self, ref, dest, overwrite_strategy=False, run_id=None, progress=None, exact=False):
        """Write a version's local assets under ``dest``. Returns a summary dict.

        Files already in ``dest`` that the version does not have are listed in ``extra``;
        with ``exact`` they are removed instead (``removed``), and so are directories left
        empty, so that ``dest`` matches the version (reading.download)."""
        return reading.download(self, ref, dest, overwrite_strategy, run_id, progress, exact)

    def download_asset(self, ref, logical_path, target, overwrite_strategy=False):
        """Write one local asset to the file path ``target``."""
        return reading.download_asset(self, ref, logical_path, target, overwrite_strategy)

    def read_asset(self, ref, logical_path):
        """Yield the verified bytes of one local asset, chunk by chunk (a generator)."""
        return reading.read_asset(self, ref, logical_path)

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

    def run_named(self, name, new=False):
        """The run id a ``--run`` value means. A run id (32 hex characters, as printed by
        the command) names that run. A name means the most recent run with that name,
        reused so that several commands add to one run, or a new run if there is none
        or ``new`` is true (the fresh run is then the one the name means)."""
        return history.run_named(self, name, new)

    def use(self, ref, run_id):
        """Record that run ``run_id`` consumed version ``ref`` without downloading it
        (``Experiment.get_artifact`` records the same). Returns the version's ref."""
        return history.use(self, ref, run_id)

    def end_run(self, run_id):
        with self.catalog.transaction() as cat:
            cat.end_run(run_id)

    def run(self, run_id):
        return self.catalog.run(run_id)

    def runs(self):
        """Every run, most recent first: id, project, name, started_at, ended_at, and the
        counts of versions it ``produced`` and ``consumed``."""
        return self.catalog.runs_with_counts()

    def run_versions(self, run_id):
        """What a run produced and consumed, oldest first: [{"kind", "at", "ref",
        "workspace", "name", "version", "type", "version_id"}]."""
        return history.run_versions(self, run_id)

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

    # -- finding versions ----------------------------------------------------------------------

    def search_rows(self, text, artifact_type=None, limit=50):
        """Full-text search: [{"ref", "workspace", "name", "version", "type", "snippet",
        "artifact_version_id"}], best match first (query.search)."""
        return query.search_rows(self, text, artifact_type, limit)

    def reindex_search(self):
        """Rebuild the full-text index (after verify reports it out of step)."""
        with self.lock.shared(), self.catalog.transaction() as cat:
            cat.reindex_search()

    def search(self, text, artifact_type=None, limit=50):
        """search_rows as api.LoggedArtifact objects, each with a ``snippet``."""
        return self._logged(self.search_rows(text, artifact_type, limit))

    def find(self, where=(), **options):
        """find_rows as api.LoggedArtifact objects."""
        return self._logged(self.find_rows(where, **options))

    def _logged(self, rows):
        # The Comet objects live in api, above this layer; imported here so that Python
        # users of Store.find get what Experiment.get_artifact gives them.
        from .api import LoggedArtifact

        out = []
        for row in rows:
            logged = LoggedArtifact(self, self.describe_ref(row["ref"]))
            logged.snippet = row.get("snippet")
            out.append(logged)
        return out

    def find_rows(self, where=(), artifact_type=None, tag=None, alias=None, since=None, until=None,
                  produced_by=None, consumed_by=None, sort="-created_at", limit=None):
        """Versions matching every condition (query.find), sorted (``-KEY``: descending)."""
        return query.find_rows(self, where, artifact_type, tag, alias, since, until, produced_by, consumed_by,
                               sort, limit)

    # -- sharing through remotes (artstore.sync) ----------------------------------------------

    def remotes(self):
        """{name: url} of the configured remotes."""
        from .sync import commands

        return commands.remotes(self)

    def add_remote(self, name, url):
        from .sync import commands

        return commands.add_remote(self, name, url)

    def remove_remote(self, name):
        from .sync import commands

        commands.remove_remote(self, name)

    def push(self, remote=None, refs=(), all_versions=False, force=False, progress=None):
        """Send versions (REFs, or all) with what the remote lacks; refs move by CAS."""
        from .sync import commands

        return commands.push(self, remote, refs, all_versions, force, progress)

    def pull(self, remote=None, refs=(), progress=None, metadata_only=False):
        """Bring the remote's versions (REFs, or all) with what this store lacks; with
        ``metadata_only``, without their data (lazy versions, fetched when read)."""
        from .sync import commands

        return commands.pull(self, remote, refs, progress, metadata_only)

    def gc_remote(self, remote=None, dry_run=False, grace=None, now=None):
        """Two-phase gc of a remote (sync.remote_gc): mark what no ref reaches, delete
        what was marked more than ``grace`` seconds ago and is still unreferenced."""
        from .sync import commands

        return commands.gc_remote(self, remote, dry_run, grace, now)

    def verify_remote(self, remote=None, read_data=False, progress=None):
        """Check a remote as a pull would read it (verify's shape); read_data hashes every chunk."""
        from .sync import commands

        return commands.verify_remote(self, remote, read_data, progress)

    @classmethod
    def clone(cls, url, path=None, workspace=None, progress=None, lazy=False):
        """A new store at ``path`` with ``url`` as remote 'origin' and all its versions
        (with ``lazy``, their metadata only: data is fetched when read)."""
        from .sync import clone

        return clone.clone(cls, url, path, workspace, progress, lazy)

    # -- remote references ---------------------------------------------------------------------

    def fetch(self, ref, progress=None):
        """Pull the bytes of a version's synced remote assets into the store (freeze it),
        and all of its data if it is a lazy version (its chunks are on a remote)."""
        from .sync import commands

        with self.lock.shared():
            vid = self.resolve(ref)[1]["id"]
            chunks, nbytes = commands.complete_lazy(self, vid, progress, self.notice)
        return fetch_mod.fetch(self, ref, progress) | {"lazy_chunks": chunks, "lazy_bytes": nbytes}

    def check_remote(self, progress=None):
        """Problems (verify's shape) for synced remote assets that changed or vanished."""
        return fetch_mod.check_remote(self, progress)

    # -- maintenance --------------------------------------------------------------------------

    def du(self):
        """Space used: logical_bytes (the sum of every version's size), stored_bytes (the
        packs on disk), dedup_ratio, and how many chunks, files and versions there are."""
        t = self.catalog.totals()
        # Dedup: logical bytes over distinct chunk bytes; compression: distinct chunk bytes
        # over what they take in packs (the rest of a pack is its header and index).
        t["dedup_ratio"] = round(t["logical_bytes"] / t["distinct_bytes"], 3) if t["distinct_bytes"] else 1.0
        t["compression_saving_bytes"] = t["distinct_bytes"] - t["compressed_bytes"]
        t["compression_ratio"] = round(t["distinct_bytes"] / t["compressed_bytes"], 3) if t["compressed_bytes"] else 1.0
        return t

    def du_by_artifact(self):
        """Where the bytes are: per artifact, logical bytes and the stored bytes only it uses."""
        with self.lock.shared():
            return retention.du_by_artifact(self)

    def prune(self, names=(), keep_last=None, keep_within=None, keep_aliased=True, keep_tagged=(),
              dry_run=False):
        """Remove the versions no rule keeps (retention.prune); space returns at gc."""
        return retention.prune(self, names, keep_last, keep_within, keep_aliased, keep_tagged, dry_run)

    def delete_version(self, ref, force=False):
        """Remove one version (``name:version_or_alias``); see delete_versions."""
        return self.delete_versions([ref], force)[0]

    def delete_versions(self, refs, force=False):
        """Remove versions in one transaction (all or none); their bytes return at the next
        gc. A version that an alias other than ``latest`` names is refused (Conflict,
        naming the aliases) unless ``force``: the alias goes with it. Returns the refs."""
        found = {}
        with self.lock.shared():
            for ref in refs:
                if isinstance(ref, str) and ":" not in ref:
                    raise InvalidInput(
                        f"give the version to remove, e.g. '{ref}:1.0.0' (rm deletes versions, not artifacts)"
                    )
                art, vrow = self.resolve(ref)
                found[vrow["id"]] = (art, vrow)
            if not force:
                for art, vrow in found.values():
                    held = self.catalog.aliases_of_version(vrow["id"])
                    if held:
                        raise Conflict(
                            f"{art['workspace']}/{art['name']}:{vrow['version']} holds the alias(es) "
                            f"{', '.join(sorted(held))}; nothing was removed; pass --force (force=True) "
                            "to remove it and its aliases, or move them first with 'artstore alias'"
                        )
            checkpoint("before-rm-commit")
            with self.catalog.transaction() as cat:
                for _art, vrow in found.values():
                    cat.delete_version(vrow["id"])
                for art_id in {art["id"] for art, _ in found.values()}:
                    cat.delete_artifact_if_empty(art_id)
        return [f"{art['workspace']}/{art['name']}:{vrow['version']}" for art, vrow in found.values()]

    def remote_asset_count(self):
        return len(fetch_mod.synced_remote_assets(self))

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

    def gc(self, dry_run=False, progress=None, repack_threshold=None):
        """Remove what no version references; rewrite packs whose dead share is above
        ``repack_threshold`` (default: the config's ``gc_repack_threshold``; 0 rewrites
        every pack with a dead byte). Returns a summary; ``dead_bytes_kept`` counts what
        stays in packs below the threshold."""
        with self.lock.exclusive():
            return gc_mod.collect(self, dry_run=dry_run, progress=progress, repack_threshold=repack_threshold)
