"""Terminal conventions shared by the commands: data on stdout, messages on stderr, colour only
on a terminal (and never with ``NO_COLOR`` set)."""

from __future__ import annotations

import os
import sys
from typing import TextIO

import click


def colour_enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a C tool in the same place


def data(text: str) -> None:
    """What a command produces (a report, JSON, SARIF): stdout. A reader that went away
    (`apigen routes | head`) ends the command quietly, like a tool killed by SIGPIPE."""
    try:
        click.echo(text)
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_PIPE_CLOSED)


def message(text: str) -> None:
    """Progress, summaries and errors: stderr."""
    click.echo(text, err=True)


def style(text: str, colour: bool, **kw: object) -> str:
    return click.style(text, **kw) if colour else text  # type: ignore[arg-type]
