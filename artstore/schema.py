"""The catalog's SQL schema and its numbered migrations.

Version 1 is the whole schema. A later change appends a migration script to MIGRATIONS
and raises SCHEMA_VERSION; Catalog applies the missing ones in one transaction.
"""

SCHEMA_VERSION = 2

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

# Each entry upgrades the schema from version i to i + 1 (index 0 creates version 1).
MIGRATIONS = [_SCHEMA_V1, _SCHEMA_V2]
TABLES = {
    "meta", "packs", "chunks", "files", "artifacts", "artifact_tags", "versions", "assets",
    "aliases", "version_tags", "runs", "lineage", "stat_cache", "fetched",
}
