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


def test_user_values_are_not_relocated_and_a_moved_include_dir_is_a_change(tmp_path: Path) -> None:
    """The relocation rewrote any quoted value starting with include_dir (a header "apigen/v1"),
    and a changed include_dir read "no change" (found by a review)."""
    policy = petstore_copy(tmp_path)
    edit(policy, "  server_name: api.example.com\n", "  server_name: api.example.com\n  include_dir: apigen\n")
    edit(policy, "      hide: [Server, X-Powered-By]\n", "      hide: [Server, X-Powered-By]\n      set: {X-Served-By: apigen/v1}\n")
    out = tmp_path / "bundle"
    assert run("build", policy, "-o", out).returncode == 0
    edit(policy, "X-Served-By: apigen/v1", "X-Served-By: v1")
    code, doc = run_json("diff", policy, "--against", out, "--format", "json")
    assert code == 1 and any("apigen/v1" in c["old"] and c["new"].endswith("v1") for c in doc["semantic"]), doc["semantic"]
    edit(policy, "X-Served-By: v1", "X-Served-By: apigen/v1")
    edit(policy, "  include_dir: apigen\n", "  include_dir: /srv/gateway\n")
    code, doc = run_json("diff", policy, "--against", out, "--format", "json")
    assert code == 1 and doc["summary"]["include_dir"] == ["apigen", "/srv/gateway"] and doc["semantic"] == []
    assert "~ include_dir apigen -> /srv/gateway" in run("diff", policy, "--against", out).stdout


def test_a_fifo_in_the_deployed_logs_is_not_copied(tmp_path: Path) -> None:
    """The checks copied the deployed bundle whole, logs/ included: a FIFO there was an internal
    error (a review)."""
    import os

    policy = petstore_copy(tmp_path)
    edit(policy, "  server_name: api.example.com\n", "  server_name: api.example.com\n  include_dir: gw\n")
    out = tmp_path / "bundle"
    assert run("build", policy, "-o", out).returncode == 0
    (out / "logs").mkdir(exist_ok=True)
    os.mkfifo(out / "logs" / "access.log")
    code, doc = run_json("diff", policy, "--against", out, "--format", "json")
    assert code == 0 and doc["semantic"] == []
