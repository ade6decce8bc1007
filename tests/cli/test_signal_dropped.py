"""A signal whose SystemExit Python drops (raised inside a weakref callback, where exceptions
are only reported) still stops the build: exit 128+N, no traceback, the output untouched. CI
saw a SIGTERM half a second into a build land in importlib's module-lock callback, and the
build then wrote its bundle and exited 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from apigen import interrupt
from apigen.bundle import GENERATED_MARK, Bundle, write_atomic

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, signal, sys, weakref
from pathlib import Path
from apigen import cli
from apigen.bundle import GENERATED_MARK, Bundle, write_atomic

cli._install_signal_handlers()

class Thing:
    pass

def callback(_ref):
    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside this callback
    sum(range(10_000))

thing = Thing()
ref = weakref.ref(thing, callback)
del thing  # the callback runs; the handler's SystemExit is dropped there
print("went on", flush=True)
bundle = Bundle()
bundle.add("nginx.conf", GENERATED_MARK + "new\\n")
write_atomic(bundle, Path(sys.argv[1]))
print("wrote", flush=True)
"""


def test_a_dropped_signal_exit_keeps_the_output_and_exits_128_plus_n(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "nginx.conf").write_text(GENERATED_MARK + "old\n")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout == "went on\n", proc.stderr  # the SystemExit was dropped: this is the case
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr.strip().splitlines() == ["apigen: interrupted (SIGTERM)"]  # no "Exception ignored", no traceback
    assert (out / "nginx.conf").read_text() == GENERATED_MARK + "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary directory left


def test_write_atomic_checks_a_recorded_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupt, "pending", 130)
    bundle = Bundle()
    bundle.add("nginx.conf", GENERATED_MARK + "x\n")
    with pytest.raises(SystemExit) as exc:
        write_atomic(bundle, tmp_path / "out")
    assert exc.value.code == 130
    assert list(tmp_path.iterdir()) == []
