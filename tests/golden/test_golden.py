"""Golden bundles: the compiler's output for each case, byte for byte. After an intended change,
run ``python -m tests.golden.regen`` and review ``git diff tests/golden``."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import yaml

from apigen.pipeline import compile_policy
from apigen.targets import Target
from apigen.verify import check_directives_for_target, parse_bundle, run_nginx_t
from tests.golden.cases import GOLDEN_DIR, build, case_names, expected_dir, policy_path, read_tree
from tests.support.nginx import nginx_binary, requires_nginx

CASES = case_names()


def _target(case: str) -> Target:
    # Read from the policy itself (not compiled): a case that no longer compiles must fail its
    # own tests, not the collection of this module.
    target = (yaml.safe_load(policy_path(case).read_text()) or {}).get("target") or {}
    return Target.parse(target.get("flavor", "oss"), str(target.get("version", "1.22")))


OSS_CASES = [c for c in CASES if not _target(c).is_plus]


def test_every_required_case_exists() -> None:
    assert {"petstore", "swagger2", "openapi31", "multi-api", "plus-target"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_bundle_matches_expected(case: str) -> None:
    actual = dict(build(case))
    expected = read_tree(expected_dir(case))
    problems = []
    for name in sorted(set(actual) | set(expected)):
        if name not in expected:
            problems.append(f"new file {name} (not in expected/)")
        elif name not in actual:
            problems.append(f"missing file {name} (in expected/, no longer generated)")
        elif actual[name] != expected[name]:
            diff = difflib.unified_diff(
                expected[name].splitlines(keepends=True),
                actual[name].splitlines(keepends=True),
                f"expected/{name}",
                f"actual/{name}",
            )
            problems.append("".join(diff))
    if problems:
        pytest.fail(
            f"golden case {case} differs; if intended, run `python -m tests.golden.regen {case}`:\n"
            + "\n".join(problems),
            pytrace=False,
        )


@pytest.mark.parametrize("case", CASES)
def test_expected_bundle_parses_and_suits_its_target(case: str) -> None:
    parsed = parse_bundle(expected_dir(case))
    assert parsed.ok, [str(e) for e in parsed.errors]
    assert check_directives_for_target(parsed.payload, _target(case)) == []


@requires_nginx
@pytest.mark.parametrize("case", OSS_CASES)
def test_expected_oss_bundle_passes_nginx_t(case: str) -> None:
    result = run_nginx_t(expected_dir(case), nginx=nginx_binary() or "nginx")
    assert result.ok, result.output


def test_plus_case_is_checked_against_plus() -> None:
    assert "plus-target" not in OSS_CASES
    assert "slow_start=30s" in read_tree(expected_dir("plus-target"))["api_backends.conf"]


def test_output_does_not_depend_on_the_checkout_location(tmp_path: Path) -> None:
    """Copies of a case at another place (and depth) give byte-identical bundles."""
    for case in ("multi-api", "swagger2"):
        copy = tmp_path / "some" / "where" / "else" / case
        shutil.copytree(GOLDEN_DIR / case, copy, ignore=shutil.ignore_patterns("expected"))
        bundle = compile_policy(copy / "policy.yaml").bundle
        assert bundle is not None
        assert dict(bundle) == read_tree(expected_dir(case))
