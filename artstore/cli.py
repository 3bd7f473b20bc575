"""The ``artstore`` command: parse arguments, call the API, format the output. No logic.

Every ArtstoreError becomes one line on stderr and its documented exit code; JSON goes to
stdout alone; progress and warnings go to stderr.
"""

import contextlib
import json
import os
import sys

import click

from . import __version__
from .completion import complete_name, complete_ref
from .errors import ArtstoreError, InvalidInput


class Context:
    def __init__(self, store_path, quiet, verbose, user_store=False):
        self.store_path = store_path
        self.user_store = user_store
        self.quiet = quiet
        self.verbose = verbose
        self._store = None
        self.after_success = []  # notes shown once the command succeeded (an error stays one line)

    @property
    def store(self):
        if self._store is None:
            from .store import Store

            if self.user_store:
                from .userstore import open_user_store

                self._store = open_user_store(Store, announce=False)
            else:
                # The command line never falls back to the per-user store unasked.
                self._store = Store.open(self.store_path, fallback=False)
            self._store.notice = self.info  # lazy fetches say what they fetch, unless -q
        return self._store

    def info(self, message):
        if not self.quiet:
            click.echo(message, err=True)

    @contextlib.contextmanager
    def progress(self, length, label, as_json=False, unit="B"):
        """A callback that advances a progress bar on stderr, or None off a terminal, with
        -q or with --json. ``length`` may be a function, called only when a bar is drawn,
        or None when the work learns it (the callback then has ``set_total``)."""
        from .progress import make_progress

        if length is None:  # known only during the work: the callee calls set_total
            from .progress import make_later_progress

            bar = make_later_progress(label, enabled=not (self.quiet or as_json), unit=unit)
        else:
            bar = make_progress(length, label, enabled=not (self.quiet or as_json), unit=unit)
        try:
            yield bar
        finally:
            if bar:
                bar.close()


SECTIONS = [
    ("Set up", ["init"]),
    ("Log and read versions", ["add", "download", "cat", "use"]),
    ("Inspect", ["list", "versions", "show", "diff", "lineage"]),
    ("Find", ["search", "find"]),
    ("Label", ["alias", "tag"]),
    ("Remote data", ["fetch"]),
    ("Share", ["remote", "push", "pull", "clone"]),
    ("Maintain", ["du", "verify", "gc", "rm", "prune"]),
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
            result = super().invoke(ctx)
            obj = ctx.find_object(Context)
            for note in obj.after_success if obj is not None else ():
                obj.info(note)
            return result
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
@click.option("--store", "store_path", envvar="ARTSTORE_DIR", show_envvar=True, type=click.Path(file_okay=False),
              help="The store (project directory or its .artstore); default: $ARTSTORE_DIR, else found "
              "from the current directory upward.")
@click.option("--user-store", is_flag=True,
              help="Use the per-user store ($XDG_DATA_HOME/artstore, else ~/.local/share/artstore), "
              "where Python code logs when it finds no project store.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(__version__, "--version", prog_name="artstore")
@click.pass_context
def main(ctx, store_path, user_store, quiet, verbose):
    """artstore: a content-addressed artifact store for ML data and models.

    The store is --store PATH, else $ARTSTORE_DIR, else the .artstore found from the
    current directory upward (artstore init creates one); --user-store picks the
    per-user store that Python code uses when it finds none.

    \b
    Example:
      artstore init
      artstore add mnist ./data --alias baseline
      artstore download mnist:baseline /tmp/mnist

    \b
    Shell completion of commands, options, artifact names and refs:
      eval "$(_ARTSTORE_COMPLETE=bash_source artstore)"    # bash (zsh_source, fish_source)
    """
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not UTF-8 (a DEST given as raw bytes) is printed as its bytes,
        # as ls does, instead of failing the command after its work was done.
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="surrogateescape")
            except (ValueError, OSError):
                pass
    if user_store and store_path:
        if ctx.get_parameter_source("store_path") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("give --store PATH or --user-store, not both")
        store_path = None  # --user-store wins over ARTSTORE_DIR
    ctx.obj = Context(store_path, quiet, verbose, user_store)


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
    from .store import STORE_DIRNAME, Store

    if directory is None:
        directory = obj.store_path or "."
        if os.path.basename(os.path.normpath(directory)) == STORE_DIRNAME:
            directory = os.path.dirname(os.path.normpath(directory)) or "."
    store = Store.init(directory, workspace=workspace,
                       storage={"compression": compression, "compression_level": compression_level})
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
                                    storage_options=store.remote_options(remote.scheme_of(path)),
                                    on_sync_error="warn" if sync_fallback else "raise")
            else:
                artifact.add(path, logical_path=logical_path, exclude=excludes)
    for w in caught:
        obj.info(str(w.message))
    run_id = _run_id(obj, store, run_name, new_run)
    with obj.progress(lambda: sum(a.size or 0 for a in artifact.assets), f"adding {name}", as_json) as progress:
        logged = store.log(
            artifact.name, artifact.sources(), artifact_type=artifact_type,
            version=artifact.version, aliases=artifact.aliases, version_tags=artifact.version_tags,
            metadata=artifact.metadata, run_id=run_id, progress=progress, skip_if_unchanged=skip_if_unchanged,
        )
    logged["excluded"] = len(artifact.excluded_paths)
    logged["excluded_paths"] = artifact.excluded_paths
    excluded = ""
    if artifact.excluded_paths:
        shown = ", ".join(artifact.excluded_paths[:3]) + (", ..." if len(artifact.excluded_paths) > 3 else "")
        excluded = f"; {len(artifact.excluded_paths)} path(s) excluded ({shown})"
    if as_json:
        _emit_json(logged)
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
        _emit_json(rows)
    else:
        for r in rows:
            r["size"] = human_bytes(r["size"])
        click.echo(_table(rows, ["version", "aliases", "tags", "created_at", "size", "assets"]))


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
        _emit_json(out)
        return
    click.echo(f"{out['workspace']}/{out['name']}:{out['version']}  ({out['type']})")
    for key in ("aliases", "tags", "artifact_tags"):
        click.echo(f"  {key + ':':15}{_cell(out[key])}")
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
    click.echo(_table(rows, ["path", "size", "hash", "link"]))
    if len(assets) < d["assets_count"]:
        click.echo(f"... {d['assets_count'] - len(assets)} more asset(s); 'artstore show {ref} --all' lists them")


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
        _emit_json(result)
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
    click.echo(f"{d['workspace']}/{d['name']}:{d['version']} tags: {_cell(d['tags'])}")


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
        _emit_json(d)
        return
    for mark, key in (("+", "added"), ("-", "removed"), ("M", "modified")):
        for path in d[key]:
            click.echo(f"{mark} {path}")
    for key, (old, new) in d["metadata_changed"].items():
        click.echo(f"~ metadata {key}: {_json_or_none(old)} -> {_json_or_none(new)}")
    click.echo(
        f"{len(d['unchanged'])} unchanged; {human_bytes(d['bytes_shared'])} shared, "
        f"{human_bytes(d['bytes_new'])} new"
    )


def _json_or_none(value):
    return "(none)" if value is None else json.dumps(value, sort_keys=True)


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
    from . import render

    graph = obj.store.lineage(ref, depth)
    if fmt == "json":
        _emit_json({"nodes": graph["nodes"], "edges": graph["edges"]})
    else:
        click.echo(getattr(render, f"lineage_{fmt}")(graph))


@main.command()
@click.option("--by-artifact", is_flag=True, help="Per artifact: logical bytes and the stored bytes only it uses.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def du(obj, by_artifact, as_json):
    """Show logical bytes, what dedup and compression save, and stored bytes.

    With --by-artifact, "unique" is what removing every version of an artifact would free
    (stored bytes no other artifact uses); "shared" bytes are used by several.

    \b
    Example:
      artstore du --json
      artstore du --by-artifact
    """
    if by_artifact:
        d = obj.store.du_by_artifact()
        if as_json:
            _emit_json(d)
            return
        rows = [{"artifact": f"{a['workspace']}/{a['name']}", "type": a["type"], "versions": a["versions"],
                 "logical": human_bytes(a["logical_bytes"]), "unique": human_bytes(a["unique_bytes"])}
                for a in sorted(d["artifacts"], key=lambda a: -a["unique_bytes"])]
        click.echo(_table(rows, ["artifact", "type", "versions", "logical", "unique"]))
        click.echo(f"shared by several artifacts: {human_bytes(d['shared_bytes'])}")
        return
    d = obj.store.du()
    if as_json:
        _emit_json(d)
    else:
        click.echo(
            f"{d['versions']} version(s), {d['files']} distinct file(s), {d['chunks']} chunk(s)\n"
            f"logical {human_bytes(d['logical_bytes'])}, distinct {human_bytes(d['distinct_bytes'])} "
            f"(dedup ratio {d['dedup_ratio']:.2f}x)\n"
            f"compression saved {human_bytes(d['compression_saving_bytes'])} "
            f"(ratio {d['compression_ratio']:.2f}x), stored {human_bytes(d['stored_bytes'])}"
        )


@main.command()
@click.argument("ref", required=False, shell_complete=complete_ref)
@click.option("--read-data", is_flag=True, help="Read and re-hash every stored chunk.")
@click.option("--remote", "check_remote", is_flag=True,
              help="Also re-list every synced remote asset and report objects that changed or vanished.")
@click.option("--remote-store", "remote_store", metavar="REMOTE",
              help="Check this remote (name or URL) instead of the local store.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify(obj, ref, read_data, check_remote, remote_store, as_json):
    """Check the store (or only what version REF needs); exit 6 on damage.

    \b
    Example:
      artstore verify --read-data
      artstore verify --remote-store origin --read-data
    """
    store = obj.store
    if remote_store is not None:
        with obj.progress(0, "verifying remote", as_json) as progress:
            result = store.verify_remote(remote_store, read_data, progress)
        _report_verify(obj, result, as_json)
        return
    total = (lambda: store.du()["stored_bytes"]) if read_data else 0
    with obj.progress(total, "verifying", as_json) as progress, \
            obj.progress(store.remote_asset_count if check_remote else 0, "checking remote objects", as_json,
                         unit="obj") as remote_progress:
        result = store.verify(read_data=read_data, progress=progress, ref=ref, remote=check_remote,
                              remote_progress=remote_progress)
    _report_verify(obj, result, as_json)


def _report_verify(obj, result, as_json):
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
        _emit_json(result)
    else:
        lazy = (f"; {result['lazy_chunks']} chunk(s) of its data from its remote "
                f"({human_bytes(result['lazy_bytes'])})" if result.get("lazy_chunks") else "")
        click.echo(
            f"fetched {result['fetched']} remote asset(s) of {result['ref']} ({human_bytes(result['bytes'])}); "
            f"{human_bytes(result['stored_bytes'])} new data stored{lazy}"
        )


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option("--repack-threshold", type=click.FloatRange(0, 1), metavar="F",
              help="Rewrite packs whose dead share is above F (default: the store config's "
              "gc_repack_threshold, 0.3); 0 frees every dead byte.")
@click.option("--remote", "remote_name", metavar="REMOTE",
              help="Collect REMOTE (name or URL) instead: delete objects marked unreferenced by an earlier run "
              "more than the grace period ago (config remote_gc_grace, 1 hour), then mark what is unreferenced now.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def gc(obj, dry_run, repack_threshold, remote_name, as_json):
    """Remove data no version references and compact packs.

    A pack with only a few dead bytes is kept as it is (rewriting it would cost more than
    it frees); the summary says how many bytes stay dead that way.

    With --remote, gc works on a remote in two phases so that a concurrent push is never
    broken: a run marks what no version there references, a later run (after the grace
    period) deletes what is marked and still unreferenced.

    \b
    Example:
      artstore rm mnist:1.0.0 && artstore gc
      artstore gc --repack-threshold 0
      artstore gc --remote origin --dry-run
    """
    if remote_name is not None:
        r = obj.store.gc_remote(remote_name, dry_run=dry_run)
        if as_json:
            _emit_json(r)
            return
        verb = ("would delete", "would mark") if dry_run else ("deleted", "marked")
        click.echo(f"{verb[0]} {r['deleted']} object(s) ({human_bytes(r['bytes_freed'])}) from {r['remote']}; "
                   f"{verb[1]} {r['marked']} unreferenced object(s) ({human_bytes(r['bytes_marked'])}) for deletion "
                   f"after {r['grace_seconds']:g} s; {r['pending']} marked earlier wait; "
                   f"{r['resurrected']} referenced again kept")
        return
    s = obj.store.gc(dry_run=dry_run, repack_threshold=repack_threshold)
    if as_json:
        _emit_json(s)
        return
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"{verb} {human_bytes(s['bytes_freed'])}: {s['packs_removed']} pack(s) removed, "
        f"{s['packs_rewritten']} rewritten, {s['chunks_removed']} chunk(s), {s['files_removed']} file(s), "
        f"{s['orphans_removed'] + s['temp_removed']} leftover(s)"
    )
    if s["dead_bytes_kept"]:
        click.echo(
            f"{human_bytes(s['dead_bytes_kept'])} of unreferenced data stay in {s['packs_with_dead_bytes_kept']} "
            f"pack(s) whose dead share is at most the repack threshold ({s['repack_threshold']:g}); "
            "'artstore gc --repack-threshold 0' frees them"
        )


@main.command()
@click.argument("refs", metavar="REF...", nargs=-1, required=True, shell_complete=complete_ref)
@click.option("--force", is_flag=True, help="Also remove versions that an alias (other than latest) names.")
@click.pass_obj
def rm(obj, refs, force):
    """Delete versions (all or none); space returns at the next gc.

    A version that an alias such as 'production' names is kept unless --force (the alias
    then goes with it).

    \b
    Example:
      artstore rm mnist:1.0.0 mnist:1.1.0
      artstore rm mnist:production --force
    """
    for removed in obj.store.delete_versions(refs, force=force):
        click.echo(f"removed {removed}")
    obj.info("run 'artstore gc' to free their space")


@main.command()
@click.argument("names_", metavar="[NAME]...", nargs=-1, shell_complete=complete_name)
@click.option("--keep-last", type=int, help="Keep the N highest versions of each artifact.")
@click.option("--keep-within", metavar="AGE", help="Keep versions created within AGE (30d, 12h, 2w) or since a date.")
@click.option("--keep-aliased/--no-keep-aliased", default=True, show_default=True,
              help="Keep versions an alias points to (latest included).")
@click.option("--keep-tagged", "keep_tagged", multiple=True, metavar="TAG", help="Keep versions with this tag.")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def prune(obj, names_, keep_last, keep_within, keep_aliased, keep_tagged, dry_run, as_json):
    """Remove the versions of NAMEs (default: every artifact) that no --keep rule keeps.

    Versions an alias points to are kept unless --no-keep-aliased. The space returns at the
    next 'artstore gc'.

    \b
    Example:
      artstore prune --keep-last 5 --keep-within 30d --dry-run
      artstore prune mnist --keep-last 3 --keep-tagged release
    """
    result = obj.store.prune(names_, keep_last, keep_within, keep_aliased, keep_tagged, dry_run)
    if as_json:
        _emit_json(result)
        return
    verb = "would remove" if dry_run else "removed"
    for ref in result["removed"]:
        click.echo(f"{verb} {ref}")
    click.echo(f"{verb} {len(result['removed'])} version(s), kept {len(result['kept'])}; "
               f"'artstore gc' would then free {human_bytes(result['reclaimable_bytes'])}")


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
        _emit_json(rows)
    elif refs:
        for r in rows:
            click.echo(r["ref"])
    else:
        for r in rows:
            r["size"] = human_bytes(r["size"])
        click.echo(_table(rows, columns))


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
    obj.store.add_remote(name, url)
    click.echo(f"remote {name} -> {url}")


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
        _emit_json(rows)
    else:
        click.echo(_table(rows, ["name", "url"]))


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
    (or it is a URL), else every argument is a ref and the remote is origin."""
    if args and (args[0] in store.remotes() or "://" in args[0]):
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
        _emit_json(result)
    else:
        click.echo(f"pushed {result['versions']} version(s) to {result['remote']}: {result['chunks']} chunk(s) in "
                   f"{result['packs']} pack(s), {human_bytes(result['bytes_sent'])} sent")


@main.command()
@click.argument("args", nargs=-1, metavar="[REMOTE] [REF]...")
@click.option("--metadata-only", is_flag=True,
              help="Bring versions, labels and lineage but no data: reads fetch it from the remote when needed.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pull(obj, args, metadata_only, as_json):
    """Bring versions from REMOTE (default origin): only what this store lacks.

    Remote aliases are brought in (they win over local ones); tags are joined. With
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
        _emit_json(result)
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
    from .store import Store

    with obj.progress(None, "cloning", False) as progress:
        store = Store.clone(url, directory, workspace=workspace, progress=progress, lazy=lazy)
    n = len(store.catalog.version_roots())
    how = " (lazy: data is fetched from origin when read)" if lazy else ""
    click.echo(f"cloned {url} into {store.root}: {n} version(s){how}")
    store.close()


def run():
    """Console-script entry point."""
    main(prog_name="artstore")
