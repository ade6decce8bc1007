"""A small on-disk cache for work that depends only on file contents and tool versions.

Used for what dominates a warm `apigen build`: the openapi-spec-validator run on an unchanged
document (only successes are remembered, so every error is always reported afresh) and Jinja2's
compiled templates. Location: ``$APIGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/apigen``, else
``~/.cache/apigen``; ``APIGEN_NO_CACHE=1`` turns it off. A cache that cannot be written is
silently skipped: it only ever saves time.

Permissions, whatever the umask: the directories apigen creates are 0700 and its files 0600, and
a cache directory is used only when it belongs to the user running apigen and nobody else can
write to it. Jinja2 loads compiled templates from it as Python code, a validation marker makes
apigen skip checking a document, and a lint entry hides findings: anyone who can write there
could run code as the user or pass a broken document (found by a hunt: the directories were made
with the process umask). An unsafe directory is skipped like an unwritable one.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def cache_root() -> Path:
    root = os.environ.get("APIGEN_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "apigen")
    return Path(root)


def private_dir(path: Path) -> Path | None:
    """``path``, created (with its missing parents) 0700 if absent, when it is a directory of the
    current user that no one else can write to and that this process can write to; else None."""
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for directory in reversed(missing):
            directory.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(directory, DIR_MODE)  # mkdir's mode is masked by the umask
        st = path.stat()
    except OSError:
        return None
    if not hasattr(os, "geteuid"):  # not POSIX: no owners to check
        return path
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return path if os.access(path, os.W_OK) else None


def cache_dir(part: str) -> Path | None:
    if os.environ.get("APIGEN_NO_CACHE", "") not in ("", "0"):
        return None
    return private_dir(cache_root() / part)


def has_marker(part: str, key: str) -> bool:
    directory = cache_dir(part)
    return directory is not None and (directory / key).is_file()


def put_marker(part: str, key: str) -> None:
    directory = cache_dir(part)
    if directory is None:
        return
    try:
        os.close(os.open(directory / key, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    except OSError:
        pass
