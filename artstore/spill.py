"""The file rows and stat-cache rows of a version being logged, kept in SQLite temporary
tables until its commit instead of in Python: a version of a million new files makes a
million of each, several hundred megabytes as Python objects.

The tables live on the catalog's write connection (temporary tables belong to one
connection and vanish with it, so a crash leaves nothing behind) in SQLite's temporary
file, not in the catalog; the commit copies them with one INSERT ... SELECT each, inside
the version's transaction (DESIGN.md invariant 1: rows only after their packs are
durable).
"""

from .catalog import _cacheable, insert_rows, sql_errors

# Plain rowid tables, appended to in order: a primary key on random digests made every
# insert a random B-tree update, and the page cache a temporary table gets is small. A
# digest or path repeated is resolved by the commit's INSERT OR IGNORE / OR REPLACE.
_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS spill_files (digest BLOB NOT NULL, size INTEGER NOT NULL, chunks BLOB NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS spill_stat (
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, device INTEGER NOT NULL, digest BLOB NOT NULL, cached_at_ns INTEGER NOT NULL);
DELETE FROM temp.spill_files;
DELETE FROM temp.spill_stat;
"""


class Spill:
    """Rows written as ingest makes them, copied into the catalog by ``commit``."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.conn = catalog.write_connection()
        with sql_errors(catalog.path):
            self.conn.executescript(_TABLES)

    def add_files(self, rows):
        """(digest, size, chunk-list blob) rows."""
        with sql_errors(self.catalog.path):
            insert_rows(self.conn, "INSERT INTO temp.spill_files VALUES", 3, rows)

    def add_stat(self, rows):
        """Stat-cache rows (catalog.stat_cache_put's shape); one the catalog cannot hold is not
        cached (catalog._cacheable)."""
        with sql_errors(self.catalog.path):
            insert_rows(self.conn, "INSERT INTO temp.spill_stat VALUES", 8, (r for r in rows if _cacheable(r)))

    def commit(self, cat):
        """Copy the rows into the catalog, inside the caller's transaction."""
        cat.conn.execute("INSERT OR IGNORE INTO files (digest, size, chunks) "
                         "SELECT digest, size, chunks FROM temp.spill_files")
        cat.conn.execute("INSERT OR REPLACE INTO stat_cache "
                         "(path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns) "
                         "SELECT path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns "
                         "FROM temp.spill_stat ORDER BY rowid")

    def close(self):
        """Empty the tables (the connection stays for the commit's or the next log's use)."""
        if self.catalog._writer is None:
            return
        with sql_errors(self.catalog.path):
            self.conn.execute("DELETE FROM temp.spill_files")
            self.conn.execute("DELETE FROM temp.spill_stat")
