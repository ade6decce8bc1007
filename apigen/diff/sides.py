"""The two sides of a diff as bundle directories: the current inputs compiled into a temporary
directory, an existing bundle directory, or the inputs at a git ref compiled likewise."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DiffInputError(Exception):
    """A side cannot be produced (not a git repository, unknown ref, inputs that do not compile)."""


@dataclass
class Side:
    label: str
    bundle_dir: Path
    plan: Any = None  # the Plan, when the side was compiled here


def compile_side(policy: Path, workdir: Path, label: str, display: str) -> Side:
    from apigen.diagnostics import CompileError
    from apigen.pipeline import compile_policy

    try:
        result = compile_policy(policy, display=display)
    except CompileError as exc:
        text = "\n".join(d.format() for d in exc.diagnostics.sorted() if d.severity.value == "error")
        raise DiffInputError(f"{label}: the inputs do not compile:\n{text}") from None
    assert result.bundle is not None
    out = workdir / label
    out.mkdir(parents=True)
    result.bundle.write_tree(out)
    return Side(label, out, result.plan)


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def checkout_ref(policy: Path, ref: str, workdir: Path) -> Path:
    """Extract the repository holding ``policy`` at ``ref`` (``git archive``) into ``workdir`` and
    return the policy file's path in it."""
    policy = policy.resolve()
    top = _git(["rev-parse", "--show-toplevel"], policy.parent)
    if top.returncode != 0:
        raise DiffInputError(f"{policy.parent} is not inside a git repository (needed for --against-ref)")
    root = Path(top.stdout.decode().strip()).resolve()
    commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if commit.returncode != 0:
        raise DiffInputError(f"unknown git ref {ref!r} in {root}")
    archive = _git(["archive", "--format=tar", commit.stdout.decode().strip()], root)
    if archive.returncode != 0:
        raise DiffInputError(f"git archive {ref} failed: {archive.stderr.decode(errors='replace').strip()}")
    dest = workdir / "ref"
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without extraction filters; git's own archive
            tar.extractall(dest)
    rel = policy.relative_to(root)
    if not (dest / rel).is_file():
        raise DiffInputError(f"{rel} does not exist at {ref}")
    return dest / rel


def temp_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="apigen-diff-")
