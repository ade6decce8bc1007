"""`apigen check`: nginx -t mapped back to bundle files and policy lines, gixy-ng from its own
environment, clear errors for missing tools."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from apigen.verify.gixy import GixyNotFoundError, find_gixy
from tests.support.nginx import requires_nginx
from tests.workflow.helpers import REPO, petstore_copy, run, run_json


def _gixy() -> str | None:
    try:
        return find_gixy()
    except GixyNotFoundError:
        return None


@requires_nginx
def test_petstore_passes_nginx_t(tmp_path: Path) -> None:
    code, doc = run_json("check", "examples/petstore/policy.yaml", "--no-gixy", "--format", "json")
    assert code == 0
    assert doc["nginx"]["status"] == "ok" and doc["nginx"]["messages"] == []
    assert doc["gixy"]["status"] == "skipped"


@requires_nginx
def test_nginx_error_is_mapped_to_bundle_file_and_policy_line(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    bundle = tmp_path / "bundle"
    assert run("build", policy, "-o", bundle).returncode == 0
    conf = bundle / "api_conf.d" / "pets.conf"
    text = conf.read_text()
    start = text.index('location "@apigen_op/pets/listPets"')
    at = text.index("proxy_read_timeout 30s;", start)
    conf.write_text(text[:at] + "proxy_read_timeout 30parsecs;" + text[at + len("proxy_read_timeout 30s;"):])
    line = text[:at].count("\n") + 1
    code, doc = run_json("check", policy, "--bundle", bundle, "--no-gixy", "--format", "json")
    assert code == 1 and doc["nginx"]["status"] == "failed"
    [msg] = [m for m in doc["nginx"]["messages"] if m["level"] == "emerg"]
    assert msg["file"] == "api_conf.d/pets.conf" and msg["line"] == line
    assert "invalid value" in msg["text"] or "30parsecs" in msg["text"]
    # The operation's location comes from the API entry of the policy (`- name: pets`, line 29).
    assert msg["policy"] == {"file": str(policy), "line": 29, "column": 11}
    text_out = run("check", policy, "--bundle", bundle, "--no-gixy")
    assert text_out.returncode == 1
    assert f"api_conf.d/pets.conf:{line}: [emerg]" in text_out.stdout
    assert f"from {policy}:29:11" in text_out.stdout


def test_docker_without_engine_is_a_clear_error() -> None:
    if shutil.which("docker"):
        import subprocess

        if subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0:
            pytest.skip("a Docker engine is reachable here")
    code, doc = run_json("check", "examples/petstore/policy.yaml", "--docker", "nginx:1.27", "--no-gixy",
                         "--format", "json")
    assert code == 2
    assert doc["nginx"]["status"] == "unavailable"
    assert re.search(r"docker", doc["nginx"]["reason"], re.I)


def test_missing_gixy_says_how_to_install(tmp_path: Path) -> None:
    proc = run("check", "examples/petstore/policy.yaml", "--gixy", tmp_path / "no-gixy", "--nginx",
               tmp_path / "no-nginx")
    assert proc.returncode == 2
    assert "pipx install gixy-ng" in proc.stderr
    assert "nginx -t: unavailable" in proc.stderr


@pytest.mark.skipif(_gixy() is None, reason="gixy-ng not installed (set APIGEN_GIXY to its venv)")
@requires_nginx
@pytest.mark.parametrize("example", ["petstore", "secured", "traffic"])
def test_bundled_examples_have_no_gixy_findings(example: str) -> None:
    code, doc = run_json("check", f"examples/{example}/policy.yaml", "--format", "json")
    assert doc["gixy"]["status"] == "ok", doc["gixy"]
    assert doc["gixy"]["findings"] == []
    assert code == 0
    if example == "traffic":
        # The split's proxy_pass to a variable naming upstream groups: gixy's missing_resolver,
        # explained (it failed `apigen check` on this example; found by a hunt).
        assert [(f["plugin"], f["file"]) for f in doc["gixy"]["explained"]] == [("missing_resolver", "api_conf.d/pets.conf")]


@pytest.mark.skipif(_gixy() is None, reason="gixy-ng not installed (set APIGEN_GIXY to its venv)")
def test_a_proxy_pass_to_a_host_name_is_not_explained(tmp_path: Path) -> None:
    """The explanation covers upstream groups only: the same plugin on a real host name fails."""
    policy = REPO / "examples" / "traffic" / "policy.yaml"
    bundle = tmp_path / "bundle"
    assert run("build", policy, "-o", bundle).returncode == 0
    conf = bundle / "api_conf.d" / "pets.conf"
    text = conf.read_text()
    assert "proxy_pass http://$apigen_split_canary;" in text
    conf.write_text(text.replace("http://$apigen_split_canary;", "http://api.example.net;", 1))
    _, doc = run_json("check", policy, "--bundle", bundle, "--format", "json", "--nginx", os.devnull + "x")
    assert doc["gixy"]["status"] == "findings"
    assert [f["plugin"] for f in doc["gixy"]["findings"]] == ["missing_resolver"]


@pytest.mark.skipif(_gixy() is None, reason="gixy-ng not installed (set APIGEN_GIXY to its venv)")
def test_gixy_findings_are_reported(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    bundle = tmp_path / "bundle"
    assert run("build", policy, "-o", bundle).returncode == 0
    main = bundle / "nginx.conf"
    main.write_text(re.sub(r"worker_rlimit_nofile \d+;\n", "", main.read_text()))
    code, doc = run_json("check", policy, "--bundle", bundle, "--format", "json", "--nginx", os.devnull + "x")
    assert doc["gixy"]["status"] == "findings"
    assert [f["plugin"] for f in doc["gixy"]["findings"]] == ["worker_rlimit_nofile_vs_connections"]
    assert doc["gixy"]["findings"][0]["file"] == "nginx.conf"
    assert code == 2  # nginx was not found: a missing tool wins over findings


def test_plus_target_is_checked_by_parsing_only(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    text = policy.read_text().replace('target: {flavor: oss, version: "1.22"}', 'target: {flavor: plus, version: "R33"}')
    policy.write_text(text)
    code, doc = run_json("check", policy, "--no-gixy", "--format", "json")
    assert code == 0
    assert doc["target"] == "NGINX Plus 1.27.2"
    assert doc["nginx"]["status"] == "skipped" and "parsing" in doc["nginx"]["reason"]


@requires_nginx
@pytest.mark.parametrize("exit_code", [0, 1])
def test_a_gixy_that_dies_is_never_a_pass(tmp_path: Path, exit_code: int) -> None:
    """gixy that prints no JSON (a crash: traceback on stderr, nothing on stdout) must not read
    as "no findings": status error, exit 2, whatever gixy's own exit code."""
    fake = tmp_path / "gixy"
    fake.write_text(f"#!/bin/sh\necho 'Traceback (most recent call last): boom' >&2\nexit {exit_code}\n")
    fake.chmod(0o755)
    code, doc = run_json("check", "examples/petstore/policy.yaml", "--gixy", fake, "--format", "json")
    assert doc["nginx"]["status"] == "ok"
    assert doc["gixy"]["status"] == "error" and "boom" in doc["gixy"]["reason"], doc["gixy"]
    assert code == 2
