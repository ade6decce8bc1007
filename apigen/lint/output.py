"""Lint output: text for people, JSON for scripts, SARIF 2.1.0 for code-scanning tools."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from apigen import __version__
from apigen.diagnostics import Diagnostic, Severity, one_line
from apigen.lint.findings import to_dict

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}

# Findings the compiler reports without a lint rule of their own.
_COMPILER_CODES = {
    "invalid": "The policy file or an OpenAPI document is invalid (what `apigen validate` reports).",
    "schema": "The policy file does not match schemas/policy.schema.json.",
    "lint-config": "The `lint:` section or an inline `apigen-lint:` comment names an unknown rule.",
}


def summary(findings: list[Diagnostic]) -> dict[str, int]:
    return {s.value: sum(1 for d in findings if d.severity is s) for s in Severity}


def format_text(findings: list[Diagnostic], colour: bool, quiet: bool, strict: bool = False) -> str:
    """``quiet``: only what fails the run (errors; warnings too with ``strict``), no hints."""
    import click

    failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    lines = []
    for d in findings:
        if quiet and d.severity not in failing:
            continue
        where = f"{one_line(str(d.position))}: " if d.position else ""
        level = d.severity.value
        if colour:
            level = click.style(level, fg=_COLOUR[d.severity], bold=True if d.severity is Severity.ERROR else None)
        text = f"{where}{level}: {one_line(d.message)}"
        if d.code:
            text += f" [{d.code}]"
        for rel in d.related:
            text += f"\n  {rel}: related location"
        if d.hint and not quiet:
            text += f"\n  hint: {one_line(d.hint)}"
        lines.append(text)
    return "\n".join(lines)


def format_json(policies: list[str], findings: list[Diagnostic], cached: bool) -> str:
    doc = {
        "tool": "apigen",
        "version": __version__,
        "policies": policies,
        "cached": cached,
        "summary": summary(findings),
        "findings": [to_dict(d) for d in findings],
    }
    return json.dumps(doc, indent=2)


def _artifact(file: str, root: Path) -> dict[str, str]:
    """A relative reference under SRCROOT, percent-encoded as URI references must be (RFC 3986:
    a space or `#` in a file name made an invalid URI, or one naming another file; found by a
    hunt), else an absolute file URI."""
    path = Path(file)
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix()
        return {"uri": urllib.parse.quote(relative, safe="/"), "uriBaseId": "SRCROOT"}
    except (ValueError, OSError):
        return {"uri": path.resolve().as_uri()}


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _Lines:
    """The lines of the files findings point into, read once each (None: unreadable)."""

    def __init__(self) -> None:
        self._files: dict[str, list[str] | None] = {}

    def line(self, file: str, number: int) -> str | None:
        if file not in self._files:
            try:
                # surrogateescape: a byte that is not UTF-8 still counts as one character, as
                # it did for the column apigen computed
                text = Path(file).read_bytes().decode("utf-8", errors="surrogateescape")
            except OSError:
                self._files[file] = None
            else:
                self._files[file] = _LINE_BREAK.split(text.removeprefix("\ufeff"))
        lines = self._files[file]
        return lines[number - 1] if lines is not None and 0 < number <= len(lines) else None


def utf16_column(line_text: str | None, col: int) -> int:
    """apigen's 1-based column ``col`` (characters) as SARIF's default kind counts it: UTF-16
    code units, two for each character outside the BMP before it (an emoji in a description)."""
    if line_text is None or col <= 1:
        return max(col, 1)
    before = line_text[: col - 1]
    units = len(before.encode("utf-16-le", errors="surrogatepass")) // 2
    return units + (col - 1 - len(before)) + 1  # a column past the end of the line stays past it


def _location(file: str, line: int, col: int, root: Path, lines: _Lines) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(file, root)}
    if line > 0:
        physical["region"] = {"startLine": line, "startColumn": utf16_column(lines.line(file, line), col)}
    return {"physicalLocation": physical}


def sarif_rules() -> list[dict[str, Any]]:
    from apigen.lint.rules import RULES

    rules = []
    for r in sorted(RULES.values(), key=lambda r: r.id):
        rules.append(
            {
                "id": r.id,
                "name": "".join(part.title() for part in r.id.split("-")),
                "shortDescription": {"text": r.summary},
                "help": {"text": r.hint},
                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            }
        )
    for code, text in sorted(_COMPILER_CODES.items()):
        rules.append(
            {
                "id": code,
                "name": "".join(part.title() for part in code.split("-")),
                "shortDescription": {"text": text},
                "defaultConfiguration": {"level": "error" if code != "lint-config" else "warning"},
            }
        )
    return rules


def format_sarif(findings: list[Diagnostic], root: Path | None = None) -> str:
    """One run; artifact URIs relative to ``root`` (the working directory: the repository root in
    CI, which is what code scanning expects)."""
    root = root or Path(os.getcwd())
    lines = _Lines()
    rules = sarif_rules()
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for d in findings:
        rule_id = d.code or "invalid"
        if rule_id not in index:
            index[rule_id] = len(rules)
            rules.append({"id": rule_id, "shortDescription": {"text": rule_id}})
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        result: dict[str, Any] = {
            "ruleId": rule_id,
            "ruleIndex": index[rule_id],
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": text},
        }
        if d.position is not None and d.position.file:
            result["locations"] = [_location(d.position.file, d.position.line, d.position.col, root, lines)]
        if d.related:
            result["relatedLocations"] = [
                {"id": i, **_location(r.file, r.line, r.col, root, lines), "message": {"text": "related location"}}
                for i, r in enumerate(d.related)
            ]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "apigen",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"SRCROOT": {"uri": root.resolve().as_uri().rstrip("/") + "/"}},
                # SARIF's default, and the only kind code-scanning tools (GitHub's) read:
                # declaring apigen's own unicodeCodePoints put the markers of a line with an
                # emoji before the finding one column off there (found by a hunt).
                "columnKind": "utf16CodeUnits",
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2)
