"""Catalog rows of stored data: packs, chunks, files, manifest tree nodes, the stat cache."""

from .base import _cacheable, _encodable, insert_rows, now_iso, sql_errors


class StorageRows:
    """Catalog methods for stored data (mixed into Catalog: uses its ``conn``)."""

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

    def packs_committed(self, names):
        """Those of pack ``names`` the catalog has, asked on the write connection (the one
        that committed them: no older read snapshot can hide a commit just made)."""
        names = list(names)
        if not names:
            return set()
        conn = self.write_connection()
        with sql_errors(self.path):
            marks = ",".join("?" * len(names))
            return {row[0] for row in conn.execute(f"SELECT name FROM packs WHERE name IN ({marks})", names)}

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
            pack_id = int(cur.lastrowid)
            # A chunk another writer committed first keeps its older location. The pack's id
            # is part of the statement, so its entries bind as they are: a tuple rebuilt per
            # chunk cost a third of inserting 100,000 of them (0.57 -> 0.32-0.37 s).
            entries = pack.iter_entries()
            if relocate:
                entries = (e for e in entries if e[0] not in relocate)
            # (executemany, not insert_rows: into this table, with its foreign key and second
            # index, 500-row statements were slower, 1.05 s against 0.67 s per 100,000.)
            self.conn.executemany(
                "INSERT OR IGNORE INTO chunks (id, pack_id, offset, stored_size, size, compression) "
                f"VALUES (?, {pack_id}, ?, ?, ?, ?)",
                entries,
            )
            if relocate:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO chunks (id, pack_id, offset, stored_size, size, compression) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    ((e[0], pack_id, e[1], e[2], e[3], e[4]) for e in pack.iter_entries() if e[0] in relocate),
                )

    def add_files(self, files):
        """Insert file rows: iterable of (digest, size, chunk-list blob)."""
        insert_rows(self.conn, "INSERT OR IGNORE INTO files (digest, size, chunks) VALUES", 3, files)

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
        A row the catalog cannot hold (a path not UTF-8, a number beyond 64 bits) is not
        cached (base._cacheable)."""
        insert_rows(self.conn, "INSERT OR REPLACE INTO stat_cache "
                    "(path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns) VALUES", 8,
                    (r for r in rows if _cacheable(r)))
