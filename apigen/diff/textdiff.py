"""The files of a bundle directory, and a unified diff between two sets of them."""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from pathlib import Path

RUNTIME_DIRS = frozenset({"logs", "temp"})  # made by nginx at run time, never compared


def read_bundle_dir(root: Path) -> dict[str, str | None]:
    """``relative path -> text``; ``None`` for files whose content must not be shown (secrets,
    mode 0600, or not UTF-8)."""
    files: dict[str, str | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in RUNTIME_DIRS]
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            if stat.S_IMODE(path.stat().st_mode) & 0o077 == 0:
                files[rel] = None  # a secret: compare by digest, never print
                files[rel + "\0digest"] = _digest(path)
                continue
            try:
                files[rel] = path.read_bytes().decode("utf-8")  # as is: no newline translation
            except UnicodeDecodeError:
                files[rel] = None
                files[rel + "\0digest"] = _digest(path)
    return files


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fingerprint(files: dict[str, str | None], name: str) -> str | None:
    digest = files.get(name + "\0digest")
    if digest is not None:
        return digest
    text = files[name]
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None


def file_changes(old: dict[str, str | None], new: dict[str, str | None]) -> dict[str, list[str]]:
    names_old = {k for k in old if "\0" not in k}
    names_new = {k for k in new if "\0" not in k}
    changed = []
    for name in sorted(names_old & names_new):
        # By content whatever the mode: a deployed copy whose secrets were made group-readable
        # holds text on one side and a digest on the other (found by a hunt: always "changed").
        if _fingerprint(old, name) != _fingerprint(new, name):
            changed.append(name)
    return {
        "added": sorted(names_new - names_old),
        "removed": sorted(names_old - names_new),
        "changed": changed,
    }


def unified(old: dict[str, str | None], new: dict[str, str | None], old_label: str, new_label: str) -> str:
    out: list[str] = []
    changes = file_changes(old, new)
    for name in sorted(changes["added"] + changes["removed"] + changes["changed"]):
        a, b = old.get(name), new.get(name)
        if (name in old and a is None) or (name in new and b is None):
            out.append(f"Files {old_label}/{name} and {new_label}/{name} differ (content not shown)\n")
            continue
        out.extend(
            difflib.unified_diff(
                (a or "").splitlines(keepends=True),
                (b or "").splitlines(keepends=True),
                fromfile=f"{old_label}/{name}" if name in old else "/dev/null",
                tofile=f"{new_label}/{name}" if name in new else "/dev/null",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)
