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
        # The executable, or the virtualenv holding it (what scripts/install-gixy.sh exports).
        return str(Path(env) / "bin" / "gixy") if Path(env).is_dir() else env
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
_UPSTREAM_PLUS_URI_VAR = re.compile(
    r"^http://(?P<host>\$?[A-Za-z0-9_-]+)(\$(request_uri|apigen_strip_[A-Za-z0-9_]+))?$"
)
# A block that defines a variable from a table: `split_clients KEY $var {` or `map SRC $var {`.
_TABLE = re.compile(r"^\s*(?:split_clients|map) \S+ \$(?P<var>[A-Za-z0-9_]+) \{(?P<body>.*?)^\s*\}", re.M | re.S)


def _variable_values(bundle: Path) -> dict[str, set[str]]:
    """Every value a split_clients/map variable of the bundle can take (last token of each entry)."""
    out: dict[str, set[str]] = {}
    for conf in bundle.rglob("*.conf"):
        for m in _TABLE.finditer(conf.read_text()):
            values = {line.rstrip(";").split()[-1].strip('"') for line in m["body"].splitlines() if line.strip()}
            out.setdefault(m["var"], set()).update(values)
    return out


def _names_an_upstream(host: str, names: set[str], tables: dict[str, set[str]], depth: int = 0) -> bool:
    if not host.startswith("$"):
        return host in names
    values = tables.get(host[1:])
    # A split variable: every value is an upstream group, or another such variable (overrides chain).
    return bool(values) and depth < 8 and all(_names_an_upstream(v, names, tables, depth + 1) for v in values)


def _only_upstream_groups(finding: Finding, bundle: Path) -> bool:
    passes = _PROXY_PASS.findall(finding.get("config", ""))
    names = upstream_names(bundle)
    tables = _variable_values(bundle)
    matched = [_UPSTREAM_PLUS_URI_VAR.match(p) for p in passes]
    return bool(passes) and all(m is not None and _names_an_upstream(m["host"], names, tables) for m in matched)


# A location whose proxy_pass has a path after the host (what proxy_pass_normalized reports).
_PATH_PROXY = re.compile(r"location (?:\^~ |= )?(?P<loc>\S+) \{[^{}]*?proxy_pass [a-z]+://[^/;$\s]+/[^;]*;")


def _aggregate_part_location(finding: Finding, bundle: Path) -> bool:
    locations = [m["loc"] for m in _PATH_PROXY.finditer(finding.get("config", ""))]
    return bool(locations) and all(loc.startswith("/_apigen/part/") for loc in locations)


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
    Silenced(
        plugin="proxy_pass_normalized",
        reason=(
            "aggregate part locations (/_apigen/part/...) proxy to `http://upstream/` on purpose: the "
            "URI is an njs subrequest's, built from path parameters the route regex already limited "
            "to one segment ([^/]+ on the decoded URI), so nginx's re-encoding cannot change the path"
        ),
        applies=_aggregate_part_location,
    ),
)


def unexplained(findings: list[Finding], bundle: Path) -> list[Finding]:
    """Findings no SILENCED entry explains."""
    return [f for f in findings if not any(s.plugin == f.get("plugin") and s.applies(f, bundle) for s in SILENCED)]
