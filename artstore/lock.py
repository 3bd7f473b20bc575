"""The store lock: flock on ``.artstore/lock``, shared for readers and writers, exclusive
for gc, waited for within a bounded time. The kernel drops the lock of a killed process,
so a crash never blocks the store.
"""

import errno
import fcntl
import os
import time

from .errors import ArtstoreError, InvalidInput, ReadOnlyStore, StoreLocked

LOCK_TIMEOUT_ENV = "ARTSTORE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0


class StoreLock:
    """flock on ``.artstore/lock``: shared for readers and writers, exclusive for gc."""

    def __init__(self, path, timeout=None):
        self.path = path
        if timeout is None:
            try:
                timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))
            except ValueError:
                raise InvalidInput(f"{LOCK_TIMEOUT_ENV} must be a number of seconds") from None
        self.timeout = timeout
        self._fd = None
        self._depth = 0
        self._exclusive = False

    def acquire(self, exclusive=False):
        if self._fd is not None:
            if exclusive and not self._exclusive:
                raise ArtstoreError("internal: cannot upgrade a shared store lock")
            self._depth += 1
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
                raise
            if exclusive:
                raise ReadOnlyStore(
                    f"the store is read-only ({exc.strerror}); gc needs write access"
                ) from None
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                # A read-only store without a lock file: nothing can change it, so a
                # reader needs no lock (the depth still counts for release()).
                self._fd, self._depth, self._exclusive = -1, 1, False
                return
        deadline = time.monotonic() + self.timeout
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    what = "gc needs it to itself" if exclusive else "gc is running"
                    raise StoreLocked(
                        f"the store is locked ({what}); waited {self.timeout:g}s; "
                        f"try again later or raise {LOCK_TIMEOUT_ENV}"
                    ) from None
                time.sleep(0.05)
        self._fd, self._depth, self._exclusive = fd, 1, exclusive

    def release(self):
        self._depth -= 1
        if self._depth == 0:
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None

    def shared(self):
        return _Held(self, False)

    def exclusive(self):
        return _Held(self, True)


class _Held:
    def __init__(self, lock, exclusive):
        self.lock, self.exclusive = lock, exclusive

    def __enter__(self):
        self.lock.acquire(self.exclusive)

    def __exit__(self, *exc):
        self.lock.release()
