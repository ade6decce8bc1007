"""gixy findings that apigen's own output raises by design, each with its reason and a check that
recognises exactly that case (the same gixy plugin elsewhere is still a finding).

`apigen check` reports these as explained rather than failing on them, and the test suite uses
the same table (tests/hardening/test_gixy.py shows each entry is still needed and does not hide
the real problem of its plugin).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PROXY_PASS = re.compile(r"\b(?:proxy|grpc)_pass ([^;]*);")
# An upstream group (or a variable choosing one), then at most the request URI: as the operation
# locations write it (the base path stripped by a map, or $request_uri).
_GROUP_PLUS_URI_VAR = re.compile(
    r"^(?:https?|grpcs?)://(?P<host>\$?[A-Za-z0-9_-]+)(?:\$(?:request_uri|apigen_strip_[A-Za-z0-9_]+))?$"
)
_UPSTREAM = re.compile(r"^upstream ([A-Za-z0-9_-]+) \{", re.M)
_TABLE = re.compile(r"^\s*(?:split_clients|map) \S+ \$(?P<var>[A-Za-z0-9_]+) \{(?P<body>.*?)^\s*\}", re.M | re.S)


def _bundle_text(bundle: Path) -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(bundle.rglob("*.conf")) if p.is_file()]


def _variable_values(texts: list[str]) -> dict[str, set[str]]:
    """Every value a split_clients/map variable of the bundle can take (last token of each entry)."""
    out: dict[str, set[str]] = {}
    for text in texts:
        for m in _TABLE.finditer(text):
            values = {line.rstrip(";").split()[-1].strip('"') for line in m["body"].splitlines() if line.strip()}
            out.setdefault(m["var"], set()).update(values)
    return out


def _names_an_upstream(host: str, names: set[str], tables: dict[str, set[str]], depth: int = 0) -> bool:
    if not host.startswith("$"):
        return host in names
    values = tables.get(host[1:])
    # A split variable: every value is an upstream group, or another such variable (overrides chain).
    return bool(values) and depth < 8 and all(_names_an_upstream(v, names, tables, depth + 1) for v in values)


def _only_upstream_groups(config: str, bundle: Path) -> bool:
    passes = _PROXY_PASS.findall(config)
    if not passes:
        return False
    texts = _bundle_text(bundle)
    names = {n for t in texts for n in _UPSTREAM.findall(t)}
    tables = _variable_values(texts)
    matched = [_GROUP_PLUS_URI_VAR.match(p.strip()) for p in passes]
    return all(m is not None and _names_an_upstream(m["host"], names, tables) for m in matched)


@dataclass(frozen=True)
class Explained:
    plugin: str
    reason: str
    applies: Callable[[str, Path], bool]  # (gixy's config excerpt of the finding, bundle directory)


EXPLAINED: tuple[Explained, ...] = (
    Explained(
        plugin="missing_resolver",
        reason=(
            "proxy_pass names an upstream{} group of the bundle, or a split variable whose every value is "
            "one; the variable after the group is only the request URI (the base path stripped by a map), "
            "so there is no host name to resolve at run time"
        ),
        applies=_only_upstream_groups,
    ),
)


def explanation(plugin: str, config: str, bundle: Path) -> str | None:
    """Why a finding of ``plugin`` on ``config`` (gixy's excerpt) is by design, or None."""
    return next((e.reason for e in EXPLAINED if e.plugin == plugin and e.applies(config, bundle)), None)
