"""The catalog's SQL schema and its numbered migrations.

Version 1 is the whole schema. A later change appends a migration script to MIGRATIONS
and raises SCHEMA_VERSION; Catalog applies the missing ones in one transaction.
"""

SCHEMA_VERSION = 6

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE packs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE chunks (
    id BLOB PRIMARY KEY,
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    offset INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    size INTEGER NOT NULL,
    compression INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX chunks_by_pack ON chunks(pack_id);
CREATE TABLE files (
    digest BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    chunks BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (workspace, name)
);
CREATE TABLE artifact_tags (
    artifact_id TEXT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (artifact_id, tag)
);
CREATE TABLE versions (
    id TEXT PRIMARY KEY,
    artifact_id TEXT NOT NULL REFERENCES artifacts(id),
    version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metadata TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    asset_count INTEGER NOT NULL,
    run_id TEXT,
    UNIQUE (artifact_id, version)
);
CREATE TABLE assets (
    id TEXT NOT NULL,
    version_id TEXT NOT NULL REFERENCES versions(id) DEFERRABLE INITIALLY DEFERRED,
    logical_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    file_digest BLOB REFERENCES files(digest),
    metadata TEXT NOT NULL,
    asset_type TEXT,
    remote INTEGER NOT NULL DEFAULT 0,
    uri TEXT,
    remote_identity TEXT,
    UNIQUE (version_id, logical_path)
);
CREATE TABLE aliases (
    artifact_id TEXT NOT NULL REFERENCES artifacts(id),
    alias TEXT NOT NULL,
    version_id TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    PRIMARY KEY (artifact_id, alias)
);
CREATE TABLE version_tags (
    version_id TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (version_id, tag)
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    project TEXT,
    name TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE lineage (
    run_id TEXT NOT NULL REFERENCES runs(id),
    version_id TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('produced', 'consumed')),
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, version_id, kind)
);
CREATE INDEX lineage_by_version ON lineage(version_id);
CREATE TABLE stat_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    digest BLOB NOT NULL,
    cached_at_ns INTEGER NOT NULL
);
CREATE TRIGGER versions_immutable BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: a logged version cannot be changed'); END;
CREATE TRIGGER assets_immutable BEFORE UPDATE ON assets
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: an asset of a logged version cannot be changed'); END;
CREATE TRIGGER assets_sealed BEFORE INSERT ON assets
WHEN EXISTS (SELECT 1 FROM versions WHERE id = NEW.version_id)
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: assets cannot be added to a logged version'); END;
CREATE TRIGGER assets_kept BEFORE DELETE ON assets
WHEN EXISTS (SELECT 1 FROM versions WHERE id = OLD.version_id)
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: assets cannot be removed from a logged version'); END;
CREATE TRIGGER versions_delete_assets AFTER DELETE ON versions
BEGIN DELETE FROM assets WHERE version_id = OLD.id; END;
CREATE TRIGGER files_immutable BEFORE UPDATE ON files
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: a stored file cannot be changed'); END;
"""

# Version 2: bytes of remote assets pulled into the store by `fetch`. A separate table,
# because asset rows of a logged version never change.
_SCHEMA_V2 = """
CREATE TABLE fetched (
    asset_id TEXT PRIMARY KEY,
    version_id TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    file_digest BLOB NOT NULL REFERENCES files(digest),
    fetched_at TEXT NOT NULL
);
"""

# Version 3: manifests as trees of content-addressed nodes (artstore.tree). A version's
# manifest_digest is its root node's digest; a new version adds only the nodes its change
# rewrote, instead of one assets row per asset. asset_ids keeps the random ids that
# versions logged before version 3 gave their assets (later ids are derived from the
# version id and logical path, see manifests.asset_id); local_size is the bytes of a
# version's local assets (du's logical bytes).
_SCHEMA_V3 = """
CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    level INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TRIGGER nodes_immutable BEFORE UPDATE ON nodes
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: a manifest node cannot be changed'); END;
CREATE TABLE asset_ids (
    version_id TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    logical_path TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (version_id, logical_path)
) WITHOUT ROWID;
ALTER TABLE versions ADD COLUMN local_size INTEGER NOT NULL DEFAULT 0;
"""

_DROP_ASSETS = """
DROP TRIGGER IF EXISTS assets_immutable;
DROP TRIGGER IF EXISTS assets_sealed;
DROP TRIGGER IF EXISTS assets_kept;
DROP TRIGGER IF EXISTS versions_delete_assets;
DROP TABLE assets;
"""

_VERSIONS_IMMUTABLE = """
CREATE TRIGGER versions_immutable BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'artstore-immutable: a logged version cannot be changed'); END;
"""


def statements(script):
    """Split a schema script into statements (triggers contain ';' inside BEGIN..END)."""
    import sqlite3

    out, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            out.append(text)
            current = []
    return out


def _to_trees(conn):
    """Schema 2 -> 3: each version's asset rows become a tree, inside the migration's
    transaction. Every entry keeps its bytes, metadata and remote identity; the version's
    manifest_digest becomes its root's digest, and its asset ids are kept in asset_ids."""
    import zstandard

    from . import tree

    for statement in statements(_SCHEMA_V3):
        conn.execute(statement)
    # manifest_digest is rewritten once, here. IF EXISTS: a catalog whose triggers were
    # dropped by hand must still migrate (it was an OperationalError, and no command ran).
    conn.execute("DROP TRIGGER IF EXISTS versions_immutable")
    compress = zstandard.ZstdCompressor(level=3, write_content_size=True).compress
    versions = [r[0] for r in conn.execute("SELECT id FROM versions ORDER BY id")]
    for version_id in versions:
        rows = conn.execute(
            "SELECT id, logical_path, size, file_digest, metadata, asset_type, uri, remote_identity "
            "FROM assets WHERE version_id = ? ORDER BY logical_path",
            (version_id,),
        ).fetchall()
        items = [(r[1], tree.entry_text(*_v2_entry(conn, version_id, r))) for r in rows]
        for path, text in items:
            _check_fits(conn, version_id, path, text)
        # Schema 2 took metadata of any size: the writer's limit on an entry (for new logs)
        # made such a store refuse every command (exit 5), so it does not apply here.
        root, nodes = tree.build(items, max_entry=None)
        conn.executemany(
            "INSERT OR IGNORE INTO nodes (digest, level, data) VALUES (?, ?, ?)",
            [(d, level, compress(data)) for d, (level, data) in nodes.items()],
        )
        conn.execute(
            "UPDATE versions SET manifest_digest = ?, local_size = ? WHERE id = ?",
            (root.hex(), sum(r[2] for r in rows if r[6] is None), version_id),
        )
        conn.executemany(
            "INSERT INTO asset_ids (version_id, logical_path, id) VALUES (?, ?, ?)",
            [(version_id, r[1], r[0]) for r in rows],
        )
    for statement in statements(_DROP_ASSETS) + statements(_VERSIONS_IMMUTABLE):
        conn.execute(statement)


def _check_fits(conn, version_id, path, text):
    """Refuse an entry whose node a reader would refuse: its node holds it and, before it,
    under node.MAX_BYTES characters (4 bytes each at most), and a reader expands a node to
    at most node.MAX_NODE_BYTES (artstore.unzstd)."""
    from .errors import InvalidInput
    from .tree import node

    if len(text) <= node.MAX_ENTRY_CHARS:  # fits by construction: no encoding of every entry
        return
    size = len(text.encode("utf-8", "surrogatepass"))
    if size + 4 * node.MAX_BYTES + 64 > node.MAX_NODE_BYTES:
        raise InvalidInput(f"cannot migrate the catalog to manifest trees: {_where(conn, version_id)}: the "
                           f"entry of {path!r} takes {size:,} bytes of JSON, more than a manifest node may hold "
                           f"({node.MAX_NODE_BYTES >> 20} MiB); shrink its metadata with the artstore that logged it")


def _v2_entry(conn, version_id, row):
    """entry_text's arguments for one schema-2 asset row, each field checked as records.py
    checks it on read. metadata and remote_identity are re-encoded canonically rather than
    pasted: their text goes into the leaf's JSON as it is, so a damaged one made a leaf no
    reader could parse, or (text such as '{}, null, null, null], ["x", ...') added
    entries to the version; NaN stored by schema 2 becomes the string 'NaN' as
    metadata.load_stored reads it. A damaged row stops the migration (one transaction, the
    catalog stays as it was) with an IntegrityError naming the version and the path, not
    an internal error from the middle of entry_text."""
    from . import records
    from .catalog import dumps
    from .errors import IntegrityError

    _id, path, size, digest, metadata, asset_type, uri, identity = row
    where = _where(conn, version_id)
    try:
        if not isinstance(path, str):
            raise IntegrityError(f"{where}: a logical path {str(path)[:80]!r} is not text in the catalog")
        records.count(size, where, f"size of {path!r}")
        records.digest(digest, where, f"file digest of {path!r}")
        for field, value in (("asset type", asset_type), ("URI", uri)):
            if value is not None and not isinstance(value, str):
                raise IntegrityError(f"{where}: the {field} of {path!r} is not text in the catalog")
        metadata = dumps(records.asset_metadata(metadata, where, path))
        identity = None if identity is None else dumps(records.remote_identity(identity, where, path))
    except IntegrityError as exc:
        raise IntegrityError(f"cannot migrate the catalog to manifest trees: {str(exc).split('; run ')[0]}; "
                             "restore catalog.db from a backup") from None
    return path, size, digest, metadata, asset_type, uri, identity


def _where(conn, version_id):
    row = conn.execute("SELECT a.workspace, a.name, v.version FROM versions v JOIN artifacts a "
                       "ON a.id = v.artifact_id WHERE v.id = ?", (version_id,)).fetchone()
    return f"{row[0]}/{row[1]}:{row[2]}" if row else f"version {version_id}"


# Version 4: full-text search (artstore search). search_docs is the text of each version
# that search looks at; search_index, an FTS5 table with the trigram tokenizer (substring
# matches, case-insensitive), holds it under the version's rowid and is kept in step by the
# triggers below, inside the transactions that change what it indexes.
_SEARCH_DOCS = """
CREATE VIEW search_docs AS
SELECT v.rowid AS rowid, v.id AS version_id,
       a.workspace || '/' || a.name || ':' || v.version AS ref,
       a.name AS name,
       a.type AS type,
       trim(COALESCE((SELECT group_concat(tag, ' ') FROM artifact_tags t WHERE t.artifact_id = a.id), '')
            || ' ' || COALESCE((SELECT group_concat(tag, ' ') FROM version_tags t WHERE t.version_id = v.id), ''))
           AS tags,
       COALESCE((SELECT group_concat(alias, ' ') FROM aliases l WHERE l.version_id = v.id), '') AS aliases,
       COALESCE((SELECT group_concat(substr(fullkey, 3) || '=' || COALESCE(atom, 'null'), ' ')
                 FROM json_tree(CASE WHEN json_valid(v.metadata) THEN v.metadata ELSE '{}' END)
                 WHERE type NOT IN ('object', 'array')), '') AS metadata
FROM versions v JOIN artifacts a ON a.id = v.artifact_id;
"""

_SCHEMA_V4 = _SEARCH_DOCS + """
CREATE VIRTUAL TABLE search_index USING fts5(
    version_id UNINDEXED, ref, name, type, tags, aliases, metadata, tokenize = 'trigram'
);
INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
SELECT * FROM search_docs;
CREATE TRIGGER search_version_added AFTER INSERT ON versions
BEGIN INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT * FROM search_docs WHERE rowid = NEW.rowid; END;
CREATE TRIGGER search_version_removed AFTER DELETE ON versions
BEGIN DELETE FROM search_index WHERE rowid = OLD.rowid; END;
CREATE TRIGGER search_alias_added AFTER INSERT ON aliases
BEGIN DELETE FROM search_index WHERE rowid = (SELECT rowid FROM versions WHERE id = NEW.version_id);
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT * FROM search_docs WHERE version_id = NEW.version_id; END;
CREATE TRIGGER search_alias_moved AFTER UPDATE ON aliases
BEGIN DELETE FROM search_index WHERE rowid IN (SELECT rowid FROM versions WHERE id IN (OLD.version_id, NEW.version_id));
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT * FROM search_docs WHERE version_id IN (OLD.version_id, NEW.version_id); END;
CREATE TRIGGER search_alias_removed AFTER DELETE ON aliases
BEGIN DELETE FROM search_index WHERE rowid = (SELECT rowid FROM versions WHERE id = OLD.version_id);
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT * FROM search_docs WHERE version_id = OLD.version_id; END;
CREATE TRIGGER search_version_tag_added AFTER INSERT ON version_tags
BEGIN DELETE FROM search_index WHERE rowid = (SELECT rowid FROM versions WHERE id = NEW.version_id);
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT * FROM search_docs WHERE version_id = NEW.version_id; END;
CREATE TRIGGER search_version_tag_removed AFTER DELETE ON version_tags
BEGIN DELETE FROM search_index WHERE rowid = (SELECT rowid FROM versions WHERE id = OLD.version_id);
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT * FROM search_docs WHERE version_id = OLD.version_id; END;
CREATE TRIGGER search_artifact_tag_added AFTER INSERT ON artifact_tags
BEGIN DELETE FROM search_index WHERE rowid IN (SELECT rowid FROM versions WHERE artifact_id = NEW.artifact_id);
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT d.* FROM search_docs d JOIN versions v ON v.rowid = d.rowid WHERE v.artifact_id = NEW.artifact_id; END;
CREATE TRIGGER search_artifact_tag_removed AFTER DELETE ON artifact_tags
BEGIN DELETE FROM search_index WHERE rowid IN (SELECT rowid FROM versions WHERE artifact_id = OLD.artifact_id);
      INSERT INTO search_index (rowid, version_id, ref, name, type, tags, aliases, metadata)
      SELECT d.* FROM search_docs d JOIN versions v ON v.rowid = d.rowid WHERE v.artifact_id = OLD.artifact_id; END;
"""

# Version 5: lazy versions (pull --metadata-only, clone --lazy): the version's record,
# nodes and file rows are here, its chunks stay on the named remote until a read or
# `fetch` brings them. The row goes with its version; verify does not count a lazy
# version's missing chunks as damage.
_SCHEMA_V5 = """
CREATE TABLE lazy_versions (
    version_id TEXT PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
    remote TEXT NOT NULL,
    since TEXT NOT NULL
);
"""

# Version 6: the stat cache without a rowid. As a rowid table with a TEXT primary key it
# kept every path twice (the table and its index: 6.9 of its 20.5 MB per 100,000 files)
# and each lookup read both; keyed by path it holds each path once, in path order, which
# is also the order a log's range scan reads it in (ingest.Ingestor.prefetch).
_SCHEMA_V6 = """
CREATE TABLE stat_cache_v6 (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    digest BLOB NOT NULL,
    cached_at_ns INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO stat_cache_v6 (path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns)
SELECT path, size, mtime_ns, ctime_ns, inode, device, digest, cached_at_ns FROM stat_cache;
DROP TABLE stat_cache;
ALTER TABLE stat_cache_v6 RENAME TO stat_cache;
"""

# Each entry upgrades the schema from version i to i + 1 (index 0 creates version 1): an
# SQL script, or a function of the connection for a step SQL alone cannot do.
MIGRATIONS = [_SCHEMA_V1, _SCHEMA_V2, _to_trees, _SCHEMA_V4, _SCHEMA_V5, _SCHEMA_V6]
TABLES = {
    "meta", "packs", "chunks", "files", "artifacts", "artifact_tags", "versions", "nodes",
    "asset_ids", "aliases", "version_tags", "runs", "lineage", "stat_cache", "fetched", "search_index",
    "lazy_versions",
}
