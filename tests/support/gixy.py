"""Run gixy-ng (nginx security analyser) on a bundle, from its own environment.

gixy-ng depends on `ngxparse`, a crossplane fork that installs into the same `crossplane/` package
folder, so it lives in a separate venv: `$APIGEN_GIXY` (path of the `gixy` executable), else
`<repo>/.venv-gixy/bin/gixy` (created by .ci/run, or by hand:
`python3 -m venv .venv-gixy && .venv-gixy/bin/pip install gixy-ng==0.2.59`).

False positives are silenced here and only here (`SILENCED`), each with its reason and a
predicate that recognises exactly that case; tests/hardening/test_gixy.py shows each entry is still
needed and does not hide the real problem of the same plugin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

Finding = dict[str, Any]


def gixy_binary() -> str | None:
    env = os.environ.get("APIGEN_GIXY")
    if env:
        return env
    local = REPO / ".venv-gixy" / "bin" / "gixy"
    return str(local) if local.is_file() else None


def run_gixy(bundle: Path) -> list[Finding]:
    exe = gixy_binary()
    if exe is None:
        raise FileNotFoundError("gixy-ng not found: set APIGEN_GIXY or create .venv-gixy")
    proc = subprocess.run(
        [exe, "-f", "json", str(bundle / "nginx.conf")], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"gixy failed ({proc.returncode}): {proc.stderr}")
    return json.loads(proc.stdout or "[]")


def upstream_names(bundle: Path) -> set[str]:
    text = (bundle / "api_backends.conf").read_text()
    return set(re.findall(r"^upstream ([A-Za-z0-9_-]+) \{", text, re.M))


_PROXY_PASS = re.compile(r"proxy_pass ([^;]*);")
_UPSTREAM_PLUS_URI_VAR = re.compile(r"^http://(?P<host>[A-Za-z0-9_-]+)\$(request_uri|apigen_strip_[A-Za-z0-9_]+)$")


def _only_upstream_groups(finding: Finding, bundle: Path) -> bool:
    passes = _PROXY_PASS.findall(finding.get("config", ""))
    names = upstream_names(bundle)
    matched = [_UPSTREAM_PLUS_URI_VAR.match(p) for p in passes]
    return bool(passes) and all(m is not None and m["host"] in names for m in matched)


@dataclass(frozen=True)
class Silenced:
    plugin: str
    reason: str
    applies: Callable[[Finding, Path], bool]


SILENCED: tuple[Silenced, ...] = (
    Silenced(
        plugin="missing_resolver",
        reason=(
            "proxy_pass targets an upstream{} group defined in api_backends.conf; the variable after "
            "the group name is only the request URI (the base path stripped by a map), so there is "
            "no host name to resolve at run time"
        ),
        applies=_only_upstream_groups,
    ),
)


def unexplained(findings: list[Finding], bundle: Path) -> list[Finding]:
    """Findings no SILENCED entry explains."""
    return [f for f in findings if not any(s.plugin == f.get("plugin") and s.applies(f, bundle) for s in SILENCED)]
