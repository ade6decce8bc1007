"""The developer-workflow commands (lint, diff, check, explain, schema-docs), one module each;
:mod:`apigen.cli` adds them to the ``apigen`` group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apigen.pipeline import Compiled

EXIT_INVALID = 1
EXIT_INTERNAL = 3


def internal_error(exc: BaseException) -> None:
    """A bug in apigen, not in the input: one line, exit 3 (never a traceback, never an exit
    code that means something about the input)."""
    from apigen.console import message

    message(f"apigen: internal error: {type(exc).__name__}: {exc}")
    message("apigen: this is a bug in apigen; please report it with the inputs.")
    sys.exit(EXIT_INTERNAL)


def compile_or_exit(policy: Path, render: bool = True) -> Compiled:
    """Compile ``policy``; on invalid input print the diagnostics to stderr and exit 1."""
    from apigen.console import message
    from apigen.diagnostics import CompileError
    from apigen.pipeline import compile_policy

    try:
        return compile_policy(policy, render=render, display=str(policy))
    except CompileError as exc:
        for d in exc.diagnostics.sorted():
            message(d.format())
        sys.exit(EXIT_INVALID)
    except Exception as exc:
        internal_error(exc)
        raise
