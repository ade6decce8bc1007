"""Shared helpers of the workflow-command tests: run the CLI as a subprocess from the repo root,
copy the petstore example to a temporary directory to edit it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.corpus import corpus_dir

REPO = Path(__file__).resolve().parents[2]
PETSTORE = REPO / "examples" / "petstore"
# The vendored corpus (tests/corpus), else shared/ beside the repository.
CORPUS = corpus_dir() or REPO / "tests" / "corpus"
BOX = CORPUS / "box-openapi.json"


def run(*args: str | Path, cache: Path | None = None, env: dict[str, str] | None = None,
        cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    if cache is not None:
        environ["APIGEN_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "apigen", *map(str, args)], cwd=cwd, capture_output=True, text=True,
        env=environ, timeout=300, check=False,
    )


def run_json(*args: str | Path, **kw: Any) -> tuple[int, Any]:
    proc = run(*args, **kw)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def petstore_copy(dest: Path) -> Path:
    """A private copy of the petstore example; returns its policy file."""
    shutil.copytree(PETSTORE, dest / "petstore")
    return dest / "petstore" / "policy.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def box_policy(tmp_path: Path) -> Path:
    """A minimal policy serving the Box API of the corpus (296 operations)."""
    policy = tmp_path / "box.yaml"
    policy.write_text(
        "upstreams:\n  box:\n    servers:\n      - {address: 127.0.0.1:9001}\n"
        f"apis:\n  - name: box\n    spec: {BOX}\n    upstream: box\n"
    )
    return policy
