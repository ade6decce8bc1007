"""The validator process started with the command (apigen.validate.prewarm): its answers, its
fallbacks, and that a build gives the same result with and without it. Each case runs in a
fresh interpreter: the process is only started where openapi-spec-validator is not imported yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the validator process is Linux-only (fork)")

VALID = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}
INVALID = {"openapi": "3.0.3", "info": {"title": "t"}, "paths": {"/a": {"get": {"responses": {"200": {}}}}}}


def _run(script: str, env: dict[str, str] | None = None) -> list[str]:
    code = textwrap.dedent(
        """
        import json, os, sys
        from apigen.validate import prewarm
        VALID, INVALID = json.loads(sys.argv[1]), json.loads(sys.argv[2])
        """
    ) + textwrap.dedent(script)
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(VALID), json.dumps(INVALID)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=True,
    )
    assert out.stderr == ""
    return out.stdout.split()


def test_answers_valid_and_invalid_documents_then_is_reaped() -> None:
    out = _run(
        """
        prewarm.start()
        pid = prewarm._child[0]
        print(prewarm.ask("3.0", VALID, "file:///t.json"), prewarm.ask("3.0", INVALID, "file:///t.json"))
        # the parent never imported the validator: the child did
        print("openapi_spec_validator" in sys.modules)
        prewarm.stop()
        try:
            os.kill(pid, 0)
            print("alive")
        except ProcessLookupError:
            print("gone")
        print(prewarm.ask("3.0", VALID, "file:///t.json"))
        """
    )
    assert out == ["True", "False", "False", "gone", "None"]


def test_no_process_without_linux_fork_or_when_turned_off() -> None:
    assert _run("prewarm.start(); print(prewarm._child)", env={"APIGEN_PREWARM": "0"}) == ["None"]
    assert _run("import openapi_spec_validator; prewarm.start(); print(prewarm._child)") == ["None"]


def test_a_dead_process_or_an_unpicklable_document_falls_back_to_none() -> None:
    out = _run(
        """
        import signal
        prewarm.start()
        print(prewarm.ask("3.0", {"openapi": "3.0.3", "x": lambda: 1}, "file:///t.json"), prewarm._child)
        prewarm.start()
        os.kill(prewarm._child[0], signal.SIGKILL)
        print(prewarm.ask("3.0", VALID, "file:///t.json"), prewarm._child)
        """
    )
    assert out == ["None", "None", "None", "None"]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; reaping it is its new parent's business


def test_the_process_ends_when_the_command_is_killed() -> None:
    """Killed while the child checks a large document (seconds of work): the child goes at once,
    not when it next touches the pipe."""
    code = textwrap.dedent(
        """
        import os, signal, sys, threading, time
        sys.path.insert(0, sys.argv[1])
        from gen_spec import generate
        from apigen.validate import prewarm
        document = generate(3000)
        prewarm.start()
        print(prewarm._child[0], flush=True)
        def kill():
            time.sleep(1.0)  # the child has the document and is checking it
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind runs
        threading.Thread(target=kill).start()
        prewarm.ask("3.0", document, "file:///big.json")
        """
    )
    benchmarks = str(Path(__file__).resolve().parents[2] / "benchmarks")
    out = subprocess.run([sys.executable, "-c", code, benchmarks], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr
    child = int(out.stdout)
    deadline = time.monotonic() + 1.0
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _running(child)


def _build(tmp_path: Path, spec: dict, prewarm: str, name: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "policy.yaml").write_text(
        "gateway: {listen: '127.0.0.1:8080'}\n"
        "upstreams: {be: {servers: [{address: '127.0.0.1:9000'}]}}\n"
        "apis: [{name: t, spec: spec.json, upstream: be}]\n"
    )
    env = {**os.environ, "APIGEN_PREWARM": prewarm, "APIGEN_CACHE_DIR": str(tmp_path / f"cache-{name}")}
    return subprocess.run(
        [sys.executable, "-m", "apigen", "build", "policy.yaml", "-o", name, "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_build_is_the_same_with_and_without_the_process(tmp_path: Path) -> None:
    on, off = _build(tmp_path, VALID, "1", "on"), _build(tmp_path, VALID, "0", "off")
    assert on.returncode == off.returncode == 0, on.stderr + off.stderr
    files = sorted(p.relative_to(tmp_path / "on") for p in (tmp_path / "on").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "off") for p in (tmp_path / "off").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "on" / f).read_bytes() == (tmp_path / "off" / f).read_bytes(), f


def test_invalid_document_is_reported_the_same_with_and_without_the_process(tmp_path: Path) -> None:
    on, off = _build(tmp_path, INVALID, "1", "on"), _build(tmp_path, INVALID, "0", "off")
    assert on.returncode == off.returncode == 1
    assert "spec.json:1:" in on.stderr and on.stderr == off.stderr
    assert "Traceback" not in on.stderr
    assert not (tmp_path / "on").exists()
