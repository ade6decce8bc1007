"""Reading an input file: regular files only, never more than a limit.

``Path.read_bytes`` on a FIFO blocks until a writer comes, and on ``/dev/zero`` reads until memory
runs out; ``st_size`` is 0 for both, so a size check before reading does not help. The file is
opened without blocking, checked to be a regular file, then read up to the limit."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class FileTooLargeError(OSError):
    """The file holds more than the limit (``size``: its size, or ``limit + 1`` when growing)."""

    def __init__(self, path: Path, size: int) -> None:
        super().__init__(errno.EFBIG, "file too large", str(path))
        self.size = size


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``; ``OSError`` otherwise (``IsADirectoryError`` for a
    directory, EINVAL for a device, FIFO or socket, ``FileTooLargeError`` past ``limit``)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, pipe or socket)", str(path))
        if st.st_size > limit:
            raise FileTooLargeError(path, st.st_size)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(path, len(data))
    return data
