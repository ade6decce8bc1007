"""Diagnostics quote user input; the CLI must not let that input drive the terminal."""

from __future__ import annotations

from apigen.cli import _printable


def test_control_characters_are_shown_escaped() -> None:
    assert _printable("path /a\x1b[2J\x07b") == "path /a\\x1b[2J\\x07b"
    assert _printable("bidi \u202e override") == "bidi \\u202e override"


def test_line_breaks_and_non_ascii_text_stay() -> None:
    assert _printable("café: error\n  hint: x") == "café: error\n  hint: x"
