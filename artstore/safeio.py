"""Opening files a user names for reading, safely: never blocking on a FIFO, never
reading a device, a socket or a directory, and (when asked) never following a symlink.

The file is opened with O_NONBLOCK (an open of a FIFO with no writer would otherwise wait
forever, holding the store lock) and its type is checked on the open descriptor with
fstat, so a file swapped for something else between a check and the open is caught too.
"""

import errno
import os
import stat

from .errors import Conflict, InvalidInput, NotFound

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symlink"),
)


def kind_of(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, *, follow_symlinks=True, expect=None, missing=NotFound):
    """An fd of the regular file at ``path`` (opened with O_NONBLOCK, which reads of a
    regular file ignore).

    ``expect`` is an earlier stat of the same file: if the open file is another one
    (inode or device differ), it was replaced since, and Conflict is raised. ``missing``
    is the class raised when the path does not exist."""
    return open_regular_stat(path, follow_symlinks=follow_symlinks, expect=expect, missing=missing)[0]


def open_regular_stat(path, *, follow_symlinks=True, expect=None, missing=NotFound):
    """``open_regular``, and the fstat of the open file: (fd, stat)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise missing(f"no such file: {path}" if missing is NotFound else
                      f"{path} was deleted while it was being read; add it again") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path}: permission denied; fix its permissions") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise InvalidInput(f"{path} is a socket or FIFO, not a regular file; give a regular file") from None
        if expect is not None and exc.errno == errno.ENOTDIR:  # a folder on the way became a file
            raise Conflict(f"{path} was replaced while it was being read; add it again once it is stable") from None
        if exc.errno == errno.ELOOP:
            raise InvalidInput(f"{path} is a symlink, which is not followed here; give the file itself") from None
        raise InvalidInput(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{path} is {kind_of(st.st_mode)}, not a regular file; give a regular file")
        if expect is not None and (st.st_ino, st.st_dev) != (expect.st_ino, expect.st_dev):
            raise Conflict(f"{path} was replaced while it was being read; add it again once it is stable")
        # O_NONBLOCK has no effect on a regular file's reads (POSIX), so the flag is left
        # set: clearing it cost two system calls per file, 15% of reading a small file.
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_text(path, what, limit=64 << 20):
    """The text of a small regular file (a --metadata file), UTF-8, at most ``limit`` bytes."""
    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InvalidInput(f"{what} {path} is larger than {limit >> 20} MiB; give a smaller file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
