"""Run gixy-ng (nginx security analyser) on a bundle, from its own environment.

gixy-ng depends on `ngxparse`, a crossplane fork that installs into the same `crossplane/` package
folder, so it lives in a separate venv: `$APIGEN_GIXY` (path of the `gixy` executable), else
`<repo>/.venv-gixy/bin/gixy` (created by .ci/run, or by hand:
`python3 -m venv .venv-gixy && .venv-gixy/bin/pip install gixy-ng==0.2.59`).

False positives are explained in one place, apigen/verify/gixy_explained.py (`EXPLAINED`, which
`apigen check` uses too), each with its reason and a predicate that recognises exactly that case;
tests/hardening/test_gixy.py shows each entry is still needed and does not hide the real problem
of the same plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from apigen.verify.gixy_explained import explanation

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


def unexplained(findings: list[Finding], bundle: Path) -> list[Finding]:
    """Findings apigen does not explain as raised by design (apigen/verify/gixy_explained.py)."""
    return [f for f in findings if explanation(str(f.get("plugin", "")), str(f.get("config", "")), bundle) is None]
