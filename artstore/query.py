"""Finding versions by what they are: full-text search and metadata queries.

``search`` matches text anywhere in a version's ref, name, type, tags, aliases and
metadata keys and values, through the catalog's FTS5 index (schema 4; trigram tokens, so
any run of three or more characters matches, case-insensitively). Every word goes to FTS5
as a quoted string, so FTS syntax (``NEAR``, ``*``, ``-``, ``OR``, column filters) is
searched for literally. (sqlite-utils' ``quote_fts`` does the same; importing sqlite-utils
took 80-180 ms here, more than the whole 100 ms a search may take, for a five-line rule.)

``find`` filters versions with expressions on metadata by dotted key (``metrics.acc>0.9``),
labels, dates and lineage. Every value the user gives is an SQL parameter, never spliced
into the SQL text: the JSON path of a key is a parameter too.
"""

import json
import re
from datetime import datetime, timedelta, timezone

from . import names
from .errors import InvalidInput

_OPS = ("<=", ">=", "!=", "=", "<", ">", "~")
_EXPR = re.compile(r"\s*([^<>=!~]+?)\s*(<=|>=|!=|==|=|<|>|~)\s*(.*?)\s*", re.S)
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
MIN_SEARCH = 3  # trigram tokens: shorter text matches nothing


def _words(text):
    """The words of a search: "quoted phrases" whole, other runs of non-space characters
    with a stray leading or trailing quote dropped (a quote inside a word is kept)."""
    out = []
    for m in re.finditer(r'"([^"]*)"|(\S+)', text):
        word = m.group(1) if m.group(1) is not None else m.group(2).strip('"')
        if word.strip():
            out.append(word)
    return out


_COLUMNS = ("ref", "name", "type", "tags", "aliases", "metadata")


def search(catalog, text, artifact_type=None, limit=50):
    """Versions whose indexed text contains every word of ``text`` (case-insensitive
    substrings; ``"quoted words"`` as a phrase): [{"version_id", "ref", "snippet"}], best
    match first (BM25). Words of 3 or more characters go through the trigram index; shorter
    ones are matched with LIKE on the rows the index left."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("search needs some text to look for")
    words = _words(text)
    long_ = [w for w in words if len(w) >= MIN_SEARCH]
    short = [w for w in words if len(w) < MIN_SEARCH]
    if not long_ and not short:
        raise InvalidInput(f"search found no words to look for in {text!r}")
    clauses, params = [], []
    if long_:
        clauses.append("search_index MATCH ?")
        params.append(" ".join('"' + w.replace('"', '""') + '"' for w in long_))
    for word in short:
        like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(" + " OR ".join(f"s.{c} LIKE ? ESCAPE '\\'" for c in _COLUMNS) + ")")
        params += [like] * len(_COLUMNS)
    if artifact_type is not None:
        clauses.append("s.type = ?")
        params.append(artifact_type)
    snippet = "snippet(search_index, -1, '[', ']', '...', 10)" if long_ else "s.ref"
    order = "rank" if long_ else "s.ref"
    sql = (f"SELECT s.version_id, s.ref, {snippet} AS snippet FROM search_index s "
           f"WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ?")
    params.append(-1 if limit is None else int(limit))
    return catalog.query(sql, params)


class Condition:
    """One ``--where`` expression: a metadata key, an operator and a value."""

    def __init__(self, text):
        m = _EXPR.fullmatch(text) if isinstance(text, str) else None
        if m is None or not m.group(1).strip():
            raise InvalidInput(
                f"cannot read the condition {text!r}; write KEY OP VALUE with OP one of "
                f"{' '.join(_OPS)} (e.g. metrics.accuracy>0.9, framework=torch, source~kaggle)"
            )
        self.key, op, self.raw = m.group(1).strip(), m.group(2), m.group(3)
        if self.raw[:1] in "<>=!~" and self.raw:
            raise InvalidInput(f"cannot read the value {self.raw!r} in {text!r}: one operator per condition")
        self.op = "=" if op == "==" else op
        parts = self.key.split(".")
        if any(not p or '"' in p for p in parts):
            raise InvalidInput(f"cannot read the key {self.key!r} in {text!r}: use dotted names like metrics.accuracy")
        self.path = "$" + "".join(f'."{p}"' for p in parts)
        if _NUMBER.fullmatch(self.raw) and self.op != "~":
            self.kind, self.value = "number", json.loads(self.raw)
        elif self.raw in ("true", "false") and self.op in ("=", "!="):
            self.kind, self.value = "bool", self.raw == "true"
        else:
            if self.op in ("<", ">", "<=", ">=") and not self.raw:
                raise InvalidInput(f"cannot read the condition {text!r}: {self.op} needs a value")
            self.kind, self.value = "text", self.raw

    def sql(self):
        """(SQL boolean over ``v.metadata``, parameters). A missing key never matches."""
        if self.kind == "bool":
            want = "true" if self.value else "false"
            if self.op == "=":
                return "json_type(v.metadata, ?) = ?", [self.path, want]
            return "json_type(v.metadata, ?) IN ('true', 'false') AND json_type(v.metadata, ?) <> ?", \
                [self.path, self.path, want]
        if self.kind == "number":
            typed = "json_type(v.metadata, ?) IN ('integer', 'real')"
        else:
            typed = "json_type(v.metadata, ?) = 'text'"
        if self.op == "~":
            return f"{typed} AND instr(lower(json_extract(v.metadata, ?)), lower(?)) > 0", \
                [self.path, self.path, self.value]
        op = "<>" if self.op == "!=" else self.op
        return f"{typed} AND json_extract(v.metadata, ?) {op} ?", [self.path, self.path, self.value]


def parse_when(text, what):
    """An ISO date/time (UTC unless it says otherwise) or an age like 30d, 12h, 2w -> ISO."""
    m = re.fullmatch(r"(\d+)([mhdw])", text.strip()) if isinstance(text, str) else None
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        when = datetime.now(timezone.utc) - timedelta(**{unit: int(m.group(1))})
    else:
        try:
            when = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"{what} {text!r} is not a date (2026-11-20, 2026-11-20T08:00) or an age (30d, 12h, 2w)"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


SORT_FIELDS = ("created_at", "name", "version", "size")


# Conditions are ANDed into one SQL expression, whose depth SQLite caps at 1,000: 900
# conditions were an "internal error". Far more than anyone types, far below the cap.
MAX_CONDITIONS = 200


def find(catalog, where=(), artifact_type=None, tag=None, alias=None, since=None, until=None,
         produced_by=None, consumed_by=None):
    """Version rows (with workspace, name and type) matching every condition, unordered."""
    where = list(where)
    if len(where) > MAX_CONDITIONS:
        raise InvalidInput(f"{len(where)} --where conditions; give at most {MAX_CONDITIONS}")
    clauses, params = [], []
    for expr in where:
        sql, args = (expr if isinstance(expr, Condition) else Condition(expr)).sql()
        clauses.append(sql)
        params += args
    if artifact_type is not None:
        clauses.append("a.type = ?")
        params.append(artifact_type)
    if tag is not None:
        clauses.append("(EXISTS (SELECT 1 FROM version_tags t WHERE t.version_id = v.id AND t.tag = ?) OR "
                       "EXISTS (SELECT 1 FROM artifact_tags t WHERE t.artifact_id = a.id AND t.tag = ?))")
        params += [tag, tag]
    if alias is not None and alias != "latest":  # latest is not stored: the caller filters it
        clauses.append("EXISTS (SELECT 1 FROM aliases l WHERE l.version_id = v.id AND l.alias = ?)")
        params.append(alias)
    if since is not None:
        clauses.append("v.created_at >= ?")
        params.append(parse_when(since, "--since"))
    if until is not None:
        clauses.append("v.created_at <= ?")
        params.append(parse_when(until, "--until"))
    for kind, run in (("produced", produced_by), ("consumed", consumed_by)):
        if run is not None:
            clauses.append("EXISTS (SELECT 1 FROM lineage l JOIN runs r ON r.id = l.run_id "
                           "WHERE l.version_id = v.id AND l.kind = ? AND (r.name = ? OR r.id = ?))")
            params += [kind, run, run]
    sql = ("SELECT v.*, a.workspace, a.name, a.type FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
           + (" WHERE " + " AND ".join(clauses) if clauses else ""))
    return catalog.query(sql, params)


def sort_key(field):
    """A key function over find's rows for ``--sort FIELD`` (``-FIELD``: descending is the
    caller's), FIELD one of SORT_FIELDS or a dotted metadata key (missing values last)."""
    if field == "version":
        return lambda r: (r["workspace"], r["name"], names.version_key(r["version"]))
    if field in SORT_FIELDS:
        return lambda r: r[field]
    parts = field.split(".")
    if any(not p for p in parts):
        raise InvalidInput(f"cannot sort by {field!r}: give {', '.join(SORT_FIELDS)} or a dotted metadata key")

    def by_metadata(row):
        value = json.loads(row["metadata"])
        for p in parts:
            value = value.get(p) if isinstance(value, dict) else None
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            return (2, 0, "")
        return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))

    return by_metadata


def sort_rows(rows, sort):
    """Rows sorted by ``sort`` (a sort_key field; ``-FIELD`` descending). Rows whose
    metadata lacks the key come last either way."""
    key = sort_key(sort.lstrip("-"))
    keyed = [(key(r), r) for r in rows]
    present = [kr for kr in keyed if not (isinstance(kr[0], tuple) and kr[0][0] == 2)]
    missing = [r for k, r in keyed if isinstance(k, tuple) and k[0] == 2]
    present.sort(key=lambda kr: kr[0], reverse=sort.startswith("-"))
    return [r for _k, r in present] + missing


# -- over a Store (its facade methods search_rows / find_rows) ---------------------------

def search_rows(store, text, artifact_type=None, limit=50):
    """Store.search_rows."""
    hits = search(store.catalog, text, artifact_type, limit)
    rows = {r["id"]: r for r in store.catalog.versions_by_ids([h["version_id"] for h in hits])}
    latest = store.catalog.latest_version_ids() if hits else set()
    return [found_row(store, rows[h["version_id"]], latest) | {"snippet": h["snippet"]}
            for h in hits if h["version_id"] in rows]


def find_rows(store, where=(), artifact_type=None, tag=None, alias=None, since=None, until=None,
              produced_by=None, consumed_by=None, sort="-created_at", limit=None):
    """Store.find_rows."""
    conditions = [Condition(w) for w in where]
    rows = find(store.catalog, conditions, artifact_type, tag, alias, since, until, produced_by, consumed_by)
    latest = store.catalog.latest_version_ids()
    if alias == "latest":
        rows = [r for r in rows if r["id"] in latest]
    rows = sort_rows(rows, sort or "-created_at")
    if limit is not None:
        if limit < 0:
            raise InvalidInput("--limit must be 0 or more")
        rows = rows[:limit]
    return [found_row(store, r, latest) for r in rows]


def found_row(store, row, latest=None):
    """A version row as search and find list it (``latest``: the ids of latest versions)."""
    if "workspace" not in row:
        art = store.catalog.artifact_by_id(row["artifact_id"])
        row = row | {"workspace": art["workspace"], "name": art["name"], "type": art["type"]}
    latest = store.catalog.latest_version_ids() if latest is None else latest
    aliases = store.catalog.aliases_of_version(row["id"]) + (["latest"] if row["id"] in latest else [])
    return {
        "ref": f"{row['workspace']}/{row['name']}:{row['version']}",
        "workspace": row["workspace"], "name": row["name"], "version": row["version"], "type": row["type"],
        "created_at": row["created_at"], "size": row["size"], "assets": row["asset_count"],
        "aliases": sorted(aliases), "tags": store.catalog.tags_of_version(row["id"]),
        "metadata": json.loads(row["metadata"]), "artifact_version_id": row["id"],
    }
