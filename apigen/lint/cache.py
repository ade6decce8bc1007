"""A lint result cache keyed by the content digest of every input.

An entry is stored per policy file (by absolute path and apigen's own code fingerprint) and lists
every input file with its sha256: the policy file, each OpenAPI document and every file their
``$ref``s reach. A lookup re-hashes those files (milliseconds, even for megabyte specs) and
returns the stored findings only when all digests still match.

Inputs are kept as the compiler names them (``spec: openapi.yaml`` beside the policy), with the
file that name resolved to: a symbolic link on the way that now points elsewhere (a spec, a
``$ref``'d directory, a key file switched by ``ln -sfn``) is a change even when the old target is
untouched (found by a hunt: the old target's findings came back from the cache).

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

FORMAT = 2  # 2: inputs are [name, resolved file, digest]
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
    try:
        for name, resolved, digest in stored.get("inputs", []):
            if os.path.realpath(name) != resolved or file_digest(Path(resolved)) != digest:
                return None
    except (TypeError, ValueError):  # not an entry this version wrote
        return None
    return stored.get("value")


def store(policy: Path, inputs: list[Path], value: Any, variant: str = "") -> None:
    """Remember ``value`` for ``policy`` and its ``inputs`` (paths as the compiler opened them,
    symbolic links not resolved); failures to write are ignored."""
    digests = []
    for name in sorted({os.path.abspath(p) for p in [policy, *inputs]}):
        resolved = os.path.realpath(name)
        digest = file_digest(Path(resolved))
        if digest is None:
            return  # an input vanished meanwhile: do not cache
        digests.append((name, resolved, digest))
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
