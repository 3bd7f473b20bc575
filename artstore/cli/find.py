"""Commands that find versions: search (full text) and find (metadata conditions)."""


import click

from .app import main
from .output import emit_json, human_bytes, table


@main.command()
@click.argument("text", required=False)
@click.option("--type", "artifact_type", help="Only artifacts of this type.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--refs", is_flag=True, help="Print only refs, one per line (to compose with other commands).")
@click.option("--reindex", is_flag=True, help="Rebuild the search index (if verify reports it out of step).")
@click.pass_obj
def search(obj, text, artifact_type, limit, as_json, refs, reindex):
    """Full-text search over names, types, tags, aliases and metadata keys and values.

    Every word must occur somewhere in a version's fields, as a case-insensitive substring
    of 3 or more characters; "quoted words" must occur together. Best matches first.

    \b
    Example:
      artstore search resnet
      artstore search "cleaned v2" --type dataset --refs
    """
    if reindex:
        obj.store.reindex_search()
        obj.info("search index rebuilt")
        if text is None:
            return
    hits = obj.store.search_rows(text, artifact_type, limit)
    _print_found(hits, as_json, refs, ["ref", "type", "snippet"])


@main.command()
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Metadata condition KEY OP VALUE, OP one of = != < <= > >= ~ (repeatable, all must hold).")
@click.option("--type", "artifact_type", help="Only artifacts of this type.")
@click.option("--tag", help="Only versions (or artifacts) with this tag.")
@click.option("--alias", help="Only the version this alias names.")
@click.option("--since", metavar="DATE", help="Created at or after DATE (2026-11-20) or within an age (7d).")
@click.option("--until", metavar="DATE", help="Created at or before DATE or age.")
@click.option("--produced-by", metavar="RUN", help="Produced by this run (name or id).")
@click.option("--consumed-by", metavar="RUN", help="Consumed by this run (name or id).")
@click.option("--sort", default="-created_at", show_default=True, metavar="KEY",
              help="created_at, name, version, size or a metadata key; -KEY sorts descending.")
@click.option("--limit", type=click.IntRange(min=0), help="At most N versions.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--refs", is_flag=True, help="Print only refs, one per line (to compose with other commands).")
@click.pass_obj
def find(obj, where, artifact_type, tag, alias, since, until, produced_by, consumed_by, sort, limit, as_json, refs):
    """Find versions by metadata, labels, dates and lineage.

    Numbers compare as numbers and text as text; a version without the key never matches.

    \b
    Example:
      artstore find --where metrics.accuracy>0.9 --where framework=torch
      artstore find --type dataset --tag cleaned --since 7d --refs
    """
    rows = obj.store.find_rows(where, artifact_type, tag, alias, since, until, produced_by, consumed_by,
                               sort, limit)
    _print_found(rows, as_json, refs, ["ref", "type", "created_at", "size", "aliases", "tags"])


def _print_found(rows, as_json, refs, columns):
    if as_json:
        emit_json(rows)
    elif refs:
        for r in rows:
            click.echo(r["ref"])
    else:
        for r in rows:
            r["size"] = human_bytes(r["size"])
        click.echo(table(rows, columns))
