"""The golden cases: each folder here holds a policy (``policy.yaml``, or ``case.json`` naming one
elsewhere, e.g. an example) and ``expected/``, the bundle the compiler must produce for it."""

from __future__ import annotations

import json
from pathlib import Path

from apigen.bundle import Bundle
from apigen.pipeline import compile_policy

GOLDEN_DIR = Path(__file__).resolve().parent


def case_names() -> list[str]:
    return sorted(
        p.name for p in GOLDEN_DIR.iterdir() if (p / "policy.yaml").is_file() or (p / "case.json").is_file()
    )


def policy_path(case: str) -> Path:
    folder = GOLDEN_DIR / case
    meta = folder / "case.json"
    if meta.is_file():
        return (folder / json.loads(meta.read_text())["policy"]).resolve()
    return folder / "policy.yaml"


def expected_dir(case: str) -> Path:
    return GOLDEN_DIR / case / "expected"


def build(case: str) -> Bundle:
    result = compile_policy(policy_path(case))
    assert result.bundle is not None
    return result.bundle


def read_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
