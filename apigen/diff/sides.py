"""The two sides of a diff as bundle directories: the current inputs compiled into a temporary
directory, an existing bundle directory, or the inputs at a git ref compiled likewise."""

from __future__ import annotations

import subprocess
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
    dest = workdir / "ref"
    dest.mkdir(parents=True)
    _write_tree(root, commit.stdout.decode().strip(), ref, dest)
    rel = policy.relative_to(root)
    if not (dest / rel).is_file():
        raise DiffInputError(f"{rel} does not exist at {ref}")
    return dest / rel


def _write_tree(root: Path, commit: str, ref: str, dest: Path) -> None:
    """The files of ``commit``, as committed. Not `git archive`: it applies `.gitattributes`
    (`export-ignore` files were missing, `export-subst` ones rewritten), and a symlink anywhere in
    the repository made the extraction fail (found by a hunt). Symlinks are kept when they stay
    inside the repository (an input may be one; a review); others, and submodules, are left out."""
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit], root)
    if listing.returncode != 0:
        raise DiffInputError(f"git ls-tree {ref} failed: {listing.stderr.decode(errors='replace').strip()}")
    blobs: list[tuple[str, str, bool]] = []  # (object, path, is a symlink)
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, sha = meta.decode().split(" ")
        if kind == "blob" and mode in ("100644", "100755", "120000"):
            blobs.append((sha, name.decode("utf-8", "surrogateescape"), mode == "120000"))
    batch = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=root, input="".join(f"{sha}\n" for sha, _, _ in blobs).encode(),
        capture_output=True, check=False,
    )
    if batch.returncode != 0:
        raise DiffInputError(f"git cat-file {ref} failed: {batch.stderr.decode(errors='replace').strip()}")
    out, pos, top = batch.stdout, 0, dest.resolve()
    for _, name, is_link in blobs:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split(b" ")[2])
        body = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1  # the content, then a line feed
        target = top / name
        if top not in target.parent.resolve().parents and target.parent.resolve() != top:
            continue  # a name git would not write ("..")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not is_link:
            target.write_bytes(body)
            continue
        link = body.decode("utf-8", "surrogateescape")
        if not link.startswith("/") and top in (target.parent / link).resolve().parents:
            target.symlink_to(link)


def temp_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="apigen-diff-")
