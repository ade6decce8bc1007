"""A lint result cache keyed by the content digest of every input.

An entry is stored per policy file (by absolute path and apigen's own code fingerprint) and lists
every input file with its sha256: the policy file, each OpenAPI document and every file their
``$ref``s reach. A lookup re-hashes those files (milliseconds, even for megabyte specs) and
returns the stored findings only when all digests still match.

Location: ``$APIGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/apigen``, else ``~/.cache/apigen``; its
``lint`` directory is private to the user (see :mod:`apigen.cache`: 0700, entries 0600, skipped
when someone else could write to it). This module imports nothing from the compiler (apigen.cache
only uses os), so a hit costs a process start and a few reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from apigen.cache import cache_root, private_dir

FORMAT = 1
_PACKAGE = Path(__file__).resolve().parents[1]


def code_fingerprint() -> str:
    """Changes whenever apigen's code or schema changes (an upgrade, or an edit in a checkout)."""
    h = hashlib.sha256(str(FORMAT).encode())
    files = sorted(_PACKAGE.rglob("*.py"))
    for extra in (_PACKAGE / "schemas", _PACKAGE.parent / "schemas"):
        if extra.is_dir():
            files += sorted(extra.glob("*.json"))
    for f in files:
        st = f.stat()
        h.update(f"{f}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return h.hexdigest()


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _entry_path(policy: Path, variant: str) -> Path:
    key = hashlib.sha256(f"{policy.resolve()}\0{variant}\0{code_fingerprint()}".encode()).hexdigest()
    return cache_root() / "lint" / f"{key[:32]}.json"


def lookup(policy: Path, variant: str = "") -> Any | None:
    """The stored value for ``policy`` if no input changed since it was stored, else None."""
    entry = _entry_path(policy, variant)
    if private_dir(entry.parent) is None:
        return None  # someone else could have written the entry
    try:
        stored = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for path, digest in stored.get("inputs", []):
        if file_digest(Path(path)) != digest:
            return None
    return stored.get("value")


def store(policy: Path, inputs: list[Path], value: Any, variant: str = "") -> None:
    """Remember ``value`` for ``policy`` and its ``inputs``; failures to write are ignored."""
    digests = []
    for path in sorted({p.resolve() for p in [policy, *inputs]}):
        digest = file_digest(path)
        if digest is None:
            return  # an input vanished meanwhile: do not cache
        digests.append((str(path), digest))
    entry = _entry_path(policy, variant)
    if private_dir(entry.parent) is None:
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=".lint-", dir=entry.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"inputs": digests, "value": value}, fh)
        os.replace(tmp, entry)
    except OSError:
        pass
