"""The ``artstore`` command line: parse arguments, call the API, format the output. No logic.

``app`` holds the command group and how errors become exit codes; each other module holds
the commands of one section of ``artstore --help``; importing them registers them.
"""

from . import find, log, look, maintain, share, show  # noqa: F401  (each registers its commands)
from .app import main, one_line, run
from .output import human_bytes

__all__ = ["main", "one_line", "run", "human_bytes"]
