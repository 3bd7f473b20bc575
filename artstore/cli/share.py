"""Commands that share a store through remotes: remote add/list/rm, push, pull, clone."""


import click

from .app import main
from .output import emit_json, human_bytes, table


@main.group(cls=click.Group)
def remote():
    """Name the remotes this store shares versions through (file://, s3://, gs://).

    \b
    Example:
      artstore remote add origin s3://team-bucket/artstore
      artstore remote list
    """


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.pass_obj
def remote_add(obj, name, url):
    """Add remote NAME at URL (file:///path or a path, s3://bucket/prefix, gs://bucket/prefix).

    \b
    Example:
      artstore remote add origin s3://team-bucket/artstore
    """
    url = obj.store.add_remote(name, url)  # as recorded: a local path made absolute
    click.echo(f"remote {name} -> {url}")
    # Recorded all the same (the config may be for teammates who have it), but said now
    # rather than at the first push.
    from ..remote import missing_extra

    missing = missing_extra(url)
    if missing:
        obj.info(f"note: {missing} before pushing to or pulling from it on this machine")


@remote.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def remote_list(obj, as_json):
    """List the remotes.

    \b
    Example:
      artstore remote list --json
    """
    rows = [{"name": n, "url": u} for n, u in sorted(obj.store.remotes().items())]
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["name", "url"]))


@remote.command("rm")
@click.argument("name")
@click.pass_obj
def remote_rm(obj, name):
    """Forget remote NAME (nothing on the remote is deleted).

    \b
    Example:
      artstore remote rm origin
    """
    obj.store.remove_remote(name)
    click.echo(f"removed remote {name}")


def _remote_and_refs(store, args):
    """push/pull [REMOTE] [REF...]: the first argument is a remote if one has that name
    (or it is a URL, or a path: '/abs', './rel', '../rel', '~/x', which SPEC allows as a
    remote and which were taken for artifact names), else every argument is a ref and the
    remote is origin."""
    from ..sync.commands import is_location

    if args and (args[0] in store.remotes() or is_location(args[0])):
        return args[0], list(args[1:])
    return None, list(args)


@main.command()
@click.argument("args", nargs=-1, metavar="[REMOTE] [REF]...")
@click.option("--all", "all_versions", is_flag=True, help="Push every version of every artifact (the default).")
@click.option("--force", is_flag=True, help="Move aliases someone else moved on the remote since your last pull.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def push(obj, args, all_versions, force, as_json):
    """Send versions to REMOTE (default origin): only what it lacks crosses the wire.

    REF is name (all its versions) or name:version. Packs, nodes and version records are
    written create-only, then the artifact refs move by compare-and-swap.

    \b
    Example:
      artstore push
      artstore push origin mnist:2.0.0
    """
    store = obj.store
    name, refs = _remote_and_refs(store, args)
    with obj.progress(None, "pushing", as_json) as progress:
        result = store.push(name, refs, all_versions, force, progress)
    if as_json:
        emit_json(result)
    else:
        # A push that sent no version may still have moved or removed labels (or found
        # the remote up to date): "pushed 0 version(s)" alone said neither.
        labels = ""
        if not result["versions"]:
            labels = (f"; labels updated on {result['refs']} artifact(s)" if result["refs"]
                      else "; the remote was up to date")
        click.echo(f"pushed {result['versions']} version(s) to {result['remote']}: {result['chunks']} chunk(s) in "
                   f"{result['packs']} pack(s), {human_bytes(result['bytes_sent'])} sent{labels}")


@main.command()
@click.argument("args", nargs=-1, metavar="[REMOTE] [REF]...")
@click.option("--metadata-only", is_flag=True,
              help="Bring versions, labels and lineage but no data: reads fetch it from the remote when needed.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pull(obj, args, metadata_only, as_json):
    """Bring versions from REMOTE (default origin): only what this store lacks.

    Remote aliases are brought in (they win over local ones, but for an alias moved
    here since the last sync that the remote has not moved); tags are joined; labels
    removed on the remote since the last sync are removed here. With
    --metadata-only the versions are lazy: download and cat fetch the chunks they need
    from the remote (and keep them); 'artstore pull REF' or 'artstore fetch REF' brings
    a lazy version's data.

    \b
    Example:
      artstore pull
      artstore pull origin mnist:production
      artstore pull --metadata-only
    """
    store = obj.store
    name, refs = _remote_and_refs(store, args)
    with obj.progress(None, "pulling", as_json) as progress:
        result = store.pull(name, refs, progress, metadata_only=metadata_only)
    if as_json:
        emit_json(result)
    else:
        lazy = f" ({result['lazy']} lazy: data stays on the remote until read)" if result.get("lazy") else ""
        click.echo(f"pulled {result['versions']} version(s) from {result['remote']}{lazy}: {result['chunks']} "
                   f"chunk(s), {human_bytes(result['bytes_received'])} received")


@main.command()
@click.argument("url")
@click.argument("directory", required=False)
@click.option("--workspace", help="Default workspace of the new store (default: your user name).")
@click.option("--lazy", is_flag=True,
              help="Copy versions without their data (partial clone): reads fetch chunks from origin on demand.")
@click.pass_obj
def clone(obj, url, directory, workspace, lazy):
    """Make a new store in DIRECTORY with URL as remote origin, and pull every version.

    \b
    Example:
      artstore clone s3://team-bucket/artstore my-project
      artstore clone --lazy s3://team-bucket/artstore my-project
    """
    from ..store import Store

    with obj.progress(None, "cloning", False) as progress:
        store = Store.clone(url, directory, workspace=workspace, progress=progress, lazy=lazy)
    n = len(store.catalog.version_roots())
    how = " (lazy: data is fetched from origin when read)" if lazy else ""
    click.echo(f"cloned {url} into {store.root}: {n} version(s){how}")
    store.close()
