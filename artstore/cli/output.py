"""How commands print: strict JSON, plain tables, byte counts."""

import json

import click

from ..units import human_bytes  # noqa: F401  (the commands' byte counts)


def emit_json(data):
    """Strict JSON (RFC 8259): no NaN or Infinity, whatever a store holds."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False))


def table(rows, columns):
    """A plain left-aligned table (header + rows) as one string."""
    if not rows:
        return "(none)"
    cells = [[str(c) for c in columns]] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def cell(value):
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value) or "-"
    if value is None:
        return "-"
    return str(value)


def json_or_none(value):
    return "(none)" if value is None else json.dumps(value, sort_keys=True)
