"""Same inputs, same bytes: every example and golden case built twice with different
PYTHONHASHSEEDs gives byte-identical bundles (contents and file modes), and so does a policy file
whose mappings were written in another order (apart from the header line that records that file's
own sha256, which changes because the file's bytes changed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

REPO = Path(__file__).resolve().parents[2]
CASES = sorted({*REPO.glob("examples/*/policy.yaml"), *REPO.glob("tests/golden/**/policy.yaml")})


def build(policy: Path, out: Path, seed: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}
    proc = subprocess.run(
        [sys.executable, "-m", "apigen", "build", policy.name, "-o", str(out), "-q"],
        cwd=policy.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def reverse_mappings(node: Any) -> Any:
    """Every mapping's keys in reverse order; sequences keep theirs (list order can mean something)."""
    if isinstance(node, dict):
        out = CommentedMap()
        for key in reversed(list(node.keys())):
            out[key] = reverse_mappings(node[key])
        return out
    if isinstance(node, list):
        return [reverse_mappings(v) for v in node]
    return node


def _digest_line_of(policy_name: str) -> re.Pattern[bytes]:
    return re.compile(rb"^#   " + re.escape(policy_name.encode()) + rb" sha256:[0-9a-f]{64}$", re.M)


@pytest.mark.parametrize("policy", CASES, ids=[str(p.parent.relative_to(REPO)) for p in CASES])
def test_builds_are_byte_identical(policy: Path, tmp_path: Path) -> None:
    # Copy what the case can reach with relative paths (`../petstore/openapi.yaml`, say).
    root = tmp_path / "repo"
    for part in ("examples", "tests/golden"):
        shutil.copytree(REPO / part, root / part)
    src = root / policy.parent.relative_to(REPO)
    build(src / policy.name, tmp_path / "a", "0")
    build(src / policy.name, tmp_path / "b", "4242")
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b

    yaml = YAML()
    data = yaml.load((src / policy.name).read_text())
    reordered = src / policy.name
    with open(reordered, "w") as fh:
        yaml.dump(reverse_mappings(data), fh)
    assert reordered.read_text() != policy.read_text()
    build(reordered, tmp_path / "c", "977")
    c = tree(tmp_path / "c")
    assert set(a) == set(c)
    digest = _digest_line_of(policy.name)
    for name in a:
        assert digest.sub(b"", a[name][0]) == digest.sub(b"", c[name][0]), name
        assert a[name][1] == c[name][1], name


def test_there_is_something_to_compare() -> None:
    assert CASES, "no examples or golden cases found"
