"""The SQLite catalog: every fact except chunk bytes. All SQL lives in this package.

The catalog is opened in WAL mode with a busy timeout. Schema changes are numbered
migrations recorded in ``meta.schema_version``. Logged versions are immutable in the
database itself: triggers refuse any UPDATE of a version or asset row, any asset added to
(or removed from) a version that exists, and any change to a file's chunk list.

- ``base``: connections (read-only and write), migrations, transactions, SQLite errors
  turned into artstore's;
- ``storage``: packs, chunks, files, tree nodes, the stat cache;
- ``history``: artifacts, versions, labels, runs and lineage, search, accounting;
- ``raw``: rows for verify, read without trusting their encoding.
"""

from .base import (
    BUSY_TIMEOUT_MS,
    DIGEST_SIZE,
    CatalogBase,
    _cacheable,
    _encodable,
    disk_error,
    dumps,
    insert_rows,
    now_iso,
    split_chunks,
    sql_errors,
)
from .history import HistoryRows
from .raw import raw_rows, version_asset_totals
from .storage import StorageRows


class Catalog(StorageRows, HistoryRows, CatalogBase):
    """Connections to a store's catalog.db and every query artstore makes of it
    (CatalogBase holds the connections; the mixins, the queries by subject)."""


__all__ = ["BUSY_TIMEOUT_MS", "DIGEST_SIZE", "Catalog", "_cacheable", "_encodable", "disk_error", "dumps",
           "insert_rows", "now_iso", "raw_rows", "split_chunks", "sql_errors", "version_asset_totals"]
