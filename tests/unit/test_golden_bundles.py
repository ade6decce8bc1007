"""Golden bundles: every ``tests/golden/<case>/policy.yaml`` compiles to exactly the files in
``tests/golden/<case>/expected/``, which parse with crossplane and pass ``nginx -t``.

Regenerate after an intended output change, then review the diff like code:

    APIGEN_REGEN_GOLDEN=1 python -m pytest tests/unit/test_golden_bundles.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.verify import check_directives_for_target, parse_bundle, run_nginx_t
from tests.support.nginx import requires_nginx

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/policy.yaml"))
# NGINX Plus bundles are checked by parsing only (no Plus binary here).
OSS_CASES = [c for c in CASES if "flavor: plus" not in (GOLDEN / c / "policy.yaml").read_text()]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES)
def test_golden_bundle(case: str, tmp_path: Path) -> None:
    case_dir = GOLDEN / case
    compiled = compile_policy(case_dir / "policy.yaml", display="policy.yaml")
    assert compiled.bundle is not None
    out = tmp_path / "bundle"
    write_atomic(compiled.bundle, out)
    expected_dir = case_dir / "expected"
    if os.environ.get("APIGEN_REGEN_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(out, expected_dir)
    assert _files(out) == _files(expected_dir), f"bundle differs from {expected_dir}; regenerate and review"
    parsed = parse_bundle(out)
    assert parsed.ok, parsed.errors
    assert not check_directives_for_target(parsed.payload, compiled.config.target)


@requires_nginx
@pytest.mark.parametrize("case", OSS_CASES)
def test_golden_bundle_passes_nginx_t(case: str) -> None:
    result = run_nginx_t(GOLDEN / case / "expected")
    assert result.ok, result.output
