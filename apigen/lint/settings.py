"""Which rules run and at what level: the policy file's ``lint:`` section and inline comments.

``lint: {rules: {write-without-auth: error, no-rate-limit: off}}`` re-levels or disables a rule
for the whole file. Inline, in the policy YAML:

* ``key: value  # apigen-lint: disable=RULE[,RULE]`` silences findings on that line;
* a comment line ``# apigen-lint: disable=RULE`` silences findings on the next line that is not
  blank or a comment;
* ``# apigen-lint: disable-file=RULE`` anywhere silences the rule in the whole file.

Inline comments only reach findings located in the policy file itself.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from apigen.diagnostics import Diagnostic, Position, Severity

_INLINE = re.compile(r"#\s*apigen-lint:\s*(disable|disable-file)\s*=\s*([A-Za-z0-9_,\s-]+?)\s*$")
_LEVELS = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}


@dataclass
class LintSettings:
    levels: dict[str, Severity | None] = field(default_factory=dict)  # None: off
    lines: dict[int, set[str]] = field(default_factory=dict)  # line -> rules disabled there
    file_wide: set[str] = field(default_factory=set)
    problems: list[Diagnostic] = field(default_factory=list)  # unknown rule ids and the like

    def apply(self, findings: list[Diagnostic], policy_file: str) -> list[Diagnostic]:
        out = []
        for d in findings:
            rule_id = d.code
            if rule_id in self.levels:
                level = self.levels[rule_id]
                if level is None:
                    continue
                d = dataclasses.replace(d, severity=level)
            if rule_id and d.position is not None and d.position.file == policy_file:
                if rule_id in self.file_wide or rule_id in self.lines.get(d.position.line, ()):
                    continue
            out.append(d)
        return out + self.problems


def _rule_ids(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def read_settings(data: dict, text: str, pos, policy_file: str, known: set[str]) -> LintSettings:
    """``data``: the policy's plain data; ``text``: its source; ``pos(*path, key=...)``: positions."""
    settings = LintSettings()
    lint = data.get("lint") or {}
    for rule_id, level in (lint.get("rules") or {}).items():
        if rule_id not in known:
            settings.problems.append(_unknown(rule_id, pos("lint", "rules", rule_id, key=True), known))
            continue
        settings.levels[rule_id] = None if level in ("off", False) else _LEVELS[str(level)]

    pending: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        m = _INLINE.search(line)
        if m:
            ids = _rule_ids(m.group(2))
            for rule_id in ids:
                if rule_id not in known:
                    settings.problems.append(_unknown(rule_id, Position(policy_file, number, m.start() + 1), known))
            ids = [r for r in ids if r in known]
            if m.group(1) == "disable-file":
                settings.file_wide.update(ids)
            elif stripped.startswith("#"):
                pending.update(ids)  # applies to the next line with content
            else:
                settings.lines.setdefault(number, set()).update(ids)
            if stripped.startswith("#"):
                continue
        if not stripped or stripped.startswith("#"):
            continue
        if pending:
            settings.lines.setdefault(number, set()).update(pending)
            pending = set()
    return settings


def _unknown(rule_id: str, position: Position, known: set[str]) -> Diagnostic:
    return Diagnostic(
        Severity.WARNING,
        f"unknown lint rule {rule_id!r}",
        position,
        code="lint-config",
        hint=f"known rules: {', '.join(sorted(known))}",
    )
