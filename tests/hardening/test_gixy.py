"""gixy-ng finds nothing in the generated gateway: every example, every golden case and a bundle
that uses the security-relevant core features (TLS, trusted proxies, a stripped base path, header
policies, an unknown-host default server). False positives: apigen/verify/gixy_explained.py, `EXPLAINED`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apigen.pipeline import compile_policy
from apigen.verify.gixy_explained import EXPLAINED
from tests.support.gixy import gixy_binary, run_gixy, unexplained
from tests.support.workspace import base_inputs, write_workspace

REPO = Path(__file__).resolve().parents[2]
CASES = sorted({*REPO.glob("examples/*/policy.yaml"), *REPO.glob("tests/golden/**/policy.yaml")})

# In CI .ci/run creates .venv-gixy: a missing gixy there is a failure, not a skip.
requires_gixy = pytest.mark.skipif(
    gixy_binary() is None and not os.environ.get("CI"), reason="gixy-ng not installed (APIGEN_GIXY or .venv-gixy)"
)


def _build(policy: Path, out: Path) -> Path:
    result = compile_policy(policy)
    assert result.bundle is not None
    result.bundle.write_tree(out)
    return out


def _rich_bundle(tmp: Path) -> Path:
    policy, spec = base_inputs()
    policy["gateway"]["trusted_proxies"] = ["10.0.0.0/8", "2001:db8::/32"]
    policy["apis"][0]["strip_base_path"] = True
    return _build(write_workspace(tmp / "rich", policy, spec), tmp / "rich-bundle")


@requires_gixy
@pytest.mark.parametrize("policy", CASES, ids=[str(p.parent.relative_to(REPO)) for p in CASES])
def test_no_finding_on_examples_and_golden_cases(policy: Path, tmp_path: Path) -> None:
    bundle = _build(policy, tmp_path / "bundle")
    assert unexplained(run_gixy(bundle), bundle) == []


@requires_gixy
def test_no_finding_on_a_bundle_using_every_core_feature(tmp_path: Path) -> None:
    bundle = _rich_bundle(tmp_path)
    assert "ssl_reject_handshake on;" in (bundle / "api_gateway.conf").read_text()
    assert unexplained(run_gixy(bundle), bundle) == []


@requires_gixy
def test_each_silenced_entry_is_still_needed(tmp_path: Path) -> None:
    """Without the allowlist gixy does report each silenced plugin on the feature bundle: an entry
    that no longer matches anything must be removed, not kept as a blind spot."""
    bundle = _rich_bundle(tmp_path)
    raw = {f["plugin"] for f in run_gixy(bundle)}
    for entry in EXPLAINED:
        assert entry.plugin in raw, f"{entry.plugin} is explained but gixy no longer reports it"


@requires_gixy
def test_silencing_covers_that_reason_only(tmp_path: Path) -> None:
    """A proxy_pass to a DNS name that is not an upstream group (a real missing resolver) is still
    reported, though it is the same gixy plugin. (gixy 0.2.59 does not flag a variable host such as
    `http://$http_x_backend...` at all, so that case cannot be shown here.)"""
    for target in ("http://backend.example.com$apigen_strip_main", "http://main.internal$apigen_strip_main"):
        bundle = _rich_bundle(tmp_path / target.split("//")[1][:8].strip("$"))
        conf = bundle / "api_conf.d" / "main.conf"
        text = conf.read_text()
        assert "proxy_pass http://main$apigen_strip_main;" in text
        conf.write_text(text.replace("proxy_pass http://main$apigen_strip_main;", f"proxy_pass {target};", 1))
        remaining = {f["plugin"] for f in unexplained(run_gixy(bundle), bundle)}
        assert "missing_resolver" in remaining, (target, remaining)
