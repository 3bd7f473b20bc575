"""Commands that inspect and label versions: list, versions, show, diff, lineage, alias, tag."""

import json

import click

from ..completion import complete_name, complete_ref
from .app import main
from .output import cell, emit_json, human_bytes, json_or_none, table


@main.command("list")
@click.option("--type", "artifact_type", help="Only artifacts of this type.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_(obj, artifact_type, as_json):
    """List artifacts.

    \b
    Example:
      artstore list --type model
    """
    rows = obj.store.list_artifacts(artifact_type)
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["workspace", "name", "type", "latest", "versions"]))


@main.command()
@click.argument("name", shell_complete=complete_name)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def versions(obj, name, as_json):
    """List the versions of artifact NAME, lowest first.

    \b
    Example:
      artstore versions mnist --json
    """
    rows = obj.store.versions(name)
    if as_json:
        emit_json(rows)
    else:
        for r in rows:
            r["size"] = human_bytes(r["size"])
        click.echo(table(rows, ["version", "aliases", "tags", "created_at", "size", "assets"]))


SHOW_ASSETS = 100  # assets listed by text `show` unless --all


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.option("--json", "as_json", is_flag=True, help="Print the version and all its assets as JSON.")
@click.option("--all", "show_all", is_flag=True, help=f"List every asset (text lists the first {SHOW_ASSETS}).")
@click.pass_obj
def show(obj, ref, as_json, show_all):
    """Show one version: REF is [workspace/]name[:version_or_alias].

    \b
    Example:
      artstore show mnist:latest
    """
    store = obj.store
    d = store.describe_ref(ref)
    # Text lists one page of a large version: only the nodes on the way to it are read.
    limit = None if as_json or show_all else SHOW_ASSETS
    assets = store.assets(d["artifact_version_id"], limit=limit)
    out = {
        "workspace": d["workspace"], "name": d["name"], "type": d["type"], "version": d["version"],
        "aliases": d["aliases"], "tags": d["tags"], "metadata": d["metadata"], "size": d["size"],
        "manifest_digest": d["manifest_digest"], "artifact_version_id": d["artifact_version_id"],
        "source_experiment_key": d["source_experiment_key"], "created_at": d["created_at"],
        "artifact_tags": d["artifact_tags"],
        # The same names as in `add --json` and `versions --json` (added, never renamed).
        "source_run_name": d["source_run_name"], "assets_count": d["assets_count"],
        "artifact_id": d["artifact_id"],
        "assets": [
            {k: a[k] for k in ("logical_path", "size", "remote", "link", "content_hash", "metadata",
                               "asset_type", "id")}
            for a in assets
        ],
    }
    if as_json:
        emit_json(out)
        return
    click.echo(f"{out['workspace']}/{out['name']}:{out['version']}  ({out['type']})")
    for key in ("aliases", "tags", "artifact_tags"):
        click.echo(f"  {key + ':':15}{cell(out[key])}")
    click.echo(f"  {'size:':15}{human_bytes(out['size'])} in {d['assets_count']} asset(s)")
    click.echo(f"  {'manifest:':15}{out['manifest_digest']}")
    click.echo(f"  {'created:':15}{out['created_at']}")
    if d["source_run_name"] or out["source_experiment_key"]:
        click.echo(f"  {'run:':15}{d['source_run_name'] or out['source_experiment_key']}")
    if out["metadata"]:
        click.echo(f"  {'metadata:':15}{json.dumps(out['metadata'], sort_keys=True)}")
    rows = [
        {"path": a["logical_path"], "size": human_bytes(a["size"]),
         "hash": (a["content_hash"] or "")[:16] or "-", "link": a["link"]}
        for a in assets
    ]
    click.echo(table(rows, ["path", "size", "hash", "link"]))
    if len(assets) < d["assets_count"]:
        click.echo(f"... {d['assets_count'] - len(assets)} more asset(s); 'artstore show {ref} --all' lists them")


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.argument("aliases", nargs=-1, required=True)
@click.option("--rm", "remove", is_flag=True, help="Remove the aliases instead of setting them.")
@click.pass_obj
def alias(obj, ref, aliases, remove):
    """Point ALIASES at version REF (moving them), or remove them with --rm.

    \b
    Example:
      artstore alias mnist:2.0.0 production
    """
    if remove:
        obj.store.remove_aliases(ref, aliases)
    else:
        obj.store.add_aliases(ref, aliases)
    d = obj.store.describe_ref(ref)
    click.echo(f"{d['workspace']}/{d['name']}:{d['version']} aliases: {cell(d['aliases'])}")


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.argument("tags", nargs=-1, required=True)
@click.option("--rm", "remove", is_flag=True, help="Remove the tags instead of adding them.")
@click.pass_obj
def tag(obj, ref, tags, remove):
    """Add version TAGS to REF, or remove them with --rm.

    \b
    Example:
      artstore tag mnist:2.0.0 reviewed cleaned
    """
    if remove:
        obj.store.remove_version_tags(ref, tags)
    else:
        obj.store.add_version_tags(ref, tags)
    d = obj.store.describe_ref(ref)
    click.echo(f"{d['workspace']}/{d['name']}:{d['version']} tags: {cell(d['tags'])}")


@main.command()
@click.argument("ref_a", shell_complete=complete_ref)
@click.argument("ref_b", shell_complete=complete_ref)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def diff(obj, ref_a, ref_b, as_json):
    """Compare two versions: added, removed, modified paths and shared bytes.

    \b
    Example:
      artstore diff mnist:1.0.0 mnist:2.0.0
    """
    d = obj.store.diff(ref_a, ref_b)
    if as_json:
        emit_json(d)
        return
    for mark, key in (("+", "added"), ("-", "removed"), ("M", "modified")):
        for path in d[key]:
            click.echo(f"{mark} {path}")
    for key, (old, new) in d["metadata_changed"].items():
        click.echo(f"~ metadata {key}: {json_or_none(old)} -> {json_or_none(new)}")
    click.echo(
        f"{len(d['unchanged'])} unchanged; {human_bytes(d['bytes_shared'])} shared, "
        f"{human_bytes(d['bytes_new'])} new"
    )


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "mermaid"]), default="text",
              show_default=True)
@click.option("--depth", type=click.IntRange(min=1), help="Hops to walk from REF (default: all).")
@click.pass_obj
def lineage(obj, ref, fmt, depth):
    """Show which runs produced and consumed REF, and what they in turn touched.

    \b
    Example:
      artstore lineage mnist:latest --format mermaid
    """
    from .. import render

    graph = obj.store.lineage(ref, depth)
    if fmt == "json":
        emit_json({"nodes": graph["nodes"], "edges": graph["edges"]})
    else:
        click.echo(getattr(render, f"lineage_{fmt}")(graph))
