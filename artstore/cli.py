"""The ``artstore`` command: parse arguments, call the API, format the output. No logic.

Every ArtstoreError becomes one line on stderr and its exit code (SPEC.md); JSON goes to
stdout alone; progress and warnings go to stderr.
"""

import contextlib
import json
import os
import sys

import click

from . import __version__
from .errors import ArtstoreError, InvalidInput


class Context:
    def __init__(self, store_path, quiet, verbose):
        self.store_path = store_path
        self.quiet = quiet
        self.verbose = verbose
        self._store = None

    @property
    def store(self):
        if self._store is None:
            from .store import Store

            self._store = Store.open(self.store_path)
        return self._store

    def info(self, message):
        if not self.quiet:
            click.echo(message, err=True)

    @contextlib.contextmanager
    def progress(self, length, label, as_json=False, unit="B"):
        """A callback that advances a progress bar on stderr, or None off a terminal, with
        -q or with --json. ``length`` may be a function, called only when a bar is drawn."""
        from .progress import make_progress

        bar = make_progress(length, label, enabled=not (self.quiet or as_json), unit=unit)
        try:
            yield bar
        finally:
            if bar:
                bar.close()


SECTIONS = [
    ("Set up", ["init"]),
    ("Log and read versions", ["add", "download", "cat"]),
    ("Inspect", ["list", "versions", "show", "diff", "lineage"]),
    ("Label", ["alias", "tag"]),
    ("Remote data", ["fetch"]),
    ("Maintain", ["du", "verify", "gc", "rm"]),
]


class ArtstoreGroup(click.Group):
    """Turns library errors into one-line messages and exit codes; groups --help."""

    def list_commands(self, ctx):
        ordered = [name for _title, names in SECTIONS for name in names]
        return ordered + sorted(set(self.commands) - set(ordered))

    def format_commands(self, ctx, formatter):
        for title, names in SECTIONS + [("Other", sorted(set(self.commands) - {n for _, ns in SECTIONS for n in ns}))]:
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=formatter.width - 20)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ArtstoreError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except BrokenPipeError:
            # The reader of our stdout went away (e.g. `artstore cat ... | head`).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt:
            _fail(ctx, _interrupted_message(ctx), 130)
        except RecursionError:
            _fail(ctx, "input nests too deeply to process; simplify it (metadata may nest at most "
                  f"{_max_depth()} levels)", InvalidInput.exit_code)
        except OSError as exc:
            from .errors import from_os_error

            where = f" {exc.filename}" if exc.filename else ""
            error = from_os_error(exc, f"working on{where}" if where else "working")
            _fail(ctx, str(error), error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc}; please report it (-v shows the traceback)", 1)


def _max_depth():
    from .metadata import MAX_DEPTH

    return MAX_DEPTH


def _interrupted_message(ctx):
    """Say whether the interrupted command had committed something (a version logged
    just before Ctrl-C is kept, and the user must not be told otherwise)."""
    obj = ctx.find_object(Context)
    store = obj._store if obj is not None else None
    commits = store.catalog.commits if store is not None and store.catalog is not None else 0
    if store is not None and store.committed:
        return (f"interrupted after the command had committed ({'; '.join(store.committed)}), which is "
                "kept; nothing half-written was kept")
    if commits:
        return (f"interrupted after {commits} change(s) had been committed; they are kept "
                "(see 'artstore list' / 'artstore versions'); nothing half-written was kept")
    return "interrupted before anything was committed; nothing half-written was kept"


def one_line(message):
    """The message as one printable line: control characters (a newline in a file name)
    are escaped and bytes that are not UTF-8 (surrogate escapes) shown as \\xNN."""
    text = str(message)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _fail(ctx, message, code):
    obj = ctx.find_object(Context)
    if obj is not None and obj.verbose:
        import traceback

        traceback.print_exc()
    click.echo(f"artstore: error: {one_line(message)}", err=True)
    ctx.exit(code)


def _emit_json(data):
    """Strict JSON (RFC 8259): no NaN or Infinity, whatever a store holds."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False))


def _table(rows, columns):
    """A plain left-aligned table (header + rows) as one string."""
    if not rows:
        return "(none)"
    cells = [[str(c) for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value) or "-"
    if value is None:
        return "-"
    return str(value)


def human_bytes(n):
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@click.group(cls=ArtstoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_path", envvar="ARTSTORE_DIR", type=click.Path(file_okay=False),
              help="The store (project directory or its .artstore); default: found from cwd upward.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(__version__, "--version", prog_name="artstore")
@click.pass_context
def main(ctx, store_path, quiet, verbose):
    """artstore: a content-addressed artifact store for ML data and models.

    \b
    Example:
      artstore init
      artstore add mnist ./data --alias baseline
      artstore download mnist:baseline /tmp/mnist
    """
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not UTF-8 (a DEST given as raw bytes) is printed as its bytes,
        # as ls does, instead of failing the command after its work was done.
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="surrogateescape")
            except (ValueError, OSError):
                pass
    ctx.obj = Context(store_path, quiet, verbose)


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--workspace", help="Default workspace of new artifacts (default: your user name).")
@click.pass_obj
def init(obj, directory, workspace):
    """Create a store (.artstore) in DIRECTORY (default: --store, else here).

    \b
    Example:
      artstore init --workspace vision-team
    """
    from .store import STORE_DIRNAME, Store

    if directory is None:
        directory = obj.store_path or "."
        if os.path.basename(os.path.normpath(directory)) == STORE_DIRNAME:
            directory = os.path.dirname(os.path.normpath(directory)) or "."
    store = Store.init(directory, workspace=workspace)
    obj.info(f"initialised an empty store in {store.dir} (workspace {store.workspace})")


def _parse_meta(pairs, metadata_file):
    from . import metadata as metadata_mod
    from .safeio import read_text

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
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("--type", "artifact_type", default="dataset", show_default=True, help="Artifact type.")
@click.option("--version", help="Version number (default: next major).")
@click.option("--alias", "aliases", multiple=True, help="Alias for the new version (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Version tag (repeatable).")
@click.option("--meta", "meta", multiple=True, help="Metadata KEY=VALUE (VALUE parsed as JSON if it is).")
@click.option("--metadata", "metadata_file", type=click.Path(dir_okay=False), help="Metadata from a JSON file.")
@click.option("--as", "logical_path", help="Logical path of a single file, or prefix for a directory.")
@click.option("--run", "run_name", help="Name of the run that produced this version (lineage).")
@click.option("--no-sync", is_flag=True, help="Record URIs as opaque references without listing them.")
@click.option("--max-synced-objects", type=click.IntRange(min=1), default=10000, show_default=True,
              help="A prefix with more objects is recorded as one opaque reference.")
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
@click.pass_obj
def add(obj, name, paths, artifact_type, version, aliases, tags, meta, metadata_file, logical_path,
        run_name, no_sync, max_synced_objects, as_json):
    """Log PATHS (files, directories, s3:// gs:// file:// or other URIs) as a new version of NAME.

    \b
    Example:
      artstore add mnist ./data --alias baseline --meta source=kaggle
      artstore add resnet model.pt --type model --version 1.2.0 --run train-42
      artstore add imagenet s3://datasets/imagenet/train --as train
    """
    import warnings

    from . import remote
    from .api import Artifact

    if logical_path and len(paths) > 1:
        raise InvalidInput("--as names one path; give a single PATH with it")
    metadata = _parse_meta(meta, metadata_file)
    store = obj.store
    artifact = Artifact(name, artifact_type, version=version, aliases=aliases, metadata=metadata,
                        version_tags=tags)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in paths:
            if remote.is_uri(path):
                artifact.add_remote(path, logical_path=logical_path, sync_mode=not no_sync,
                                    max_synced_objects=max_synced_objects,
                                    storage_options=store.remote_options(remote.scheme_of(path)))
            else:
                artifact.add(path, logical_path=logical_path)
    for w in caught:
        obj.info(str(w.message))
    run_id = store.run_named(run_name) if run_name else None
    with obj.progress(lambda: sum(a.size or 0 for a in artifact.assets), f"adding {name}", as_json) as progress:
        logged = store.log(
            artifact.name, artifact.sources(), artifact_type=artifact.artifact_type,
            version=artifact.version, aliases=artifact.aliases, version_tags=artifact.version_tags,
            metadata=artifact.metadata, run_id=run_id, progress=progress,
        )
    if as_json:
        _emit_json(logged)
    else:
        click.echo(
            f"logged {logged['workspace']}/{logged['name']}:{logged['version']}: "
            f"{logged['assets_count']} file(s), {human_bytes(logged['size'])}; "
            f"{human_bytes(logged['stored_bytes'])} new data stored"
        )


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
        _emit_json(rows)
    else:
        click.echo(_table(rows, ["workspace", "name", "type", "latest", "versions"]))


@main.command()
@click.argument("name")
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
        _emit_json(rows)
    else:
        for r in rows:
            r["size"] = human_bytes(r["size"])
        click.echo(_table(rows, ["version", "aliases", "tags", "created_at", "size", "assets"]))


@main.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(obj, ref, as_json):
    """Show one version: REF is [workspace/]name[:version_or_alias].

    \b
    Example:
      artstore show mnist:latest
    """
    store = obj.store
    d = store.describe_ref(ref)
    assets = store.assets(d["artifact_version_id"])
    out = {
        "workspace": d["workspace"], "name": d["name"], "type": d["type"], "version": d["version"],
        "aliases": d["aliases"], "tags": d["tags"], "metadata": d["metadata"], "size": d["size"],
        "manifest_digest": d["manifest_digest"], "artifact_version_id": d["artifact_version_id"],
        "source_experiment_key": d["source_experiment_key"], "created_at": d["created_at"],
        "artifact_tags": d["artifact_tags"],
        "assets": [
            {k: a[k] for k in ("logical_path", "size", "remote", "link", "content_hash", "metadata",
                               "asset_type", "id")}
            for a in assets
        ],
    }
    if as_json:
        _emit_json(out)
        return
    click.echo(f"{out['workspace']}/{out['name']}:{out['version']}  ({out['type']})")
    for key in ("aliases", "tags", "artifact_tags"):
        click.echo(f"  {key + ':':15}{_cell(out[key])}")
    click.echo(f"  {'size:':15}{human_bytes(out['size'])} in {len(assets)} asset(s)")
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
    click.echo(_table(rows, ["path", "size", "hash", "link"]))


STRATEGIES = click.Choice(["fail", "preserve", "overwrite"], case_sensitive=False)


@main.command()
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--overwrite-strategy", type=STRATEGIES, default="fail", show_default=True,
              help="What to do with existing files that differ.")
@click.option("--run", "run_name", help="Name of the run that consumes this version (lineage).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def download(obj, ref, dest, overwrite_strategy, run_name, as_json):
    """Write version REF's files under DEST.

    \b
    Example:
      artstore download mnist:1.0.0 /tmp/mnist --overwrite-strategy preserve
    """
    store = obj.store
    run_id = store.run_named(run_name) if run_name else None
    with obj.progress(lambda: store.describe_ref(ref)["size"], f"downloading {ref}", as_json) as progress:
        result = store.download(ref, dest, overwrite_strategy=overwrite_strategy, run_id=run_id,
                                progress=progress)
    for path in result["preserved"]:
        obj.info(f"kept existing {path} (it differs from the version)")
    for path in result["not_downloaded"]:
        obj.info(f"not downloaded: {path} is an opaque remote reference")
    if as_json:
        _emit_json(result)
    else:
        click.echo(
            f"downloaded {result['ref']} to {dest}: {len(result['written'])} file(s) written "
            f"({human_bytes(result['bytes'])}), {len(result['unchanged'])} already up to date, "
            f"{len(result['preserved'])} preserved"
        )


@main.command()
@click.argument("ref")
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
@click.argument("ref")
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
    click.echo(f"{d['workspace']}/{d['name']}:{d['version']} aliases: {_cell(d['aliases'])}")


@main.command()
@click.argument("ref")
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
    click.echo(f"{d['workspace']}/{d['name']}:{d['version']} tags: {_cell(d['tags'])}")


@main.command()
@click.argument("ref_a")
@click.argument("ref_b")
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
        _emit_json(d)
        return
    for mark, key in (("+", "added"), ("-", "removed"), ("M", "modified")):
        for path in d[key]:
            click.echo(f"{mark} {path}")
    click.echo(
        f"{len(d['unchanged'])} unchanged; {human_bytes(d['bytes_shared'])} shared, "
        f"{human_bytes(d['bytes_new'])} new"
    )


@main.command()
@click.argument("ref")
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
    from . import render

    graph = obj.store.lineage(ref, depth)
    if fmt == "json":
        _emit_json({"nodes": graph["nodes"], "edges": graph["edges"]})
    else:
        click.echo(getattr(render, f"lineage_{fmt}")(graph))


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def du(obj, as_json):
    """Show logical bytes, stored bytes and the dedup ratio.

    \b
    Example:
      artstore du --json
    """
    d = obj.store.du()
    if as_json:
        _emit_json(d)
    else:
        click.echo(
            f"{d['versions']} version(s), {d['files']} distinct file(s), {d['chunks']} chunk(s)\n"
            f"logical {human_bytes(d['logical_bytes'])}, stored {human_bytes(d['stored_bytes'])}, "
            f"dedup ratio {d['dedup_ratio']:.2f}x"
        )


@main.command()
@click.argument("ref", required=False)
@click.option("--read-data", is_flag=True, help="Read and re-hash every stored chunk.")
@click.option("--remote", "check_remote", is_flag=True,
              help="Also re-list every synced remote asset and report objects that changed or vanished.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify(obj, ref, read_data, check_remote, as_json):
    """Check the store (or only what version REF needs); exit 6 on damage.

    \b
    Example:
      artstore verify --read-data
    """
    store = obj.store
    total = (lambda: store.du()["stored_bytes"]) if read_data else 0
    with obj.progress(total, "verifying", as_json) as progress, \
            obj.progress(store.remote_asset_count if check_remote else 0, "checking remote objects", as_json,
                         unit="obj") as remote_progress:
        result = store.verify(read_data=read_data, progress=progress, ref=ref, remote=check_remote,
                              remote_progress=remote_progress)
    if as_json:
        _emit_json(result)
    else:
        for p in result["problems"]:
            affected = ", ".join(p["versions"]) or "no logged version"
            click.echo(f"{p['kind']}: {p['detail']} (affects {affected})")
        for note in result["notes"]:
            obj.info(f"note: {note}")
        click.echo("ok" if result["ok"] else f"{len(result['problems'])} problem(s) found")
    if not result["ok"]:
        raise click.exceptions.Exit(6)


@main.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def fetch(obj, ref, as_json):
    """Pull version REF's remote assets into the store, so it downloads offline.

    Fetching freezes a dataset that lives in a bucket: later downloads read the stored
    bytes, even with no network and after the bucket changed.

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
        _emit_json(result)
    else:
        click.echo(
            f"fetched {result['fetched']} remote asset(s) of {result['ref']} ({human_bytes(result['bytes'])}); "
            f"{human_bytes(result['stored_bytes'])} new data stored"
        )


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def gc(obj, dry_run, as_json):
    """Remove data no version references and compact packs.

    \b
    Example:
      artstore rm mnist:1.0.0 && artstore gc
    """
    s = obj.store.gc(dry_run=dry_run)
    if as_json:
        _emit_json(s)
        return
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"{verb} {human_bytes(s['bytes_freed'])}: {s['packs_removed']} pack(s) removed, "
        f"{s['packs_rewritten']} rewritten, {s['chunks_removed']} chunk(s), {s['files_removed']} file(s), "
        f"{s['orphans_removed'] + s['temp_removed']} leftover(s)"
    )


@main.command()
@click.argument("ref")
@click.pass_obj
def rm(obj, ref):
    """Delete one version (its aliases go with it); space returns at the next gc.

    \b
    Example:
      artstore rm mnist:1.0.0
    """
    if ":" not in ref:
        raise InvalidInput(f"give the version to remove, e.g. '{ref}:1.0.0' (rm deletes one version)")
    removed = obj.store.delete_version(ref)
    click.echo(f"removed {removed}; run 'artstore gc' to free its space")


def run():
    """Console-script entry point."""
    main(prog_name="artstore")
