"""Diagnostics quote user input; the CLI must not let that input drive the terminal or print
lines that read as other diagnostics."""

from __future__ import annotations

from apigen.diagnostics import Diagnostic, Position, Severity


def _line(message: str) -> str:
    return Diagnostic(Severity.ERROR, message, Position("p.yaml", 1, 2)).format()


def test_control_characters_are_shown_escaped() -> None:
    assert _line("path /a\x1b[2J\x07b") == "p.yaml:1:2: error: path /a\\x1b[2J\\x07b"
    assert _line("bidi \u202e override") == "p.yaml:1:2: error: bidi \\u202e override"


def test_non_ascii_text_stays() -> None:
    assert _line("café") == "p.yaml:1:2: error: café"


def test_quoted_input_cannot_start_another_diagnostic_line() -> None:
    # A spec's $ref or path is quoted in messages: a line break in it once printed a line that CI
    # annotators read as an error of another file. Hint lines are the diagnostic's own.
    d = Diagnostic(
        Severity.WARNING,
        "unresolvable $ref #/x\nother.yaml:1:1: error: fake",
        Position("spec\n.yaml", 3, 7),
        hint="see\rthere",
    )
    assert d.format().split("\n") == [
        "spec\\n.yaml:3:7: warning: unresolvable $ref #/x\\nother.yaml:1:1: error: fake",
        "  hint: see\\rthere",
    ]
