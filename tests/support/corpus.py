"""Where the corpus of real OpenAPI documents is: `tests/corpus/` (vendored, so a clean clone has
it), else `$APIGEN_CORPUS` or `../shared/corpus` beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path | None:
    env = os.environ.get("APIGEN_CORPUS")
    candidates = [REPO_ROOT / "tests" / "corpus"]
    candidates += [Path(env)] if env else []
    # CI: a clone with shared/ beside it; developers: a git worktree one level deeper.
    candidates += [REPO_ROOT.parent / "shared" / "corpus", REPO_ROOT.parent.parent / "shared" / "corpus"]
    for candidate in candidates:
        if (candidate / "box-openapi.json").is_file():
            return candidate
    return None


def corpus_file(name: str) -> Path:
    """A corpus file; skips outside CI when the corpus is absent, fails in CI (it must be there)."""
    root = corpus_dir()
    if root is None or not (root / name).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"corpus file {name} not found (looked beside {REPO_ROOT})")
        pytest.skip(f"corpus file {name} not found (set APIGEN_CORPUS)")
    return root / name
