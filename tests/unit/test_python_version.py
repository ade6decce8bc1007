"""apigen supports Python 3.10 and later (pyproject.toml), while CI and this machine run 3.11 only:
a 3.11 module or name (`tomllib`, `typing.Self`, `datetime.UTC`, `ExceptionGroup`, ...) would pass
every other test here and fail for a 3.10 user. vermin reads the code and names the Python each
construct needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _vermin(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())", "--no-tips", "-t=3.10-", "--violations", "--eval-annotations", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def vermin_installed() -> None:
    pytest.importorskip("vermin", reason="vermin is in the test extra: pip install -e '.[test]'")


def test_the_code_runs_on_python_3_10(vermin_installed: None) -> None:
    run = _vermin(ROOT / "apigen", ROOT / "tests", ROOT / "benchmarks", ROOT / "scripts")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_check_finds_a_3_11_construct(tmp_path: Path, vermin_installed: None) -> None:
    (tmp_path / "new.py").write_text("import tomllib\nfrom typing import Self\n")
    run = _vermin(tmp_path)
    assert run.returncode != 0 and "tomllib" in run.stdout and "typing.Self" in run.stdout, run.stdout
