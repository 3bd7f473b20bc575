"""The catalog's connections, schema migrations, transactions and error translation.

The catalog is opened in WAL mode with a busy timeout. Schema changes are numbered
migrations recorded in ``meta.schema_version``. Logged versions are immutable in the
database itself: triggers refuse any UPDATE of a version or asset row, any asset added to
(or removed from) a version that exists, and any change to a file's chunk list.
"""

import json
import os
import sqlite3
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timezone

from ..errors import Conflict, DiskError, DiskFull, IntegrityError, InvalidInput, ReadOnlyStore, StoreLocked
from ..faults import checkpoint
from ..schema import MIGRATIONS, SCHEMA_VERSION, TABLES, statements

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


class CatalogBase:
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
            before, committing = self.commits, False
            try:
                yield self
                checkpoint("catalog-commit")
                committing = True
                conn.execute("COMMIT")
                self.commits = before + 1
                checkpoint("catalog-committed")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                elif committing:  # interrupted once the COMMIT went through: it counts
                    self.commits = before + 1
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


# Rows per multi-row INSERT (insert_rows), fewer where SQLite's bound on a statement's
# parameters is lower (999 before SQLite 3.32).
_ROWS_PER_STATEMENT = 500


def _rows_per_statement(conn, width):
    try:
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # Python 3.11+
    except AttributeError:
        limit = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    return max(1, min(_ROWS_PER_STATEMENT, limit // width))


def insert_rows(conn, head, width, rows):
    """Run ``head`` ("INSERT ... (columns) VALUES") for every row of ``rows`` (tuples of
    ``width`` values), several hundred rows per statement. ``executemany`` steps once per
    row, and each step gives up the GIL and takes it back: beside the threads of an add
    (pack writer, encoders) each take-back waited for them, and 100,000 rows of the spill
    cost 0.32-0.34 s instead of 0.13 s. Same rows, same conflict clause, same order as
    executemany. (Not for every table: see Catalog.add_packs.)"""
    one = "(" + ",".join("?" * width) + ")"
    per = _rows_per_statement(conn, width)
    full = None
    batch = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {head!r} has {len(row)} values, not {width}")
        batch.extend(row)
        if len(batch) >= per * width:
            if full is None:
                full = f"{head} {','.join([one] * per)}"
            conn.execute(full, batch)
            batch = []
    if batch:
        conn.execute(f"{head} {','.join([one] * (len(batch) // width))}", batch)


def _encodable(text):
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


_INT64 = 1 << 63


def _cacheable(row):
    """A stat-cache row (catalog.stat_cache_put's shape) the catalog can hold: its path is
    UTF-8 (a TEXT key) and its numbers fit SQLite's 64-bit INTEGER (an mtime past 2262, a
    touch -d 2300, or an inode above 2**63 does not: such a file is read every time)."""
    return (-_INT64 <= row[2] < _INT64 and -_INT64 <= row[3] < _INT64 and row[4] < _INT64
            and row[5] < _INT64 and _encodable(row[0]))


def dumps(obj):
    """Canonical JSON used for metadata columns and manifest digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
