"""Run the nginx security analyser gixy-ng as a subprocess, from its own environment.

gixy-ng depends on a fork of crossplane that installs into the same ``crossplane/`` package as
the real one, so it must never share apigen's environment. Install it apart, then point apigen at
it (first match wins):

1. ``apigen check --gixy PATH`` (the ``gixy`` executable, or a virtualenv directory);
2. ``APIGEN_GIXY`` (same forms);
3. ``gixy`` on ``PATH`` (``pipx install gixy-ng`` puts it there).

    pipx install gixy-ng
    # or
    python3 -m venv ~/.local/share/apigen/gixy && ~/.local/share/apigen/gixy/bin/pip install gixy-ng
    export APIGEN_GIXY=~/.local/share/apigen/gixy
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

# nginx_cves matches CVEs by version string and flags what distributions have patched.
DEFAULT_SKIPS = ("nginx_cves",)
INSTALL_HINT = (
    "install gixy-ng in an environment of its own (`pipx install gixy-ng`, or "
    "`python3 -m venv DIR && DIR/bin/pip install gixy-ng` and set APIGEN_GIXY=DIR)"
)


class GixyNotFoundError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class GixyFinding:
    plugin: str
    severity: str
    summary: str
    reason: str
    file: str | None  # bundle-relative
    line: int | None
    reference: str = ""
    explained: str = ""  # why apigen's output raises it by design (gixy_explained.py); "" a real finding

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        return f"{where}{self.severity.lower()}: {self.summary} ({self.reason}) [gixy:{self.plugin}]"


def _executable(candidate: str) -> str | None:
    path = Path(candidate).expanduser()
    if path.is_dir():
        path = path / "bin" / "gixy"
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    return shutil.which(candidate)


def find_gixy(explicit: str | None = None) -> str:
    for candidate in (explicit, os.environ.get("APIGEN_GIXY"), "gixy"):
        if not candidate:
            continue
        found = _executable(candidate)
        if found:
            return found
        if candidate is explicit or candidate == os.environ.get("APIGEN_GIXY"):
            raise GixyNotFoundError(f"gixy not found at {candidate!r}; {INSTALL_HINT}")
    raise GixyNotFoundError(f"gixy-ng is not installed; {INSTALL_HINT}")


def run_gixy(bundle_dir: Path, gixy: str, main: str = "nginx.conf", timeout: float = 120) -> list[GixyFinding]:
    """Findings for the bundle; raises RuntimeError when gixy itself fails."""
    from apigen.verify.localize import checkable

    with checkable(Path(bundle_dir).resolve(), main) as bundle:  # include_dir paths made relative
        return _run_gixy(bundle, gixy, main, timeout)


def _run_gixy(bundle: Path, gixy: str, main: str, timeout: float) -> list[GixyFinding]:
    cmd = [gixy, "-f", "json", "--skips", ",".join(DEFAULT_SKIPS), str(bundle / main)]
    # gixy resolves relative includes against the working directory's prefix: run it in the bundle.
    try:
        proc = subprocess.run(cmd, cwd=bundle, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"gixy did not finish within {timeout:g} s") from None
    try:
        # A clean run prints `[]`: no output at all is a gixy that died (a traceback on stderr),
        # never "no findings".
        raw = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(f"gixy failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[:2000]}") from None
    if not isinstance(raw, list):
        raise RuntimeError(f"gixy printed unexpected JSON: {str(raw)[:200]}")
    from apigen.verify.gixy_explained import explanation

    findings = []
    for item in raw:
        file = item.get("file") or item.get("path")
        if file:
            try:
                file = Path(file).resolve().relative_to(bundle).as_posix()
            except ValueError:
                pass
        findings.append(
            GixyFinding(
                plugin=str(item.get("plugin", "")),
                severity=str(item.get("severity", "")),
                summary=str(item.get("summary", "")),
                reason=str(item.get("reason", "")),
                file=file,
                line=item.get("line"),
                reference=str(item.get("reference", "")),
                explained=explanation(str(item.get("plugin", "")), str(item.get("config", "")), bundle) or "",
            )
        )
    return findings
