"""Shared helpers for the benchmarks: data generation, timed subprocesses, tables."""

import json
import os
import shutil
import subprocess
import sys
import time

ARTSTORE = [sys.executable, "-m", "artstore"]


def make_random_file(path, size, seed=0, block=16 << 20):
    import random

    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(block, left)
            f.write(rng.randbytes(n))
            left -= n


def edit_file(path, seed=1):
    """The issue's edit: insert 128 bytes in the middle, overwrite 1 MiB at 3/4."""
    import random

    rng = random.Random(seed)
    size = os.path.getsize(path)
    tmp = path + ".edit"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        mid = size // 2
        shutil.copyfileobj(_limited(src, mid), dst, 16 << 20)
        dst.write(rng.randbytes(128))
        shutil.copyfileobj(src, dst, 16 << 20)
    os.replace(tmp, path)
    with open(path, "r+b") as f:
        f.seek((size + 128) * 3 // 4)
        f.write(rng.randbytes(1 << 20))


class _limited:
    def __init__(self, f, n):
        self.f, self.n = f, n

    def read(self, size=-1):
        if self.n <= 0:
            return b""
        size = self.n if size < 0 else min(size, self.n)
        data = self.f.read(size)
        self.n -= len(data)
        return data


# Runs the command as a fork of a small process and reports its peak RSS. Measuring the
# command directly from this (larger) process would not work: Linux carries the parent's
# peak over into a child started with vfork/posix_spawn, so every child would look as big
# as the benchmark driver.
_RSS_WRAPPER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_pid, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def timed(cmd, cwd=None, env=None, check=True):
    """(seconds, peak RSS in MB, stdout) of one command."""
    import tempfile

    full_env = dict(os.environ)
    # Compiled bytecode is cached as in a user's install (pip writes it); with this set (as
    # some sandboxes do) every run would compile artstore's modules again, 0.1-0.2 s.
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    full_env.update(env or {})
    fd, rss_file = tempfile.mkstemp(prefix="artstore-rss-")
    os.close(fd)
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, rss_file, *cmd], cwd=cwd, env=full_env,
                              capture_output=True)
        seconds = time.perf_counter() - start
        with open(rss_file) as f:
            text = f.read().strip()
    finally:
        os.unlink(rss_file)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return seconds, (int(text) / 1024 if text else None), proc.stdout


def best_of(n, fn):
    """Run fn() n times (it returns (seconds, rss, out)); keep the fastest run."""
    runs = [fn() for _ in range(n)]
    return min(runs, key=lambda r: r[0])


def which(name):
    return shutil.which(name)


def print_table(rows, columns):
    widths = [max(len(str(c)), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True)))


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def save_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
