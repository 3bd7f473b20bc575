"""Catalog rows of history: artifacts, versions, labels, lazy versions, runs, lineage,
search and accounting."""

import uuid

from .base import now_iso, sql_errors


class HistoryRows:
    """Catalog methods for artifacts and their versions (mixed into Catalog)."""

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
        from ..names import version_key

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
