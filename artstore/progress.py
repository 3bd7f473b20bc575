"""Progress bars on stderr for long work, shown only when stderr is a terminal.

Returns None when no bar should be drawn, so callers pass ``progress=None`` down and the
inner loops pay nothing. NO_COLOR and a dumb terminal are respected by tqdm's plain bar.
"""

import os
import sys


class _Bar:
    def __init__(self, total, label, unit):
        from tqdm import tqdm  # loaded only when a bar is drawn

        self._bar = tqdm(total=total, desc=label, unit=unit, unit_scale=True,
                         unit_divisor=1024 if unit == "B" else 1000, file=sys.stderr, leave=False, dynamic_ncols=True,
                         colour=None if os.environ.get("NO_COLOR") else "green")

    def __call__(self, n):
        self._bar.update(n)

    def close(self):
        self._bar.close()


def make_progress(total, label, enabled=True, stream=None, unit="B"):
    stream = stream or sys.stderr
    if not enabled or not stream.isatty() or os.environ.get("TERM") == "dumb":
        return None
    total = total() if callable(total) else total
    return _Bar(total, label, unit) if total else None


class _LaterBar:
    """A bar whose length is learnt during the work (a push knows its bytes once it has
    built its packs): drawn from the first ``set_total``; a later call starts a new bar
    for the next phase."""

    def __init__(self, label, unit):
        self.label = label
        self.unit = unit
        self._bar = None

    def set_total(self, total):
        self.close()
        if total:
            self._bar = _Bar(total, self.label, self.unit)

    def __call__(self, n):
        if self._bar is not None:
            self._bar(n)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def make_later_progress(label, enabled=True, stream=None, unit="B"):
    """Like make_progress for work whose length is known only later (``set_total``)."""
    stream = stream or sys.stderr
    if not enabled or not stream.isatty() or os.environ.get("TERM") == "dumb":
        return None
    return _LaterBar(label, unit)
