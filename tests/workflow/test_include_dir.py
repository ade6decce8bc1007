"""Bundles built with `gateway.include_dir` (embedding in an existing nginx): their files name
each other by the deployed path. Every such build failed its own check, and `check` and `diff`
read whatever was deployed there (found by a hunt): they now check the bundle itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.nginx import nginx_available
from tests.workflow.helpers import edit, petstore_copy, run, run_json


@pytest.mark.parametrize("include_dir", ["/etc/nginx/apigen-not-deployed", "gw1"])
def test_a_bundle_for_another_place_builds_checks_and_diffs(tmp_path: Path, include_dir: str) -> None:
    policy = petstore_copy(tmp_path)
    edit(policy, "  server_name: api.example.com\n", f"  server_name: api.example.com\n  include_dir: {include_dir}\n")
    out = tmp_path / "bundle"
    build = run("build", policy, "-o", out)
    assert build.returncode == 0, build.stderr
    assert f'include "{include_dir}/api_gateway.conf";' in (out / "nginx.conf").read_text()
    if nginx_available():
        check = run("check", policy, "--bundle", out, "--no-gixy")
        assert check.returncode == 0, check.stdout + check.stderr
    code, doc = run_json("diff", policy, "--against", out, "--format", "json")
    assert code == 0 and doc["semantic"] == []
    edit(policy, "127.0.0.1:9001", "127.0.0.1:9005")
    code, doc = run_json("diff", policy, "--against", out, "--format", "json")
    assert code == 1 and {c["directive"] for c in doc["semantic"]} == {"server"}
    assert not Path(include_dir).is_absolute() or not Path(include_dir).exists()
    shutil.rmtree(out)
