"""Commands that set up a store and log or read versions: init, add, download, cat, use, fetch."""

import os
import sys

import click

from ..completion import complete_name, complete_ref
from ..errors import InvalidInput
from ..nogc import nogc
from .app import main
from .output import emit_json, human_bytes


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--workspace", help="Default workspace of new artifacts (default: your user name).")
@click.option("--compression", type=click.Choice(["none", "zstd", "auto"]), default="auto", show_default=True,
              help="How chunks are stored: auto compresses the chunks a quick sample shows to be "
                   "compressible, zstd tries every chunk, none stores them raw.")
@click.option("--compression-level", type=click.IntRange(1, 19), default=3, show_default=True,
              help="zstd level for compressed chunks.")
@click.pass_obj
def init(obj, directory, workspace, compression, compression_level):
    """Create a store (.artstore) in DIRECTORY (default: --store, else here).

    \b
    Example:
      artstore init --workspace vision-team --compression auto
    """
    from ..store import STORE_DIRNAME, Store

    if directory is None:
        directory = obj.store_path or "."
        if os.path.basename(os.path.normpath(directory)) == STORE_DIRNAME:
            directory = os.path.dirname(os.path.normpath(directory)) or "."
    store = Store.init(directory, workspace=workspace,
                       storage={"compression": compression, "compression_level": compression_level})
    obj.info(f"initialised an empty store in {store.dir} (workspace {store.workspace})")


def _parse_meta(pairs, metadata_file):
    from .. import metadata as metadata_mod
    from ..safeio import read_text

    metadata = {}
    if metadata_file:
        metadata = metadata_mod.parse_text(read_text(metadata_file, "the metadata file"), metadata_file)
        if not isinstance(metadata, dict):
            raise InvalidInput(f"{metadata_file} must hold a JSON object, not {type(metadata).__name__}")
    for pair in pairs:
        if "=" not in pair:
            raise InvalidInput(f"--meta {pair!r} is not KEY=VALUE")
        key, value = pair.split("=", 1)
        if not key:
            raise InvalidInput(f"--meta {pair!r} has an empty key")
        metadata[key] = metadata_mod.parse_cli_value(value, f"--meta {key!r}")
    metadata_mod.check_metadata(metadata, "--meta / --metadata")
    return metadata


@main.command()
@click.argument("name", shell_complete=complete_name)
@click.argument("paths", nargs=-1, required=True)
@click.option("--type", "artifact_type",
              help="Artifact type (default: the artifact's type; 'dataset' for a new artifact).")
@click.option("--version", help="Version number (default: next major).")
@click.option("--alias", "aliases", multiple=True, help="Alias for the new version (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Version tag (repeatable).")
@click.option("--meta", "meta", multiple=True, help="Metadata KEY=VALUE (VALUE parsed as JSON if it is).")
@click.option("--metadata", "metadata_file", type=click.Path(dir_okay=False), help="Metadata from a JSON file.")
@click.option("--as", "logical_path", help="Logical path of a single file, or prefix for a directory.")
@click.option("--run", "run_name", help="The run that produced this version (lineage): a name, reused by "
              "later commands with the same name, or a run id.")
@click.option("--new-run", is_flag=True, help="Start a new run called --run NAME instead of adding to the last one.")
@click.option("--no-sync", is_flag=True, help="Record URIs as opaque references without listing them.")
@click.option("--max-synced-objects", type=click.IntRange(min=1), default=10000, show_default=True,
              help="A prefix with more objects is recorded as one opaque reference.")
@click.option("--sync-fallback", is_flag=True,
              help="If a URI cannot be listed (no credentials, endpoint down), record it as one opaque "
              "reference with a warning, as Comet's SDK does, instead of failing (exit 7).")
@click.option("--exclude", "excludes", multiple=True, metavar="PATTERN",
              help="Leave out paths matching a .gitignore-style PATTERN (repeatable); also read from "
              "DIR/.artstoreignore. .git, .hg, .svn and .artstore are always left out.")
@click.option("--skip-if-unchanged", is_flag=True,
              help="Log nothing (exit 0) if the content equals the latest version's.")
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
@click.pass_obj
@nogc  # the whole command: listing, then logging, allocate several objects per file
def add(obj, name, paths, artifact_type, version, aliases, tags, meta, metadata_file, logical_path,
        run_name, new_run, no_sync, max_synced_objects, sync_fallback, excludes, skip_if_unchanged, as_json):
    """Log PATHS (files, directories, s3:// gs:// file:// or other URIs) as a new version of NAME.

    \b
    Example:
      artstore add mnist ./data --alias baseline --meta source=kaggle
      artstore add mnist . --exclude logs/ --exclude build/ --skip-if-unchanged
      artstore add resnet model.pt --type model --version 1.2.0 --run train-42
      artstore add imagenet s3://datasets/imagenet/train --as train
    """
    import warnings

    from .. import ignore, remote, walking
    from ..api import Artifact

    if logical_path and len(paths) > 1:
        raise InvalidInput("--as names one path; give a single PATH with it")
    metadata = _parse_meta(meta, metadata_file)
    store = obj.store
    # The Artifact checks the version's fields and lists remote URIs; local paths are
    # streamed into the log in logical-path order, one directory listing at a time, so a
    # tree of millions of files is never a list of them (Artifact.add would list it).
    artifact = Artifact(name, artifact_type, version=version, aliases=aliases, metadata=metadata,
                        version_tags=tags)
    streams, walked, skipped = [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in paths:
            if remote.is_uri(path):
                artifact.add_remote(path, logical_path=logical_path, sync_mode=not no_sync,
                                    max_synced_objects=max_synced_objects,
                                    storage_options=store.remote_options(remote.scheme_of(path)),
                                    on_sync_error="warn" if sync_fallback else "raise")
            else:
                rules = ignore.Rules(path if os.path.isdir(path) else None, excludes)
                streams.append(walking.stream_for_path(path, logical_path, rules=rules, skipped=skipped))
                walked.append((path, rules))
    for w in caught:
        obj.info(str(w.message))
    if artifact.assets:
        streams.append(sorted(artifact.sources(), key=lambda s: s.logical_path))
    run_id = _run_id(obj, store, run_name, new_run)

    def total():  # asked only when a bar is drawn: a second walk, of sizes only
        return sum(a.size or 0 for a in artifact.assets) + sum(
            f.stat_result.st_size if f.stat_result else os.path.getsize(f.os_path)
            for path, _rules in walked
            for f in walking.stream_for_path(path, logical_path, rules=ignore.Rules(
                path if os.path.isdir(path) else None, excludes)))

    with obj.progress(total, f"adding {name}", as_json) as progress:
        logged = store.log(
            artifact.name, walking.merge(streams) if streams else [], artifact_type=artifact_type,
            version=artifact.version, aliases=artifact.aliases, version_tags=artifact.version_tags,
            metadata=artifact.metadata, run_id=run_id, progress=progress, skip_if_unchanged=skip_if_unchanged,
        )
    for path, reason in sorted(skipped):
        obj.info(f"artstore: skipped {path}: {reason}")
    for path, rules in walked:
        here = os.path.normpath(path) == "."
        artifact.excluded_paths += [rel if here else os.path.join(path, rel) for rel in sorted(rules.excluded)]
    logged["excluded"] = len(artifact.excluded_paths)
    logged["excluded_paths"] = artifact.excluded_paths
    excluded = ""
    if artifact.excluded_paths:
        shown = ", ".join(artifact.excluded_paths[:3]) + (", ..." if len(artifact.excluded_paths) > 3 else "")
        excluded = f"; {len(artifact.excluded_paths)} path(s) excluded ({shown})"
    if as_json:
        emit_json(logged)
    elif logged["skipped"]:
        click.echo(
            f"unchanged: {logged['workspace']}/{logged['name']}:{logged['version']} has the same content; "
            f"nothing logged (--skip-if-unchanged){excluded}"
        )
    else:
        click.echo(
            f"logged {logged['workspace']}/{logged['name']}:{logged['version']}: "
            f"{logged['assets_count']} file(s), {human_bytes(logged['size'])}; "
            f"{human_bytes(logged['new_bytes'])} new data stored"
            + (f"; identical to {logged['identical_to']}" if logged["identical_to"] else "")
            + excluded
        )


STRATEGIES = click.Choice(["fail", "preserve", "overwrite"], case_sensitive=False)


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--overwrite-strategy", type=STRATEGIES, default="fail", show_default=True,
              help="What to do with existing files that differ.")
@click.option("--run", "run_name", help="The run that consumes this version (lineage): a name, reused by "
              "later commands with the same name, or a run id.")
@click.option("--new-run", is_flag=True, help="Start a new run called --run NAME instead of adding to the last one.")
@click.option("--exact", is_flag=True,
              help="Make DEST match the version: also remove files in DEST that the version does not have "
              "(never following symlinks; .git and .artstore folders are left alone).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def download(obj, ref, dest, overwrite_strategy, run_name, new_run, exact, as_json):
    """Write version REF's files under DEST.

    \b
    Example:
      artstore download mnist:1.0.0 /tmp/mnist --overwrite-strategy preserve
      artstore download mnist:2.0.0 ./data --overwrite-strategy overwrite --exact
    """
    store = obj.store
    run_id = _run_id(obj, store, run_name, new_run)
    with obj.progress(lambda: store.describe_ref(ref)["size"], f"downloading {ref}", as_json) as progress:
        result = store.download(ref, dest, overwrite_strategy=overwrite_strategy, run_id=run_id,
                                progress=progress, exact=exact)
    for path in result["preserved"]:
        obj.info(f"kept existing {path} (it differs from the version)")
    for path in result["not_downloaded"]:
        obj.info(f"not downloaded: {path} is an opaque remote reference")
    if as_json:
        emit_json(result)
    else:
        click.echo(
            f"downloaded {result['ref']} to {dest}: {len(result['written'])} file(s) written "
            f"({human_bytes(result['bytes'])}), {len(result['unchanged'])} already up to date, "
            f"{len(result['preserved'])} preserved"
            + (f", {len(result['removed'])} extra path(s) removed" if result["removed"] else "")
        )
        if result["extra"]:
            shown = ", ".join(result["extra"][:3]) + (", ..." if len(result["extra"]) > 3 else "")
            click.echo(f"{len(result['extra'])} extra file(s) in {dest} are not in {result['ref']} ({shown}); "
                       "--exact removes them")


def _run_id(obj, store, run_name, new_run):
    """The run a --run value means (Store.run_named), named on stderr with its id."""
    if not run_name:
        if new_run:
            raise InvalidInput("--new-run starts a run called --run NAME; give --run too")
        return None
    run_id = store.run_named(run_name, new=new_run)
    name = store.run(run_id)["name"] or run_name
    obj.after_success.append(
        f"run {name}: {run_id}" + (" (new)" if new_run else "") + f"; '--run {run_id}' adds to this run")
    return run_id


@main.command()
@click.argument("refs", metavar="REF...", nargs=-1, required=True, shell_complete=complete_ref)
@click.option("--run", "run_name", required=True,
              help="The run that used the versions: a name (the last run with it) or a run id.")
@click.option("--new-run", is_flag=True, help="Start a new run called --run NAME instead of adding to the last one.")
@click.pass_obj
def use(obj, refs, run_name, new_run):
    """Record that a run used versions REF... (lineage), without downloading them.

    \b
    Example:
      artstore use mnist:production resnet:1.2.0 --run evaluate-7
    """
    store = obj.store
    run_id = _run_id(obj, store, run_name, new_run)
    for ref in refs:
        click.echo(f"{store.run(run_id)['name'] or run_id} used {store.use(ref, run_id)}")


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.argument("logical_path")
@click.pass_obj
def cat(obj, ref, logical_path):
    """Write one asset's bytes to stdout.

    \b
    Example:
      artstore cat mnist:latest labels.csv | head
    """
    out = sys.stdout.buffer
    for data in obj.store.read_asset(ref, logical_path):
        out.write(data)
    out.flush()


@main.command()
@click.argument("ref", shell_complete=complete_ref)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def fetch(obj, ref, as_json):
    """Pull version REF's remote assets into the store, so it downloads offline.

    Fetching freezes a dataset that lives in a bucket: later downloads read the stored
    bytes, even with no network and after the bucket changed. A lazy version (pulled
    with --metadata-only or cloned with --lazy) gets all of its data from its remote.

    \b
    Example:
      artstore fetch imagenet:1.0.0
    """
    store = obj.store

    def remote_bytes():
        return sum(a["size"] for a in store.assets(store.describe_ref(ref)["artifact_version_id"]) if a["remote"])

    with obj.progress(remote_bytes, f"fetching {ref}", as_json) as progress:
        result = store.fetch(ref, progress=progress)
    for path in result["opaque"]:
        obj.info(f"not fetched: {path} is an opaque reference")
    if as_json:
        emit_json(result)
    else:
        lazy = (f"; {result['lazy_chunks']} chunk(s) of its data from its remote "
                f"({human_bytes(result['lazy_bytes'])})" if result.get("lazy_chunks") else "")
        click.echo(
            f"fetched {result['fetched']} remote asset(s) of {result['ref']} ({human_bytes(result['bytes'])}); "
            f"{human_bytes(result['stored_bytes'])} new data stored{lazy}"
        )
