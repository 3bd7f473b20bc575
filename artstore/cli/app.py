"""The ``artstore`` command group: the store it works on, one-line errors with their exit
codes, --help grouped by section. Commands live beside it, one module per section.

Every ArtstoreError becomes one line on stderr and its documented exit code; JSON goes to
stdout alone; progress and warnings go to stderr.
"""

import contextlib
import os
import sys

import click

from .. import __version__
from ..errors import ArtstoreError, InvalidInput


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
            from ..store import Store

            if self.user_store:
                from ..userstore import open_user_store

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
        from ..progress import make_progress

        if length is None:  # known only during the work: the callee calls set_total
            from ..progress import make_later_progress

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
    ("Inspect", ["list", "versions", "show", "diff", "lineage", "ui"]),
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
            fail(ctx, str(exc), exc.exit_code)
        except BrokenPipeError:
            # The reader of our stdout went away (e.g. `artstore cat ... | head`).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt:
            fail(ctx, _interrupted_message(ctx), 130)
        except RecursionError:
            fail(ctx, "input nests too deeply to process; simplify it (metadata may nest at most "
                  f"{_max_depth()} levels)", InvalidInput.exit_code)
        except OSError as exc:
            from ..errors import from_os_error

            where = f" {exc.filename}" if exc.filename else ""
            error = from_os_error(exc, f"working on{where}" if where else "working")
            fail(ctx, str(error), error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            fail(ctx, f"internal error: {type(exc).__name__}: {exc}; please report it (-v shows the traceback)", 1)


def _max_depth():
    from ..metadata import MAX_DEPTH

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


def fail(ctx, message, code):
    obj = ctx.find_object(Context)
    if obj is not None and obj.verbose:
        import traceback

        traceback.print_exc()
    click.echo(f"artstore: error: {one_line(message)}", err=True)
    ctx.exit(code)


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


def run():
    """Console-script entry point."""
    main(prog_name="artstore")
