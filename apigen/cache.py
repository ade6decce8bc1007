"""A small on-disk cache for work that depends only on file contents and tool versions.

Used for what dominates a warm `apigen build`: the openapi-spec-validator run on an unchanged
document (only successes are remembered, so every error is always reported afresh) and Jinja2's
compiled templates. Location: ``$APIGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/apigen``, else
``~/.cache/apigen``; ``APIGEN_NO_CACHE=1`` turns it off. A cache that cannot be written is
silently skipped: it only ever saves time.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(part: str) -> Path | None:
    if os.environ.get("APIGEN_NO_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("APIGEN_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "apigen")
    path = Path(root) / part
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def has_marker(part: str, key: str) -> bool:
    directory = cache_dir(part)
    return directory is not None and (directory / key).is_file()


def put_marker(part: str, key: str) -> None:
    directory = cache_dir(part)
    if directory is None:
        return
    try:
        (directory / key).touch()
    except OSError:
        pass
