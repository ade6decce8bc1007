"""Inputs found by a bug hunt that crashed (exit 3) or hung instead of a positioned error:
whole-number floats where the schema wants integers, a Plus release name on the oss target, a
spec path that is a symlink loop, and files that are not regular files (a FIFO blocked forever,
/dev/zero read until memory ran out). Each is exit 1 with file:line:col, quickly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = 'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n  /a:\n    get:\n      responses: {"200": {description: ok}}\n'


def _policy(spec: str = "spec.yaml", server: str = "{address: 127.0.0.1:9001}", head: str = "", use: str = "") -> str:
    return f"{head}upstreams:\n  u:\n    servers: [{server}]\n{use}apis:\n  - {{name: a, spec: {spec}, upstream: u}}\n"


CASES = {
    "float weight": (_policy(server="{address: 127.0.0.1:9001, weight: 2.0}"), "policy.yaml:3:", "expected integer, got float 2.0"),
    "float listen": (_policy(head="gateway: {listen: 8080.0}\n"), "policy.yaml:1:", "expected integer, got float 8080.0"),
    "plus release on oss": (_policy(head="target: {version: R33}\n"), "policy.yaml:1:", "is an NGINX Plus release"),
    "unknown plus release": (_policy(head="target: {flavor: plus, version: R99}\n"), "policy.yaml:1:", "unknown NGINX Plus release"),
    "symlink loop": (_policy(spec="loop1"), "policy.yaml:5:", "too many levels of symbolic links"),
    "null key": (_policy().replace("  u:\n", "  ~:\n"), "policy.yaml:2:", "a mapping key must be a name"),
    "spec /dev/zero": (_policy(spec="/dev/zero"), "policy.yaml:5:", "not a regular file"),
    "spec FIFO": (_policy(spec="fifo"), "policy.yaml:5:", "not a regular file"),
    "keys file /dev/zero": (
        _policy(use="policies:\n  k: {kind: api_key, keys_file: /dev/zero}\n").replace("upstream: u}", "upstream: u, use: [k]}"),
        "policy.yaml:5:",
        "not a regular file",
    ),
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs and /dev/zero")
@pytest.mark.parametrize("case", sorted(CASES))
def test_odd_input_is_a_positioned_error(tmp_path: Path, case: str) -> None:
    policy, where, message = CASES[case]
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "policy.yaml").write_text(policy)
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    os.mkfifo(tmp_path / "fifo")
    proc = subprocess.run(
        [sys.executable, "-m", "apigen", "validate", "policy.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "APIGEN_NO_CACHE": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    line = next((ln for ln in proc.stderr.splitlines() if message in ln), None)
    assert line is not None and line.startswith(where), proc.stderr


def test_library_warnings_stay_out_of_the_output(tmp_path: Path) -> None:
    """A spec pattern like "[[:alpha:]]" makes re warn (FutureWarning, "Possible nested set")
    inside openapi-schema-validator: the output holds diagnostics only."""
    (tmp_path / "spec.yaml").write_text(SPEC.replace(
        "    get:\n", '    get:\n      parameters:\n        - {name: q, in: query, schema: {type: string, pattern: "[[:alpha:]]"}}\n'
    ))
    (tmp_path / "policy.yaml").write_text(_policy())
    proc = subprocess.run(
        [sys.executable, "-m", "apigen", "validate", "policy.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "APIGEN_NO_CACHE": "1", "APIGEN_PREWARM": "0"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and proc.stderr.strip() == "policy.yaml: valid (1 APIs, 1 operations)"


def test_added_operations_are_checked_and_located_like_spec_paths(tmp_path: Path) -> None:
    """add_operations paths: a control character is refused even percent-encoded (as for spec
    paths), messages point into the policy file (they named the spec file with the policy's
    line), and the path is routed decoded like a spec path (`%20` is a space for nginx)."""
    from apigen.explain import resolve
    from apigen.pipeline import compile_policy

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "spec.yaml").write_text(SPEC)
    head = "upstreams:\n  u: {servers: [{address: 127.0.0.1:9001}]}\napis:\n  - name: a\n    spec: sub/spec.yaml\n    upstream: u\n    add_operations:\n"
    (tmp_path / "policy.yaml").write_text(head + '      nl: {method: GET, path: "/x%0a"}\n      rs: {method: GET, path: "/_apigen/x"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "apigen", "validate", "policy.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 1
    assert "policy.yaml:8:31: error: add_operations: path '/x%0a' has a control character" in proc.stderr, proc.stderr
    (tmp_path / "policy.yaml").write_text(head + '      rs: {method: GET, path: "/_apigen/x"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "apigen", "validate", "policy.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stderr.startswith("policy.yaml:8:") and "is reserved" in proc.stderr, proc.stderr
    (tmp_path / "policy.yaml").write_text(head + '      sp: {method: GET, path: "/a%20b"}\n')
    plan = compile_policy(tmp_path / "policy.yaml", render=False).plan
    assert resolve(plan, "GET", "/a%20b").operation.operation_id == "sp"


def test_added_operation_paths_get_the_spec_paths_checks(tmp_path: Path) -> None:
    """Found by a hunt: add_operations paths were checked for control characters only. Decoded,
    `/x%7By%7D` was the template /x{y} and answered any /x...; `/x%2Fy` was served as /x/y
    while /x%2Fy got the gateway's 400; unroutable ones were not warned."""
    from apigen.diagnostics import CompileError
    from apigen.pipeline import compile_policy

    (tmp_path / "spec.yaml").write_text(SPEC)
    head = "upstreams:\n  u: {servers: [{address: 127.0.0.1:9001}]}\napis:\n  - name: a\n    spec: spec.yaml\n    upstream: u\n    add_operations:\n"
    for path, message in (("/x%7By%7D", "has an encoded brace"), ("/x%2Fy", "has an encoded slash or backslash")):
        (tmp_path / "policy.yaml").write_text(head + f'      sp: {{method: GET, path: "{path}"}}\n')
        with pytest.raises(CompileError) as info:
            compile_policy(tmp_path / "policy.yaml", render=False, display="policy.yaml")
        (err,) = info.value.diagnostics.errors
        assert str(err.position) == "policy.yaml:8:31" and err.message.startswith(f"add_operations: path {path!r} {message}")
    (tmp_path / "policy.yaml").write_text(head + '      sp: {method: GET, path: "/x//y"}\n')
    (warning,) = compile_policy(tmp_path / "policy.yaml", render=False, display="policy.yaml").diagnostics.warnings
    assert warning.code == "unroutable-path" and str(warning.position) == "policy.yaml:8:31"
