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
