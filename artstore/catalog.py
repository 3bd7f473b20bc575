"""The SQLite catalog: every fact except chunk bytes. All SQL lives in this module.

The catalog is opened in WAL mode with a busy timeout. Schema changes are numbered
migrations recorded in ``meta.schema_version``. Logged versions are immutable in the
database itself: triggers refuse any UPDATE of a version or asset row, any asset added to
(or removed from) a version that exists, and any change to a file's chunk list.
"""

import json
import os
import sqlite3
import urllib.parse
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from .errors import Conflict, DiskError, DiskFull, IntegrityError, InvalidInput, ReadOnlyStore, StoreLocked
from .faults import checkpoint
from .schema import MIGRATIONS, SCHEMA_VERSION, TABLES, statements

BUSY_TIMEOUT_MS = 30_000
DIGEST_SIZE = 32

def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def split_chunks(blob):
    """The ordered chunk ids of a file's chunk list."""
    return [blob[i:i + DIGEST_SIZE] for i in range(0, len(blob), DIGEST_SIZE)]


def _translate(exc, path):
    """Turn an sqlite3 error into the ArtstoreError a user can act on."""
    text = str(exc)
    if "artstore-immutable" in text:
        return Conflict(text.split("artstore-immutable: ", 1)[1] + " (logged versions are immutable)")
    if "locked" in text or "busy" in text:
        return StoreLocked(
            f"the catalog {path} is busy (another artstore process holds it); try again shortly"
        )
    if ("not a database" in text or "malformed" in text or "file is encrypted" in text
            or "Could not decode to UTF-8" in text):
        first = text.splitlines()[0][:200] if text else text
        return IntegrityError(
            f"the catalog {path} is damaged ({first}); run 'artstore verify' or restore "
            ".artstore/catalog.db from a backup"
        )
    if "readonly" in text or "read-only" in text:
        return ReadOnlyStore(
            f"the store at {os.path.dirname(path)} is read-only (read-only medium or no write "
            "permission); reading commands work, for changes copy it somewhere writable"
        )
    if "full" in text or "disk I/O" in text:
        return disk_error(path, text)
    if "unable to open" in text and not os.access(os.path.dirname(path) or ".", os.W_OK):
        return ReadOnlyStore(
            f"the store at {os.path.dirname(path)} is read-only (read-only medium or no write "
            "permission); reading commands work, for changes copy it somewhere writable"
        )
    return None


def disk_error(path, text):
    """DiskFull if the filesystem holding ``path`` has no space left, else DiskError."""
    try:
        st = os.statvfs(os.path.dirname(path) or ".")
        full = st.f_bavail == 0 or (st.f_favail == 0 and st.f_files > 0)
    except OSError:
        full = "full" in text
    if full or "full" in text:
        return DiskFull(
            f"the disk holding {os.path.dirname(path)} is full, so the change was not made; "
            "free some space and run the command again (reading commands still work)"
        )
    return DiskError(f"the catalog {path} could not be written ({text}); check the disk")


@contextmanager
def sql_errors(path):
    """Translate sqlite3 errors raised inside the block (see _translate)."""
    try:
        yield
    except sqlite3.Error as exc:
        translated = _translate(exc, path)
        if translated is None:
            raise
        raise translated from exc
    except UnicodeEncodeError as exc:
        # A query parameter with bytes that are not UTF-8 (surrogate escapes from argv):
        # callers validate names, this catches any value that reached SQL unchecked.
        shown = repr(exc.object[max(exc.start - 20, 0):exc.end + 20])
        raise InvalidInput(f"{shown} is not valid Unicode (bytes that are not UTF-8); use UTF-8 text") from None


def _uri(path, query):
    return "file:" + urllib.parse.quote(os.fsencode(os.path.abspath(path))) + "?" + query


def _read_connection(path):
    """A read-only connection (datasette's ``Database.connect``): ``mode=ro``, which
    never writes the database; on media where even the WAL index (-shm) cannot be made
    (a read-only mount, a full disk) ``immutable=1``, which reads the file as it is."""
    last = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(_uri(path, query), uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA cache_size = -32768")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            text = str(exc)
            if not ("unable to open" in text or "disk I/O" in text or "readonly" in text or "full" in text):
                raise
            if not _cannot_write(os.path.dirname(path)):
                raise  # immutable=1 on a file others may change could read a torn state
            last = exc
    raise last


def _cannot_write(directory):
    """True on a read-only medium, without write permission, or on a full disk."""
    if not os.access(directory or ".", os.W_OK):
        return True
    try:
        st = os.statvfs(directory or ".")
    except OSError:
        return False
    # Less than 1 MiB free counts as full: SQLite's WAL index alone needs 32 KiB.
    return st.f_bavail * st.f_frsize < (1 << 20) or (st.f_files > 0 and st.f_favail == 0)


class Catalog:
    """Connections to a store's catalog.db and every query artstore makes of it.

    Reads go through a read-only connection, so every reading command works on a
    read-only medium and on a full disk; the write connection is opened by the first
    ``transaction()`` (or a migration), and only writes can fail for want of space."""

    def __init__(self, path, *, create=False):
        self.path = path
        self._reader = None
        self._writer = None
        self._in_transaction = False
        self.commits = 0  # transactions committed through this catalog (cli's SIGINT message)
        if not create and not os.path.exists(path):
            raise IntegrityError(
                f"the catalog {path} is missing; restore .artstore/catalog.db from a backup"
            )
        with sql_errors(path):
            if create:
                self._writer = self._open_writer()
            else:
                self._reader = _read_connection(path)
            self._migrate(create)

    def _open_writer(self):
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # 32 MiB of page cache (the default is 2 MiB): logging 100k assets into a
            # catalog that already holds millions of rows stays in memory.
            conn.execute("PRAGMA cache_size = -32768")
            # Temporary tables (artstore.spill) in a file, whatever SQLite's build default:
            # they hold what a log of millions of files would otherwise keep in memory.
            conn.execute("PRAGMA temp_store = FILE")
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def conn(self):
        """The write connection inside a transaction, else the read-only one."""
        if self._in_transaction or self._reader is None:
            return self._writer
        return self._reader

    def close(self):
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None

    # -- schema -------------------------------------------------------------------------

    def _schema_version(self):
        names = self._table_names()
        if not names:
            return 0
        if "meta" not in names:
            raise IntegrityError(
                f"{self.path} is an SQLite file but not an artstore catalog (no meta table); "
                "restore .artstore/catalog.db from a backup"
            )
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            raise IntegrityError(f"the catalog {self.path} has no schema version; restore it from a backup")
        return int(row[0])

    def _migrate(self, create):
        if not create and self._schema_version() == SCHEMA_VERSION:
            return  # nothing to write: a read-only store opens without a write connection
        with self.transaction():
            current = self._schema_version()
            if current == 0 and not create:
                raise IntegrityError(
                    f"the catalog {self.path} is empty; restore .artstore/catalog.db from a backup"
                )
            if current > SCHEMA_VERSION:
                raise InvalidInput(
                    f"the catalog has schema version {current}, newer than this artstore "
                    f"understands ({SCHEMA_VERSION}); upgrade artstore"
                )
            for step in range(current, SCHEMA_VERSION):
                migration = MIGRATIONS[step]
                if callable(migration):
                    migration(self.conn)
                else:
                    for statement in statements(migration):
                        self.conn.execute(statement)
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(step + 1),),
                )

    def check_schema(self):
        """Names of tables the current schema needs but the database lacks."""
        return sorted(TABLES - self._table_names())

    def _table_names(self):
        with sql_errors(self.path):
            return {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    @contextmanager
    def transaction(self):
        """One write transaction, taken IMMEDIATE so two writers never deadlock on upgrade."""
        with sql_errors(self.path):
            if self._writer is None:
                self._writer = self._open_writer()
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield self
                checkpoint("catalog-commit")
                conn.execute("COMMIT")
                self.commits += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._in_transaction = False

    def query(self, sql, params=()):
        """Rows as dicts (plain sqlite3: sqlite-utils cost 35 ms of every command's start-up
        for this and table names, the only two things artstore used it for)."""
        with sql_errors(self.path):
            cursor = self.conn.execute(sql, params)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return [dict(zip(columns, row, strict=True)) for row in cursor]

    def scalar(self, sql, params=()):
        with sql_errors(self.path):
            row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def quick_check(self):
        """SQLite's own structural check: a list of problems (empty when fine)."""
        with sql_errors(self.path):
            rows = [r[0] for r in self.conn.execute("PRAGMA quick_check").fetchall()]
            fk = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        problems = [r for r in rows if r != "ok"]
        problems += [f"foreign key violation in {r[0]} row {r[1]}" for r in fk]
        return problems

    # -- chunks, packs, files -----------------------------------------------------------

    def _rows_in(self, sql, keys, batch=500):
        """Rows of ``sql``, whose ``{marks}`` is an IN list, for every key, a batch at a time."""
        keys = list(keys)
        with sql_errors(self.path):
            for start in range(0, len(keys), batch):
                part = keys[start:start + batch]
                yield from self.conn.execute(sql.format(marks=",".join("?" * len(part))), part)

    def known_chunks(self, ids):
        """The subset of ``ids`` already in the chunk index."""
        return {r[0] for r in self._rows_in("SELECT id FROM chunks WHERE id IN ({marks})", ids)}

    def scan_beats_lookup(self, table, keys):
        """Whether reading all of ``table`` beats looking ``keys`` up one by one: a lookup
        costs about four rows of a scan (100,000 of a 100,000-row table: 0.36 s looked up,
        0.1 s scanned), so a push or pull of most of a store scans. The rows are counted
        only up to that bound, so a large table costs no more than the keys do."""
        bound = 4 * len(keys)
        return len(keys) >= 1000 and self.scalar(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT ?)", (bound + 1,)) <= bound

    def chunk_locations(self, ids):
        """id -> (pack name, offset, stored_size, size, compression) for the given chunk ids."""
        ids = set(ids)
        if self.scan_beats_lookup("chunks", ids):
            with sql_errors(self.path):
                names = dict(self.conn.execute("SELECT id, name FROM packs"))
                return {r[0]: (names[r[1]], *r[2:]) for r in self.conn.execute(
                    "SELECT id, pack_id, offset, stored_size, size, compression FROM chunks") if r[0] in ids}
        rows = self._rows_in(
            "SELECT c.id, p.name, c.offset, c.stored_size, c.size, c.compression "
            "FROM chunks c JOIN packs p ON p.id = c.pack_id WHERE c.id IN ({marks})",
            ids,
        )
        return {row[0]: row[1:] for row in rows}

    def chunks_by_pack(self, ids):
        """pack name -> [(id, offset, stored_size, size, compression)] of the given chunk
        ids (a pack's own index entries have this shape: push compares them)."""
        ids = set(ids)
        by_pack = {}
        with sql_errors(self.path):
            names = dict(self.conn.execute("SELECT id, name FROM packs"))
            if self.scan_beats_lookup("chunks", ids):
                rows = (r for r in self.conn.execute(
                    "SELECT pack_id, id, offset, stored_size, size, compression FROM chunks") if r[1] in ids)
            else:
                rows = self._rows_in("SELECT pack_id, id, offset, stored_size, size, compression FROM chunks "
                                     "WHERE id IN ({marks})", ids)
            for row in rows:
                by_pack.setdefault(row[0], []).append(row[1:])
        return {names[p]: rows for p, rows in by_pack.items()}

    def pack_chunk_counts(self):
        """pack name -> how many chunk rows name it (every pack, empty ones with 0)."""
        with sql_errors(self.path):
            return dict(self.conn.execute(
                "SELECT p.name, (SELECT count(*) FROM chunks c WHERE c.pack_id = p.id) FROM packs p"))

    def get_file(self, digest):
        """(size, chunk-list blob) of a stored file, or None."""
        with sql_errors(self.path):
            row = self.conn.execute("SELECT size, chunks FROM files WHERE digest = ?", (digest,)).fetchone()
        return row

    def add_packs(self, packs, relocate=()):
        """Insert sealed packs and their chunk index rows (inside a transaction).

        Chunks in ``relocate`` were stored again because their recorded pack is missing
        or damaged: their index rows move to the new pack."""
        created = now_iso()
        for pack in packs:
            cur = self.conn.execute(
                "INSERT INTO packs (name, size, created_at) VALUES (?, ?, ?)",
                (pack.name, pack.size, created),
            )
            pack_id = cur.lastrowid
            # A chunk another writer committed first keeps its older location.
            self.conn.executemany(
                "INSERT OR IGNORE INTO chunks (id, pack_id, offset, stored_size, size, compression) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                ((e[0], pack_id, e[1], e[2], e[3], e[4]) for e in pack.iter_entries() if e[0] not in relocate),
            )
            if relocate:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO chunks (id, pack_id, offset, stored_size, size, compression) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    ((e[0], pack_id, e[1], e[2], e[3], e[4]) for e in pack.iter_entries() if e[0] in relocate),
                )

    def add_files(self, files):
        """Insert file rows: iterable of (digest, size, chunk-list blob)."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO files (digest, size, chunks) VALUES (?, ?, ?)", files
        )

    def forget(self, files, chunks, pack_ids):
        """gc: delete file rows, chunk rows and pack rows (inside a transaction), and stat
        cache entries that pointed at a deleted file."""
        self.conn.executemany("DELETE FROM files WHERE digest = ?", [(d,) for d in files])
        self.conn.executemany("DELETE FROM chunks WHERE id = ?", [(c,) for c in chunks])
        self.conn.executemany("DELETE FROM packs WHERE id = ?", [(p,) for p in pack_ids])
        self.conn.execute("DELETE FROM stat_cache WHERE digest NOT IN (SELECT digest FROM files)")

    def packs(self):
        return self.query("SELECT id, name, size FROM packs ORDER BY id")

    def pack_chunks(self, pack_id):
        with sql_errors(self.path):
            return self.conn.execute(
                "SELECT id, offset, stored_size, size, compression FROM chunks "
                "WHERE pack_id = ? ORDER BY offset",
                (pack_id,),
            ).fetchall()

    def iter_files(self):
        with sql_errors(self.path):
            yield from self.conn.execute("SELECT digest, size, chunks FROM files")

    def files_many(self, digests):
        """digest -> (size, chunk-list blob) for those of ``digests`` stored."""
        digests = set(digests)
        if self.scan_beats_lookup("files", digests):
            with sql_errors(self.path):
                return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT digest, size, chunks FROM files")
                        if r[0] in digests}
        return {r[0]: (r[1], r[2]) for r in self._rows_in(
            "SELECT digest, size, chunks FROM files WHERE digest IN ({marks})", digests)}

    def fetched_digests(self):
        """Digests of the bytes of every fetched remote asset (live for gc)."""
        with sql_errors(self.path):
            return {r[0] for r in self.conn.execute("SELECT file_digest FROM fetched")}

    # -- manifest tree nodes ------------------------------------------------------------

    def nodes_get(self, digests):
        """digest -> compressed node bytes, for those of ``digests`` present."""
        return dict(self._rows_in("SELECT digest, data FROM nodes WHERE digest IN ({marks})", digests))

    def nodes_known(self, digests):
        return {r[0] for r in self._rows_in("SELECT digest FROM nodes WHERE digest IN ({marks})", digests)}

    def nodes_add(self, rows):
        """Insert (digest, level, compressed bytes) rows (inside a transaction)."""
        self.conn.executemany("INSERT OR IGNORE INTO nodes (digest, level, data) VALUES (?, ?, ?)", rows)

    def node_digests(self):
        with sql_errors(self.path):
            return [r[0] for r in self.conn.execute("SELECT digest FROM nodes")]

    def iter_nodes(self):
        """(digest, level, compressed bytes) of every node (verify)."""
        with sql_errors(self.path):
            yield from self.conn.execute("SELECT digest, level, data FROM nodes")

    def nodes_rows(self, digests):
        """digest -> (level, compressed node bytes), for those of ``digests`` present."""
        return {r[0]: (r[1], r[2]) for r in self._rows_in(
            "SELECT digest, level, data FROM nodes WHERE digest IN ({marks})", digests)}

    def forget_nodes(self, digests):
        self.conn.executemany("DELETE FROM nodes WHERE digest = ?", [(d,) for d in digests])

    # -- stat cache ---------------------------------------------------------------------
    # Every entry names a stored file: entries are written in the transaction that adds
    # their file, and gc deletes the entries of the files it deletes in the transaction
    # that deletes them (forget), so a lookup needs no join with files (which cost 0.2 s
    # per 100,000 entries).

    def stat_cache_get(self, path):
        if not _encodable(path):
            return None
        with sql_errors(self.path):
            return self.conn.execute(
                "SELECT path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns "
                "FROM stat_cache WHERE path = ?",
                (path,),
            ).fetchone()

    def stat_cache_many(self, paths):
        """Stat-cache rows (as stat_cache_get) of those of ``paths`` that are cached, by
        batches of point lookups (a log streams its files a batch at a time)."""
        return self._rows_in(
            "SELECT path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns "
            "FROM stat_cache WHERE path IN ({marks})",
            [p for p in paths if _encodable(p)],
        )

    def stat_cache_scan(self, low):
        """A cursor over the stat-cache rows (as stat_cache_get) with path >= ``low`` (a
        UTF-8 encodable path), in path order; the caller reads as far as it needs and
        closes it."""
        with sql_errors(self.path):
            return self.conn.execute(
                "SELECT path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns "
                "FROM stat_cache WHERE path >= ? ORDER BY path",
                (low,),
            )

    def write_connection(self):
        """The write connection, opened if need be (for temporary tables: artstore.spill)."""
        with sql_errors(self.path):
            if self._writer is None:
                self._writer = self._open_writer()
        return self._writer

    def stat_cache_put(self, rows):
        """Record (path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns) rows.
        A path that is not UTF-8 (undecodable bytes) cannot be a TEXT key: it is not cached."""
        rows = [r for r in rows if _encodable(r[0])]
        self.conn.executemany(
            "INSERT OR REPLACE INTO stat_cache "
            "(path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    # -- artifacts and versions ---------------------------------------------------------

    def get_artifact(self, workspace, name):
        rows = self.query(
            "SELECT * FROM artifacts WHERE workspace = ? AND name = ?", (workspace, name)
        )
        return rows[0] if rows else None

    def ensure_artifact(self, workspace, name, artifact_type):
        """The artifact row, created if new (inside a transaction)."""
        row = self.get_artifact(workspace, name)
        if row is not None:
            return row
        row = {
            "id": uuid.uuid4().hex,
            "workspace": workspace,
            "name": name,
            "type": artifact_type,
            "created_at": now_iso(),
        }
        self.conn.execute(
            "INSERT INTO artifacts (id, workspace, name, type, created_at) VALUES (?, ?, ?, ?, ?)",
            tuple(row.values()),
        )
        return row

    def list_artifacts(self, artifact_type=None):
        sql = "SELECT * FROM artifacts"
        params = ()
        if artifact_type is not None:
            sql += " WHERE type = ?"
            params = (artifact_type,)
        return self.query(sql + " ORDER BY workspace, name", params)

    def version_rows(self, artifact_id):
        return self.query("SELECT * FROM versions WHERE artifact_id = ?", (artifact_id,))

    def version_numbers(self, artifact_id):
        """(id, version) of every version of an artifact: what ordering them needs, without
        the metadata of each (10,000 versions: a few ms instead of the full rows' 70)."""
        with sql_errors(self.path):
            return self.conn.execute("SELECT id, version FROM versions WHERE artifact_id = ?",
                                     (artifact_id,)).fetchall()

    def versions_with_manifest(self, artifact_id, manifest_digest, exclude=None):
        """Version numbers of an artifact's versions whose manifest is ``manifest_digest``
        (other than the version ``exclude``)."""
        with sql_errors(self.path):
            return [row[0] for row in self.conn.execute(
                "SELECT version FROM versions WHERE artifact_id = ? AND manifest_digest = ? AND id IS NOT ?",
                (artifact_id, manifest_digest, exclude))]

    def labels_of_versions(self, version_ids):
        """({version id: sorted aliases}, {version id: sorted tags}) of the given versions."""
        aliases, tags = {}, {}
        for vid, alias in self._rows_in(
                "SELECT version_id, alias FROM aliases WHERE version_id IN ({marks}) ORDER BY alias", version_ids):
            aliases.setdefault(vid, []).append(alias)
        for vid, tag in self._rows_in(
                "SELECT version_id, tag FROM version_tags WHERE version_id IN ({marks}) ORDER BY tag", version_ids):
            tags.setdefault(vid, []).append(tag)
        return aliases, tags

    def run_names(self, run_ids):
        """{run id: name} of the given runs."""
        return dict(self._rows_in("SELECT id, name FROM runs WHERE id IN ({marks})", run_ids))

    def version_by_id(self, version_id):
        rows = self.query("SELECT * FROM versions WHERE id = ?", (version_id,))
        return rows[0] if rows else None

    def versions_by_ids(self, ids):
        return self.query(f"SELECT * FROM versions WHERE id IN ({','.join('?' * len(ids))})", list(ids)) if ids else []

    def artifact_by_id(self, artifact_id):
        rows = self.query("SELECT * FROM artifacts WHERE id = ?", (artifact_id,))
        return rows[0] if rows else None

    def latest_version_ids(self):
        """Ids of each artifact's highest version (what the implicit alias latest names)."""
        from .names import version_key

        best = {}
        with sql_errors(self.path):
            for vid, artifact_id, version in self.conn.execute("SELECT id, artifact_id, version FROM versions"):
                key = version_key(version)
                if artifact_id not in best or key > best[artifact_id][0]:
                    best[artifact_id] = (key, vid)
        return {vid for _key, vid in best.values()}

    def version_by_number(self, artifact_id, version):
        rows = self.query(
            "SELECT * FROM versions WHERE artifact_id = ? AND version = ?", (artifact_id, version)
        )
        return rows[0] if rows else None

    def version_by_alias(self, artifact_id, alias):
        rows = self.query(
            "SELECT v.* FROM versions v JOIN aliases a ON a.version_id = v.id "
            "WHERE a.artifact_id = ? AND a.alias = ?",
            (artifact_id, alias),
        )
        return rows[0] if rows else None

    def insert_version(self, version_row):
        """Insert a version row (its manifest's nodes are added first, in the same transaction)."""
        cols = ", ".join(version_row)
        marks = ", ".join("?" * len(version_row))
        self.conn.execute(f"INSERT INTO versions ({cols}) VALUES ({marks})", tuple(version_row.values()))

    def version_counts(self):
        """version id -> (asset_count, size) as the version rows record them (verify; only
        these columns are read, so a damaged text column elsewhere does not stop it)."""
        with sql_errors(self.path):
            return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT id, asset_count, size FROM versions")}

    def version_roots(self):
        """(version id, manifest digest) of every version."""
        with sql_errors(self.path):
            return self.conn.execute("SELECT id, manifest_digest FROM versions").fetchall()

    def legacy_asset_ids(self, version_id):
        """logical path -> asset id kept from before schema 3 (empty for later versions)."""
        with sql_errors(self.path):
            return dict(self.conn.execute(
                "SELECT logical_path, id FROM asset_ids WHERE version_id = ?", (version_id,)))

    def delete_version(self, version_id):
        self.conn.execute("DELETE FROM versions WHERE id = ?", (version_id,))

    # -- lazy versions (data on a remote: pull --metadata-only, clone --lazy) -----------------

    def mark_lazy(self, version_ids, remote):
        at = now_iso()
        self.conn.executemany(
            "INSERT OR REPLACE INTO lazy_versions (version_id, remote, since) VALUES (?, ?, ?)",
            [(v, remote, at) for v in version_ids],
        )

    def unmark_lazy(self, version_ids):
        self.conn.executemany("DELETE FROM lazy_versions WHERE version_id = ?", [(v,) for v in version_ids])

    def lazy_versions(self):
        """{version id: remote name} of every lazy version."""
        with sql_errors(self.path):
            return dict(self.conn.execute("SELECT version_id, remote FROM lazy_versions"))

    def fetched_of_version(self, version_id):
        """asset id -> file digest of the version's fetched remote assets."""
        with sql_errors(self.path):
            return dict(self.conn.execute(
                "SELECT asset_id, file_digest FROM fetched WHERE version_id = ?", (version_id,)))

    def add_fetched(self, rows):
        """Record fetched remote assets: (asset_id, version_id, file_digest) rows."""
        at = now_iso()
        self.conn.executemany(
            "INSERT OR IGNORE INTO fetched (asset_id, version_id, file_digest, fetched_at) VALUES (?, ?, ?, ?)",
            [(a, v, d, at) for a, v, d in rows],
        )

    def version_labels(self, artifact_id):
        """({version id: sorted aliases}, {version id: sorted tags}, {run id: run name}) for
        every version of an artifact."""
        aliases, tags = {}, {}
        with sql_errors(self.path):
            for vid, alias in self.conn.execute(
                    "SELECT version_id, alias FROM aliases WHERE artifact_id = ? ORDER BY alias", (artifact_id,)):
                aliases.setdefault(vid, []).append(alias)
            for vid, tag in self.conn.execute(
                    "SELECT t.version_id, t.tag FROM version_tags t JOIN versions v ON v.id = t.version_id "
                    "WHERE v.artifact_id = ? ORDER BY t.tag", (artifact_id,)):
                tags.setdefault(vid, []).append(tag)
            runs = dict(self.conn.execute(
                "SELECT r.id, r.name FROM runs r WHERE r.id IN "
                "(SELECT run_id FROM versions WHERE artifact_id = ? AND run_id IS NOT NULL)", (artifact_id,)))
        return aliases, tags, runs

    def aliases_of_version(self, version_id):
        return sorted(
            r["alias"] for r in self.query("SELECT alias FROM aliases WHERE version_id = ?", (version_id,))
        )

    def tags_of_version(self, version_id):
        return sorted(
            r["tag"] for r in self.query("SELECT tag FROM version_tags WHERE version_id = ?", (version_id,))
        )

    def tags_of_artifact(self, artifact_id):
        return sorted(
            r["tag"] for r in self.query("SELECT tag FROM artifact_tags WHERE artifact_id = ?", (artifact_id,))
        )

    def set_alias(self, artifact_id, alias, version_id):
        """Point ``alias`` at ``version_id``, moving it if it named another version."""
        self.conn.execute(
            "INSERT INTO aliases (artifact_id, alias, version_id) VALUES (?, ?, ?) "
            "ON CONFLICT (artifact_id, alias) DO UPDATE SET version_id = excluded.version_id",
            (artifact_id, alias, version_id),
        )

    def remove_alias(self, artifact_id, alias, version_id):
        cur = self.conn.execute(
            "DELETE FROM aliases WHERE artifact_id = ? AND alias = ? AND version_id = ?",
            (artifact_id, alias, version_id),
        )
        return cur.rowcount

    def add_version_tags(self, version_id, tags):
        self.conn.executemany(
            "INSERT OR IGNORE INTO version_tags (version_id, tag) VALUES (?, ?)",
            [(version_id, t) for t in tags],
        )

    def remove_version_tags(self, version_id, tags):
        self.conn.executemany(
            "DELETE FROM version_tags WHERE version_id = ? AND tag = ?", [(version_id, t) for t in tags]
        )

    def set_artifact_tags(self, artifact_id, tags):
        self.conn.execute("DELETE FROM artifact_tags WHERE artifact_id = ?", (artifact_id,))
        self.conn.executemany(
            "INSERT INTO artifact_tags (artifact_id, tag) VALUES (?, ?)", [(artifact_id, t) for t in tags]
        )

    def set_version_tags(self, version_id, tags):
        self.conn.execute("DELETE FROM version_tags WHERE version_id = ?", (version_id,))
        self.add_version_tags(version_id, tags)

    def delete_artifact_if_empty(self, artifact_id):
        if self.scalar("SELECT COUNT(*) FROM versions WHERE artifact_id = ?", (artifact_id,)) == 0:
            self.conn.execute("DELETE FROM aliases WHERE artifact_id = ?", (artifact_id,))
            self.conn.execute("DELETE FROM artifacts WHERE id = ?", (artifact_id,))

    # -- runs and lineage ---------------------------------------------------------------

    def ensure_run(self, run_id, project=None, name=None):
        self.conn.execute(
            "INSERT OR IGNORE INTO runs (id, project, name, started_at) VALUES (?, ?, ?, ?)",
            (run_id, project, name, now_iso()),
        )

    def run_by_name(self, name):
        rows = self.query("SELECT * FROM runs WHERE name = ? ORDER BY started_at DESC LIMIT 1", (name,))
        return rows[0] if rows else None

    def end_run(self, run_id):
        self.conn.execute("UPDATE runs SET ended_at = ? WHERE id = ?", (now_iso(), run_id))

    def add_lineage(self, run_id, version_id, kind):
        self.conn.execute(
            "INSERT OR IGNORE INTO lineage (run_id, version_id, kind, at) VALUES (?, ?, ?, ?)",
            (run_id, version_id, kind, now_iso()),
        )

    def add_lineage_rows(self, rows):
        """Lineage rows as another store recorded them: (run_id, version_id, kind, at)."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO lineage (run_id, version_id, kind, at) VALUES (?, ?, ?, ?)", rows)

    def add_runs(self, rows):
        """Runs as another store recorded them: (id, project, name, started_at, ended_at)."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO runs (id, project, name, started_at, ended_at) VALUES (?, ?, ?, ?, ?)", rows)

    def add_asset_ids(self, rows):
        self.conn.executemany("INSERT OR IGNORE INTO asset_ids (version_id, logical_path, id) VALUES (?, ?, ?)",
                              rows)

    def asset_id_rows(self, version_id):
        with sql_errors(self.path):
            return self.conn.execute(
                "SELECT logical_path, id FROM asset_ids WHERE version_id = ?", (version_id,)).fetchall()

    def fetched_rows(self, version_id):
        with sql_errors(self.path):
            return self.conn.execute(
                "SELECT asset_id, file_digest FROM fetched WHERE version_id = ?", (version_id,)).fetchall()

    def lineage_of_versions(self, version_ids):
        marks = ",".join("?" * len(version_ids))
        return self.query(f"SELECT * FROM lineage WHERE version_id IN ({marks})", tuple(version_ids))

    def lineage_of_runs(self, run_ids):
        marks = ",".join("?" * len(run_ids))
        return self.query(f"SELECT * FROM lineage WHERE run_id IN ({marks})", tuple(run_ids))

    def run(self, run_id):
        rows = self.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return rows[0] if rows else None

    def runs_with_counts(self):
        """Every run, most recently started first, with how many versions it produced and
        consumed."""
        return self.query(
            "SELECT r.id, r.project, r.name, r.started_at, r.ended_at, "
            "COALESCE(SUM(l.kind = 'produced'), 0) AS produced, COALESCE(SUM(l.kind = 'consumed'), 0) AS consumed "
            "FROM runs r LEFT JOIN lineage l ON l.run_id = r.id GROUP BY r.id ORDER BY r.started_at DESC, r.id")

    def versions_of_run(self, run_id):
        """The versions a run produced or consumed, oldest record first, with their names."""
        return self.query(
            "SELECT l.kind, l.at, v.id AS version_id, v.version, a.workspace, a.name, a.type "
            "FROM lineage l JOIN versions v ON v.id = l.version_id JOIN artifacts a ON a.id = v.artifact_id "
            "WHERE l.run_id = ? ORDER BY l.at, a.workspace, a.name", (run_id,))

    def reindex_search(self):
        """Rebuild the full-text index from the catalog (inside a transaction)."""
        self.conn.execute("DELETE FROM search_index")
        self.conn.execute("INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata) "
                          "SELECT * FROM search_docs")

    # -- accounting ---------------------------------------------------------------------

    def totals(self):
        """Figures for du: logical bytes of all versions, bytes of the distinct chunks before
        and after compression, stored bytes of packs, counts."""
        return {
            "logical_bytes": self.scalar("SELECT COALESCE(SUM(local_size), 0) FROM versions"),
            "distinct_bytes": self.scalar("SELECT COALESCE(SUM(size), 0) FROM chunks"),
            "compressed_bytes": self.scalar("SELECT COALESCE(SUM(stored_size), 0) FROM chunks"),
            "stored_bytes": self.scalar("SELECT COALESCE(SUM(size), 0) FROM packs"),
            "chunks": self.scalar("SELECT COUNT(*) FROM chunks"),
            "files": self.scalar("SELECT COUNT(*) FROM files"),
            "versions": self.scalar("SELECT COUNT(*) FROM versions"),
        }


def _encodable(text):
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def dumps(obj):
    """Canonical JSON used for metadata columns and manifest digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- raw records, for verify (kept apart: the tree-manifest work reshapes the tables above) --

def raw_rows(catalog, table, text_columns, other_columns=()):
    """Every row of ``table`` with its TEXT columns read as bytes (CAST AS BLOB), so that a
    value that is not UTF-8 is reported by verify instead of stopping it. [] if the table
    does not exist (an older or newer schema)."""
    if table not in catalog._table_names():
        return []
    columns = [f"CAST({c} AS BLOB) AS {c}" for c in text_columns] + list(other_columns)
    return catalog.query(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 (names are ours)


def version_asset_totals(catalog):
    """version id -> (number of asset rows, sum of their sizes)."""
    if "assets" not in catalog._table_names():
        return {}
    rows = catalog.query("SELECT CAST(version_id AS BLOB) AS v, COUNT(*) AS n, TOTAL(size) AS s "
                         "FROM assets GROUP BY version_id")
    return {r["v"]: (r["n"], r["s"]) for r in rows}
