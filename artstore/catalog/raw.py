"""Raw records for verify: rows read with TEXT columns as bytes, and the asset rows of
schema 2 (kept apart: the tree-manifest work reshaped the tables they read)."""


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
