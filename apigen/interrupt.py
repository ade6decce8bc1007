"""The exit a signal asked for, kept for when the SystemExit its handler raised is lost.

Python runs a signal handler between two bytecodes of the main thread, wherever that is. When it
is a weakref callback (importlib's module locks during an import, say), an exception the handler
raises is printed as "Exception ignored in ..." with a traceback and dropped: the build went on,
wrote its output and exited 0 after a SIGTERM (seen in CI, tests/cli/test_signals.py). So the
handlers record the exit before raising it, :func:`check` raises it again where it matters (the
bundle writer before it swaps the output in, the command's exit), and the dropped exception's
report is left out. Imports nothing of apigen: `python -m apigen` loads it before anything else.
"""

from __future__ import annotations

import sys
from typing import Any

pending: int | None = None  # 128 + N once signal N asked the command to stop


def record(code: int) -> None:
    global pending
    pending = code


def check() -> None:
    """Raise the recorded exit, if a signal asked for one."""
    if pending is not None:
        raise SystemExit(pending)


def _unraisable(report: Any) -> None:
    if pending is not None and report.exc_type is not None and issubclass(report.exc_type, SystemExit):
        return  # the recorded exit, dropped where Python could not raise it: check() raises it again
    sys.__unraisablehook__(report)


def install() -> None:
    """Leave a dropped SystemExit of a recorded exit unreported (no traceback on stderr)."""
    sys.unraisablehook = _unraisable
