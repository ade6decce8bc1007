"""A build that fails at any stage, or is interrupted while writing, leaves the previous output
exactly as it was (contents, modes, no extra files), and leaves no temporary directory behind
unless the process itself was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigen import bundle as bundle_module
from apigen import cli
from apigen.bundle import Bundle, write_atomic
from apigen.diagnostics import CompileError, Diagnostics
from apigen.pipeline import compile_policy

REPO = Path(__file__).resolve().parents[2]
PETSTORE = REPO / "examples" / "petstore" / "policy.yaml"


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, dict]:
    """An output directory holding a previous bundle (with a secret-mode file)."""
    out = tmp_path / "out" / "bundle"
    (out / "secrets").mkdir(parents=True)
    (out / "nginx.conf").write_text("# previous\n")
    (out / "secrets" / "k.pem").write_text("old key\n")
    (out / "secrets" / "k.pem").chmod(0o600)
    return out, tree(out)


def _unchanged(out: Path, before: dict) -> None:
    assert tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name], "temporary directories left behind"


def _new_bundle() -> Bundle:
    result = compile_policy(PETSTORE)
    assert result.bundle is not None and len(result.bundle.files) > 3
    return result.bundle


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_writer_failing_midway(previous, monkeypatch, exc) -> None:
    out, before = previous
    real_open = open
    calls = {"n": 0}

    def failing_open(path, mode="r", *a, **kw):  # the third file written fails
        if "w" in mode:
            calls["n"] += 1
            if calls["n"] == 3:
                raise exc
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(type(exc)):
        write_atomic(_new_bundle(), out)
    assert calls["n"] == 3, "the writer did not get as far as the injected failure"
    _unchanged(out, before)


@pytest.mark.parametrize("which", [1, 2])
def test_rename_failing(previous, monkeypatch, which: int) -> None:
    """1: moving the previous bundle aside fails; 2: moving the new one in fails (then the
    previous one must be moved back)."""
    out, before = previous
    real_rename = os.rename
    calls = {"n": 0}

    def failing_rename(src, dst):
        calls["n"] += 1
        if calls["n"] == which:
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(bundle_module.os, "rename", failing_rename)
    with pytest.raises(OSError):
        write_atomic(_new_bundle(), out)
    _unchanged(out, before)


def test_verify_failing(previous) -> None:
    out, before = previous

    def verify(tmp: Path) -> None:
        assert (tmp / "nginx.conf").is_file()  # the new bundle was fully written first
        diags = Diagnostics()
        diags.error("generated configuration does not parse")
        raise CompileError(diags)

    with pytest.raises(CompileError):
        write_atomic(_new_bundle(), out, verify=verify)
    _unchanged(out, before)


@pytest.mark.parametrize("stage", ["apigen.pipeline.render_plan", "apigen.pipeline.make_plan"])
def test_internal_error_in_a_stage_through_the_cli(previous, monkeypatch, stage: str) -> None:
    out, before = previous

    def boom(*a, **kw):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(stage, boom)
    result = CliRunner().invoke(cli.main, ["build", str(PETSTORE), "-o", str(out)])
    assert result.exit_code == 3, result.output
    _unchanged(out, before)


def test_success_replaces_everything(previous) -> None:
    out, before = previous
    write_atomic(_new_bundle(), out)
    after = tree(out)
    assert "secrets/k.pem" not in after and "nginx.conf" in after
    assert after["nginx.conf"] != before["nginx.conf"]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


_SLOW_WRITER = """
import sys, time
from pathlib import Path
from apigen.bundle import Bundle, write_atomic
from apigen.pipeline import compile_policy
real = Bundle.write_tree
def slow(self, root):
    first = dict(list(self.files.items())[:1])
    real(Bundle(first), root)
    print("WRITING", flush=True)
    time.sleep(60)
Bundle.write_tree = slow
write_atomic(compile_policy(Path(sys.argv[1])).bundle, Path(sys.argv[2]))
"""


def test_killed_while_writing(previous) -> None:
    """SIGKILL in the middle of writing: the previous bundle is still in place; only the sibling
    temporary directory (`.bundle.new-*`) remains, which the next build ignores."""
    out, before = previous
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(PETSTORE), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "WRITING"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert tree(out) == before
    stale = [p.name for p in out.parent.iterdir() if p.name != out.name]
    assert all(name.startswith(".bundle.new-") for name in stale), stale
    write_atomic(_new_bundle(), out)  # the next build still works
    assert "secrets/k.pem" not in tree(out)
