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


def data(text: str) -> None:
    """What a command produces (a report, JSON, SARIF): stdout."""
    click.echo(text)


def message(text: str) -> None:
    """Progress, summaries and errors: stderr."""
    click.echo(text, err=True)


def style(text: str, colour: bool, **kw: object) -> str:
    return click.style(text, **kw) if colour else text  # type: ignore[arg-type]
