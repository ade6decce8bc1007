"""Golden bundles of the traffic examples (tests/golden/traffic-*): compared file by file with
``expected/`` (the header comment naming the inputs aside), parsed with crossplane against the
target's directive table, and `nginx -t` for OSS. Regenerate: ``APIGEN_REGEN=1 pytest <this file>``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.verify import check_directives_for_target, parse_bundle, run_nginx_t
from tests.support.nginx import nginx_available

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = ["traffic-oss", "traffic-plus"]


def _policy(case: str) -> Path:
    folder = GOLDEN / case
    meta = folder / "case.json"
    return (folder / json.loads(meta.read_text())["policy"]).resolve() if meta.is_file() else folder / "policy.yaml"


def _body(text: str) -> str:
    # The header names the inputs by path, which depends on the checkout: compare what follows.
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        i += 1
    return "".join(lines[i:])


@pytest.mark.parametrize("case", CASES)
def test_traffic_golden(case: str, tmp_path: Path) -> None:
    result = compile_policy(_policy(case))
    assert result.bundle is not None
    expected = GOLDEN / case / "expected"
    if os.environ.get("APIGEN_REGEN"):
        shutil.rmtree(expected, ignore_errors=True)
        write_atomic(result.bundle, expected)
    actual = dict(result.bundle)
    files = sorted(p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file())
    assert sorted(actual) == files
    for name in files:
        assert _body(actual[name]) == _body((expected / name).read_text()), f"{case}/{name} differs"
    parsed = parse_bundle(expected)
    assert parsed.ok, parsed.errors
    assert check_directives_for_target(parsed.payload, result.config.target) == []
    if not result.config.target.is_plus and nginx_available():
        res = run_nginx_t(expected)
        assert res.ok, res.output
