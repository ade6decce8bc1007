"""A validator process started with the command, so that importing openapi-spec-validator
overlaps with apigen's own start-up instead of adding to it.

Importing openapi-spec-validator takes ~0.22 s (pydantic-settings, jsonschema-path, requests),
about as long as apigen's own imports, loading and rendering of a small document together. The
command line forks this process first thing; it imports the validator on the other core while
the command goes on, then checks the documents it is sent (the fast check of
``apigen.validate.parallel``). Its only answers are "valid" and "not valid"; no process, a
failure, or "not valid" make the caller validate in-process, which is what reports errors.

Linux only (fork, cheap there) and single-threaded processes only, like the parallel check;
``APIGEN_PREWARM=0`` turns it off.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import threading
from typing import Any

_HEADER = struct.Struct("!Q")
_child: tuple[int, int, int] | None = None  # (pid, pipe to it, pipe from it)


def start() -> None:
    """Fork the validator process, unless there is one or it cannot help here."""
    global _child
    if (
        _child is not None
        or sys.platform != "linux"
        or os.environ.get("APIGEN_PREWARM", "1") == "0"
        or "openapi_spec_validator" in sys.modules  # imported already: nothing left to overlap
        or threading.active_count() > 1
    ):
        return
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; exercised through ask() in the tests
        code = 0
        try:
            _die_with(parent)
            os.close(to_child_w)
            os.close(from_child_r)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # import-time warnings must not land in the command's output
                os.dup2(devnull, fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _serve(to_child_r, from_child_w)
        except BaseException:
            code = 1
        finally:
            os._exit(code)  # never run the parent's atexit handlers or click's clean-up
    os.close(to_child_r)
    os.close(from_child_w)
    _child = (pid, to_child_w, from_child_r)


def ask(version: str, document: Any, base_uri: str) -> bool | None:
    """Is ``document`` valid, per the validator process? None when there is no such process
    or it did not answer (the caller then checks in-process)."""
    if _child is None:
        return None
    _, to_child, from_child = _child
    try:
        _send(to_child, pickle.dumps((version, document, base_uri), protocol=pickle.HIGHEST_PROTOCOL))
        reply = _receive(from_child)
    except Exception:  # unpicklable document, a dead process (EPIPE): answer in-process
        reply = None
    if reply is None:
        stop()
        return None
    return reply == b"\x01"


def stop() -> None:
    """End the validator process (idle, or still importing) and reap it."""
    global _child
    if _child is None:
        return
    pid, to_child, from_child = _child
    _child = None
    for fd in (to_child, from_child):
        os.close(fd)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child
    """Be killed as soon as the command's process ends, however it ends (SIGTERM, SIGKILL), not
    only when the pipe closes after a validation that may take seconds."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(0)


def _serve(requests: int, replies: int) -> None:  # pragma: no cover - runs in the child
    from apigen.validate.openapi_validators import document_is_valid, import_validators

    import_validators()  # the point of this process: done while the parent works
    while (request := _receive(requests)) is not None:
        version, document, base_uri = pickle.loads(request)
        try:
            ok = document_is_valid(version, document, base_uri)
        except Exception:
            ok = False
        _send(replies, b"\x01" if ok else b"\x00")


def _send(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> bytes | None:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    return _read_exactly(fd, _HEADER.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
