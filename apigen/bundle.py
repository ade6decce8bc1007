"""The output bundle: relative path -> text, built in memory, written atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SECRET_MODE = 0o600


@dataclass
class Bundle:
    files: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # non-default file modes (secrets: 0600)
    dirs: set[str] = field(default_factory=set)  # empty runtime directories (logs/, temp/)

    def add(self, path: str, text: str, mode: int | None = None) -> None:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            raise ValueError(f"bundle path escapes the bundle: {path}")
        if path in self.files:
            raise ValueError(f"bundle path written twice: {path}")
        self.files[path] = text
        if mode is not None:
            self.modes[path] = mode

    def add_dir(self, path: str) -> None:
        self.dirs.add(path)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self.files.items()))

    def digest(self) -> str:
        h = hashlib.sha256()
        for path, text in self:
            h.update(path.encode() + b"\0" + text.encode() + b"\0")
        return h.hexdigest()

    def write_tree(self, root: Path) -> None:
        """Write into an empty directory ``root`` (no atomicity: see :func:`write_atomic`)."""
        for d in sorted(self.dirs):
            (root / d).mkdir(parents=True, exist_ok=True)
        for path, text in self:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.chmod(target, self.modes.get(path, 0o644))


def write_atomic(bundle: Bundle, out_dir: Path, verify=None) -> None:
    """Replace ``out_dir`` as a whole: write a sibling temporary directory, optionally verify it,
    then swap it in with renames. On any failure the previous ``out_dir`` is left untouched."""
    out_dir = out_dir.absolute()
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=parent))
    try:
        os.chmod(tmp, 0o755)
        bundle.write_tree(tmp)
        if verify is not None:
            verify(tmp)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
            old.rmdir()
            os.rename(out_dir, old)
            try:
                os.rename(tmp, out_dir)
            except BaseException:
                os.rename(old, out_dir)  # put the previous bundle back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
