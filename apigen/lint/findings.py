"""Findings as plain data (for the cache and `--format json`) and back."""

from __future__ import annotations

from typing import Any

from apigen.diagnostics import Diagnostic, Position, Severity


def _pos(p: Position) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "column": p.col}


def to_dict(d: Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {"rule": d.code or "invalid", "severity": d.severity.value, "message": d.message}
    out.update(_pos(d.position) if d.position else {"file": None, "line": 0, "column": 0})
    out["hint"] = d.hint
    out["related"] = [_pos(r) for r in d.related]
    return out


def from_dict(data: dict[str, Any]) -> Diagnostic:
    position = Position(data["file"], data["line"], data["column"]) if data["file"] is not None else None
    return Diagnostic(
        Severity(data["severity"]),
        data["message"],
        position,
        code="" if data["rule"] == "invalid" else data["rule"],
        hint=data.get("hint", ""),
        related=tuple(Position(r["file"], r["line"], r["column"]) for r in data.get("related", [])),
    )
