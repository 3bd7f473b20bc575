"""Which paths of a directory given to ``add`` are left out.

- Version-control and store folders, ``.git``, ``.hg``, ``.svn`` and ``.artstore``, at any
  depth, always (a dataset is not its repository's history).
- Patterns from ``--exclude PATTERN`` (``Artifact.add(..., exclude=[...])``) and from a
  ``.artstoreignore`` file at the top of the directory, with .gitignore's meaning
  (``*.tmp``, ``/build/``, ``logs/``, ``!keep.log``, ``**/cache``), matched against
  paths relative to that directory. As in git, an excluded directory is not entered, so
  a ``!`` pattern cannot bring back a file below it.

pathspec (the library behind black's and many tools' .gitignore support) is imported
only when there is a pattern to match.
"""

import os

from .errors import InvalidInput

ALWAYS_EXCLUDED = frozenset({".git", ".hg", ".svn", ".artstore"})
IGNORE_FILE = ".artstoreignore"


class Rules:
    """The exclusion rules for one directory walk; ``excluded`` lists what they left out
    (relative paths, a directory once with a trailing ``/``)."""

    def __init__(self, root=None, patterns=()):
        lines = [p for p in patterns]
        for pattern in lines:
            if not isinstance(pattern, str) or not pattern.strip():
                raise InvalidInput(f"exclude pattern {pattern!r} is empty or not a string")
        if root is not None:
            ignore_file = os.path.join(root, IGNORE_FILE)
            try:
                with open(ignore_file, encoding="utf-8") as f:
                    lines = f.read().splitlines() + lines  # the command line comes last and wins
            except FileNotFoundError:
                pass
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"cannot read {ignore_file}: {exc}") from None
        self.spec = None
        if any(line.strip() and not line.lstrip().startswith("#") for line in lines):
            import pathspec

            try:
                self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
            except Exception as exc:  # pathspec raises several kinds for a bad pattern
                raise InvalidInput(f"bad exclude pattern: {exc}") from None
        self.excluded = []

    def skip_dir(self, name, rel):
        """True if the directory ``rel`` (relative path, final component ``name``) is left out."""
        if name in ALWAYS_EXCLUDED or (self.spec is not None and self.spec.match_file(rel + "/")):
            self.excluded.append(rel + "/")
            return True
        return False

    def skip_file(self, rel):
        """True if the file at relative path ``rel`` is left out."""
        if self.spec is not None and self.spec.match_file(rel):
            self.excluded.append(rel)
            return True
        return False
